import { SESSION } from '../../projections/sessions/sessions';
import { WORKER } from '../../projections/workers/workers';
import { given, sessionClosed, sessionHeartbeat, sessionOpened, T0, tick, workerRegistered } from '../support/given';

const at = (ms: number) => ({ timestampMs: T0 + ms });

describe('sessions', () => {
  it('opens a session as OPEN at the log time of the event', () =>
    given([])
      .when(sessionOpened('s1'))
      .thenField(SESSION, 's1', 'state', 'OPEN')
      .thenField(SESSION, 's1', 'lastHeartbeatMs', T0));

  it('never reopens a session id that was used before', () =>
    given([sessionOpened('s1'), sessionClosed('s1', at(1_000))])
      .when(sessionOpened('s1', at(2_000)))
      .thenChanges(0)
      .thenField(SESSION, 's1', 'state', 'CLOSED'));

  it('moves the last heartbeat forward, never back', () =>
    given([sessionOpened('s1'), sessionHeartbeat('s1', at(5_000))])
      .when(sessionHeartbeat('s1', at(3_000)))
      .thenChanges(0)
      .thenField(SESSION, 's1', 'lastHeartbeatMs', T0 + 5_000));

  it('closes an open session', () =>
    given([sessionOpened('s1')])
      .when(sessionClosed('s1', at(1_000)))
      .thenField(SESSION, 's1', 'state', 'CLOSED'));

  it('ignores a heartbeat of a closed session', () =>
    given([sessionOpened('s1'), sessionClosed('s1')])
      .when(sessionHeartbeat('s1', at(1_000)))
      .thenChanges(0));

  describe('in the check loop', () => {
    it('expires a session silent for the tick’s sessionTimeoutMs', () =>
      given([sessionOpened('s1')])
        .when(tick(T0 + 30_000))
        .thenField(SESSION, 's1', 'state', 'EXPIRED'));

    it('keeps a session that heartbeated within the timeout', () =>
      given([sessionOpened('s1'), sessionHeartbeat('s1', at(20_000))])
        .when(tick(T0 + 30_000))
        .thenChanges(0)
        .thenField(SESSION, 's1', 'state', 'OPEN'));

    it('checks workers and sessions at the same instant of one tick', () =>
      given([sessionOpened('s1'), workerRegistered('w1')])
        .when(tick(T0 + 30_000))
        .thenChanges(2)
        .thenField(SESSION, 's1', 'state', 'EXPIRED')
        .thenField(WORKER, 'w1', 'state', 'DEAD'));
  });
});
