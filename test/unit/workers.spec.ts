import { WORKER } from '../../projections/workers/workers';
import { given, T0, tick, workerDeregistered, workerDraining, workerHeartbeat, workerRegistered, workerStatistics } from '../support/given';

const at = (ms: number) => ({ timestampMs: T0 + ms });

describe('workers', () => {
  describe('registration', () => {
    it('registers a worker as ACTIVE with its slots, host and sorted capabilities', () =>
      given([])
        .when(workerRegistered('w1', { slots: 8, capabilities: ['gpu', 'arm'] }))
        .thenField(WORKER, 'w1', 'state', 'ACTIVE')
        .thenField(WORKER, 'w1', 'slots', 8)
        .thenField(WORKER, 'w1', 'capabilities', ['arm', 'gpu'])
        .thenField(WORKER, 'w1', 'lastHeartbeatMs', T0));

    it('lets a new incarnation replace the old one, fencing the old one’s reports', () =>
      given([workerRegistered('w1', { incarnation: 'old' }), workerRegistered('w1', { incarnation: 'new', ...at(1_000) })])
        .when(workerHeartbeat('w1', { incarnation: 'old', ...at(9_000) }))
        .thenChanges(0)
        .thenField(WORKER, 'w1', 'incarnation', 'new')
        .thenField(WORKER, 'w1', 'lastHeartbeatMs', T0 + 1_000));

    it('brings a DEAD worker back when it registers again', () =>
      given([workerRegistered('w1'), tick(T0 + 20_000)])
        .when(workerRegistered('w1', { incarnation: 'i2', ...at(21_000) }))
        .thenField(WORKER, 'w1', 'state', 'ACTIVE'));
  });

  describe('reports', () => {
    it('moves the last heartbeat forward by log time', () =>
      given([workerRegistered('w1')])
        .when(workerHeartbeat('w1', at(3_000)))
        .thenField(WORKER, 'w1', 'lastHeartbeatMs', T0 + 3_000));

    it('never moves the last heartbeat back', () =>
      given([workerRegistered('w1'), workerHeartbeat('w1', at(3_000))])
        .when(workerHeartbeat('w1', at(1_000)))
        .thenField(WORKER, 'w1', 'lastHeartbeatMs', T0 + 3_000));

    it('ignores a heartbeat of a worker it does not know', () =>
      given([])
        .when(workerHeartbeat('ghost'))
        .thenChanges(0)
        .thenState(WORKER, 'ghost', undefined));

    it('keeps the latest statistics, and counts them as a heartbeat', () =>
      given([workerRegistered('w1')])
        .when(workerStatistics('w1', { cpu: 0.5, memoryBytes: 1024 }, at(2_000)))
        .thenField(WORKER, 'w1', 'statistics', { cpu: 0.5, memoryBytes: 1024 })
        .thenField(WORKER, 'w1', 'lastHeartbeatMs', T0 + 2_000));

    it('marks a draining worker DRAINING', () =>
      given([workerRegistered('w1')])
        .when(workerDraining('w1', at(1_000)))
        .thenField(WORKER, 'w1', 'state', 'DRAINING'));

    it('marks a deregistered worker DEREGISTERED, after which its heartbeats change nothing', () =>
      given([workerRegistered('w1'), workerDeregistered('w1', at(1_000))])
        .when(workerHeartbeat('w1', at(2_000)))
        .thenChanges(0)
        .thenField(WORKER, 'w1', 'state', 'DEREGISTERED'));
  });

  describe('the check loop on ticks', () => {
    it('leaves a worker that spoke recently ACTIVE', () =>
      given([workerRegistered('w1'), workerHeartbeat('w1', at(4_000))])
        .when(tick(T0 + 8_000))
        .thenChanges(0)
        .thenField(WORKER, 'w1', 'state', 'ACTIVE'));

    it('makes a worker silent for workerSuspectMs SUSPECT', () =>
      given([workerRegistered('w1')])
        .when(tick(T0 + 5_000))
        .thenField(WORKER, 'w1', 'state', 'SUSPECT'));

    it('makes a SUSPECT worker ACTIVE again when it speaks', () =>
      given([workerRegistered('w1'), tick(T0 + 6_000)])
        .when(workerHeartbeat('w1', at(7_000)))
        .thenField(WORKER, 'w1', 'state', 'ACTIVE'));

    it('makes a worker silent for workerTimeoutMs DEAD', () =>
      given([workerRegistered('w1'), tick(T0 + 6_000)])
        .when(tick(T0 + 15_000))
        .thenField(WORKER, 'w1', 'state', 'DEAD'));

    it('declares a worker DEAD once: later ticks change nothing', () =>
      given([workerRegistered('w1'), tick(T0 + 16_000)])
        .when(tick(T0 + 30_000))
        .thenChanges(0));

    it('uses the thresholds the tick carries, not ones of its own', () =>
      given([workerRegistered('w1')])
        .when(tick(T0 + 2_000, { suspectMs: 1_000, timeoutMs: 1_500 }))
        .thenField(WORKER, 'w1', 'state', 'DEAD'));

    it('keeps a silent DRAINING worker DRAINING until it times out', () =>
      given([workerRegistered('w1'), workerDraining('w1')])
        .when(tick(T0 + 6_000))
        .thenChanges(0)
        .thenField(WORKER, 'w1', 'state', 'DRAINING'));
  });
});
