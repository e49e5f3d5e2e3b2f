import { QUERY } from '../../projections/model';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  fragmentReport,
  fragmentReports,
  given,
  REPLY_TO,
  sessionOpened,
  startQuery,
  stopQuery,
  T0,
  tick,
  workerRegistered,
  type TickOptions,
} from '../support/given';

const at = (ms: number) => ({ timestampMs: T0 + ms });

/** A Tick that declares nobody dead: these specs are about slots, not liveness. */
const settle = (ms: number, opts: TickOptions = {}) => tick(T0 + ms, { suspectMs: 600_000, timeoutMs: 600_000, sessionTimeoutMs: 600_000, ...opts });

// One worker with two slots: a query on cars (a source fragment and a sink) fills it.
const world = [workerRegistered('w1', { slots: 2 }), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), sessionOpened('s1'), sessionOpened('s2')];
const queries = [createQuery('q1', { session: 's1' }), createQuery('q2', { session: 's1' }), createQuery('other', { session: 's2' }), createQuery('free')];
const q1Running = [...world, ...queries, startQuery('q1', { correlationId: 'start-q1' }), ...fragmentReports('q1', 2, 'RUNNING')];
const q1Stopped = [...q1Running, stopQuery('q1', at(1_000))];
/** w1 confirms both of q1's fragments stopped, a second after the stop. */
const q1Confirmed = [...q1Stopped, fragmentReport('q1', 0, 'STOPPED', at(2_000)), fragmentReport('q1', 1, 'STOPPED', at(2_000))];

describe('queries: slots', () => {
  it('refuses a start with RESOURCE_EXHAUSTED when the worker has no free slot, naming it', () =>
    given(q1Running)
      .when(startQuery('other'))
      .thenReplies('RESOURCE_EXHAUSTED', 'worker w1 has no free slot')
      .thenChanges(0)
      .thenCommands([]));

  it('leaves the slots as they were when it refuses a start', () =>
    given(q1Running)
      .when(startQuery('other'))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false },
        { workerId: 'w1', session: 's1', cached: false },
      ]));

  it('refuses a start with RESOURCE_EXHAUSTED once the deployment holds maxAllocations slots', () =>
    given([settle(0, { maxAllocations: 3 }), workerRegistered('w2', { slots: 8 }), ...q1Running])
      .when(startQuery('other'))
      .thenReplies('RESOURCE_EXHAUSTED', 'maxAllocations 3')
      .thenChanges(0)
      .thenCommands([]));

  it('starts within maxAllocations', () =>
    given([settle(0, { maxAllocations: 4 }), workerRegistered('w2', { slots: 8 }), ...q1Running])
      .when(startQuery('other'))
      .thenNoReply()
      .thenField(QUERY, 'other', 'state', 'DEPLOYING'));

  it('keeps a stopped fragment’s slot taken until its worker confirms it stopped', () =>
    given(q1Running)
      .when(stopQuery('q1', at(1_000)))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'CACHE' },
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'CACHE' },
      ]));

  it('refuses a start with RESOURCE_EXHAUSTED while the worker’s slots are still being released', () =>
    given(q1Stopped)
      .when(startQuery('q2'))
      .thenReplies('RESOURCE_EXHAUSTED', 'worker w1 has no free slot')
      .thenChanges(0)
      .thenCommands([]));

  it('keeps a slot waiting for its worker’s confirmation however long that takes', () =>
    given([settle(0, { allocationIdleMs: 10_000 }), ...q1Stopped])
      .when(settle(500_000, { allocationIdleMs: 10_000 }))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'CACHE' },
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'CACHE' },
      ]));

  it('gives the slots back when the worker confirms a query without a session stopped', () =>
    given([...world, ...queries, startQuery('free'), ...fragmentReports('free', 2, 'RUNNING'), stopQuery('free'), fragmentReport('free', 0, 'STOPPED')])
      .when(fragmentReport('free', 1, 'STOPPED'))
      .thenAllocations([]));
});

describe('queries: the session’s cache of slots', () => {
  it('moves a stopped fragment’s slot to its session’s cache when the worker reports it STOPPED', () =>
    given(q1Stopped)
      .when(fragmentReport('q1', 0, 'STOPPED', at(2_000)))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: true },
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'CACHE' },
      ]));

  it('keeps a stopped query’s slots cached for its session once its worker confirms every fragment', () =>
    given([...q1Stopped, fragmentReport('q1', 0, 'STOPPED', at(2_000))])
      .when(fragmentReport('q1', 1, 'STOPPED', at(2_000)))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: true },
        { workerId: 'w1', session: 's1', cached: true },
      ]));

  it('caches a stopped fragment’s slot when its worker reports it FAILED instead of STOPPED', () =>
    given(q1Stopped)
      .when(fragmentReport('q1', 0, 'FAILED', { reason: 'crashed while stopping', ...at(2_000) }))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: true },
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'CACHE' },
      ]));

  it('reuses the session’s cached slots for its next start, and says how many', () =>
    given(q1Confirmed)
      .when(startQuery('q2'))
      .thenNoReply()
      .thenField(QUERY, 'q2', 'reused', 2)
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false },
        { workerId: 'w1', session: 's1', cached: false },
      ]));

  it('reports the reused slots in the OK answer', () =>
    given([...q1Confirmed, startQuery('q2', { correlationId: 'start-q2' }), fragmentReport('q2', 0, 'RUNNING')])
      .when(fragmentReport('q2', 1, 'RUNNING'))
      .thenAnswer('start-q2', 'OK', REPLY_TO, '2 slots reused'));

  it('reuses the cached slots when the same query starts again', () =>
    given(q1Confirmed)
      .when(startQuery('q1', { correlationId: 'start-q1-again' }))
      .thenField(QUERY, 'q1', 'reused', 2));

  it('does not count another session’s cached slots as reused, but reclaims them rather than refuse', () =>
    given(q1Confirmed)
      .when(startQuery('other'))
      .thenNoReply()
      .thenField(QUERY, 'other', 'reused', 0)
      .thenAllocations([
        { workerId: 'w1', session: 's2', cached: false },
        { workerId: 'w1', session: 's2', cached: false },
      ]));

  it('reclaims cached slots before refusing a start at maxAllocations', () =>
    given([settle(0, { maxAllocations: 2 }), workerRegistered('w2', { slots: 8 }), ...q1Confirmed])
      .when(startQuery('other'))
      .thenNoReply()
      .thenField(QUERY, 'other', 'state', 'DEPLOYING'));

  it('caches at most maxCachedAllocations slots of a session, releasing the rest', () =>
    given([settle(0, { maxCachedAllocations: 1 }), ...q1Stopped, fragmentReport('q1', 0, 'STOPPED', at(2_000))])
      .when(fragmentReport('q1', 1, 'STOPPED', at(2_000)))
      .thenAllocations([{ workerId: 'w1', session: 's1', cached: true }]));

  it('counts the slots a session already has cached against maxCachedAllocations', () =>
    given([
      settle(0, { maxCachedAllocations: 2 }),
      workerRegistered('w1', { slots: 4 }),
      ...world.slice(1),
      ...queries,
      startQuery('q1', { correlationId: 'start-q1' }),
      startQuery('q2', { correlationId: 'start-q2' }),
      stopQuery('q1', at(1_000)),
      ...fragmentReports('q1', 2, 'STOPPED'),
      stopQuery('q2', at(2_000)),
      fragmentReport('q2', 0, 'STOPPED'),
    ])
      .when(fragmentReport('q2', 1, 'STOPPED'))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: true },
        { workerId: 'w1', session: 's1', cached: true },
      ]));

  it('keeps cached slots until allocationIdleMs of log time have passed since the worker confirmed the stop', () =>
    given([settle(0, { allocationIdleMs: 10_000 }), ...q1Confirmed])
      .when(settle(11_999, { allocationIdleMs: 10_000 }))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: true },
        { workerId: 'w1', session: 's1', cached: true },
      ]));

  it('releases cached slots on the first tick allocationIdleMs after the worker confirmed the stop', () =>
    given([settle(0, { allocationIdleMs: 10_000 }), ...q1Confirmed])
      .when(settle(12_000, { allocationIdleMs: 10_000 }))
      .thenAllocations([]));

  it('counts a cached slot’s idle time from the log time of the confirmation, not from an older stamp on the report', () =>
    given([settle(0, { allocationIdleMs: 10_000 }), ...q1Running, stopQuery('q1', at(5_000)), ...fragmentReports('q1', 2, 'STOPPED')]) // stamped T0, applied at T0 + 5 s
      .when(settle(14_999, { allocationIdleMs: 10_000 }))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: true },
        { workerId: 'w1', session: 's1', cached: true },
      ]));

  it('leaves slots in use alone however long they are held', () =>
    given([settle(0, { allocationIdleMs: 10_000 }), ...q1Running])
      .when(settle(500_000, { allocationIdleMs: 10_000 }))
      .thenChanges(0));
});
