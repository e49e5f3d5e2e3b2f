import { strict as assert } from 'node:assert';
import { READ_HOLD } from '../../projections/model';
import { LOGICAL_BITS } from '../../projections/system/hybrid';
import {
  acquireReadHold,
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  describeCoordinator,
  dropLogicalSource,
  field,
  fragmentReports,
  getLogicalSource,
  getPhysicalSource,
  getQuery,
  getSink,
  given,
  listLogicalSources,
  listQueries,
  listReadHolds,
  releaseReadHold,
  startQuery,
  stopQuery,
  T0,
  tick,
  workerHeartbeat,
  workerRegistered,
  type TickOptions,
} from '../support/given';

const at = (ms: number) => ({ timestampMs: T0 + ms });

/** The hybrid timestamp of the first snapshot at log time T0 + `ms`. */
const ts = (ms: number): bigint => BigInt(T0 + ms) << LOGICAL_BITS;

const v1 = [field('id')];
const v2 = [field('id'), field('speed', 'double')];
const v1Payload = { type: 'coord.v1.LogicalSource', value: { name: 'cars', fields: [{ name: 'id', type: 'string' }] } };
const v2Payload = { type: 'coord.v1.LogicalSource', value: { name: 'cars', fields: [{ name: 'id', type: 'string' }, { name: 'speed', type: 'double' }] } };

// cars is created with v1 at T0, dropped at T0 + 100 ms and created again with v2 at T0 + 200 ms.
const versions = [
  createLogicalSource('cars', v1, { ...at(0), correlationId: 'create-v1' }),
  dropLogicalSource('cars', at(100)),
  createLogicalSource('cars', v2, { ...at(200), correlationId: 'create-v2' }),
];

/** A Tick with a history retention of 1 s, the liveness thresholds out of the way. */
const compact = (ms: number, opts: TickOptions = {}) => tick(T0 + ms, { historyRetentionMs: 1_000, suspectMs: 600_000, timeoutMs: 600_000, sessionTimeoutMs: 600_000, ...opts });

describe('reads asOf an earlier snapshot', () => {
  it('reads the version of a logical source as of an earlier snapshot', () =>
    given(versions)
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(300) }))
      .thenReplies('OK')
      .thenPayload(v1Payload));

  it('reads the current version without asOf', () =>
    given(versions)
      .when(getLogicalSource('cars', at(300)))
      .thenPayload(v2Payload));

  it('reads a later asOf as the newest version at or before it', () =>
    given(versions)
      .when(getLogicalSource('cars', { asOfTs: ts(250), ...at(300) }))
      .thenPayload(v2Payload));

  it('replies NOT_FOUND as of a snapshot at which the source was dropped', () =>
    given(versions)
      .when(getLogicalSource('cars', { asOfTs: ts(150), ...at(300) }))
      .thenReplies('NOT_FOUND', 'cars'));

  it('replies NOT_FOUND as of a snapshot before the source was created', () =>
    given(versions)
      .when(getLogicalSource('cars', { asOfTs: ts(0) - 1n, ...at(300) }))
      .thenReplies('NOT_FOUND'));

  it('lists the logical sources as of an earlier snapshot', () => {
    const t = given([...versions, createLogicalSource('bikes', v1, at(300))]).when(listLogicalSources({ asOfTs: ts(250), ...at(400) }));
    assert.deepStrictEqual(
      (t.decision.reply?.payload?.value.logicalSources as { name: string }[]).map((s) => s.name),
      ['cars'],
    );
  });

  it('reads a query as it was before it started', () =>
    given([
      workerRegistered('w1'),
      createLogicalSource('cars'),
      createPhysicalSource('cars-w1', 'cars', 'w1'),
      createSink('out'),
      createQuery('q1', at(100)),
      startQuery('q1', at(200)),
      ...fragmentReports('q1', 2, 'RUNNING'),
    ])
      .when(getQuery('q1', { asOfTs: ts(150), ...at(300) }))
      .thenPayloadFields('coord.v1.Query', { state: 'CREATED', fragments: [] }));

  it('lists the queries as of an earlier snapshot', () => {
    const t = given([createLogicalSource('cars'), createSink('out'), createQuery('q1', at(100)), createQuery('q2', at(200))]).when(listQueries({ asOfTs: ts(150), ...at(300) }));
    assert.deepStrictEqual(
      (t.decision.reply?.payload?.value.queries as { name: string }[]).map((q) => q.name),
      ['q1'],
    );
  });

  it('reads a sink as of an earlier snapshot', () =>
    given([createSink('out', { type: 'print', ...at(0) })])
      .when(getSink('out', { asOfTs: ts(0) - 1n, ...at(100) }))
      .thenReplies('NOT_FOUND'));

  it('reads a physical source as available before its worker died', () =>
    given([workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), workerHeartbeat('w2', at(14_000)), tick(T0 + 15_000)])
      .when(getPhysicalSource('cars-w1', { asOfTs: ts(1_000), ...at(15_100) }))
      .thenPayloadFields('coord.v1.PhysicalSource', { available: true }));

  it('reads the working state when asOf is the snapshot being applied', () =>
    given(versions)
      .when(getLogicalSource('cars', { asOfTs: ts(300), ...at(300) }))
      .thenPayload(v2Payload));

  it('refuses an asOf after the snapshot being applied with INVALID_ARGUMENT', () =>
    given(versions)
      .when(getLogicalSource('cars', { asOfTs: ts(10_000), ...at(300) }))
      .thenReplies('INVALID_ARGUMENT', 'cannot see the future'));

  it('refuses an asOf below the compaction frontier with FAILED_PRECONDITION, naming the frontier', () =>
    given([...versions, compact(5_000)])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(5_000) }))
      .thenReplies('FAILED_PRECONDITION', 'below the compaction frontier', ts(4_000).toString()));

  it('keeps refusing reads below what was compacted after historyRetentionMs is raised', () =>
    given([...versions, compact(5_000), compact(5_100, { historyRetentionMs: 600_000 })])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(5_200) }))
      .thenReplies('FAILED_PRECONDITION', 'below the compaction frontier'));

  it('reads within historyRetentionMs after a compaction', () =>
    given([...versions, compact(1_150)])
      .when(getLogicalSource('cars', { asOfTs: ts(150), ...at(1_150) }))
      .thenReplies('NOT_FOUND'));

  it('keeps the history for the retention the ticks carry, 10 minutes by default', () =>
    given([...versions, tick(T0 + 5_000, { suspectMs: 600_000, timeoutMs: 600_000 })])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(5_000) }))
      .thenPayload(v1Payload));
});

describe('read holds', () => {
  it('acquires a hold on an earlier snapshot: OK with the hold as payload', () =>
    given(versions)
      .when(acquireReadHold('h', { asOfTs: ts(0), leaseMs: 60_000n, ...at(300) }))
      .thenReplies('OK')
      .thenPayload({ type: 'coord.v1.ReadHold', value: { name: 'h', ts: ts(0), expiresAtMs: BigInt(T0 + 60_300), owner: null } }));

  it('holds the snapshot being applied when no asOf is given', () => {
    const t = given(versions).when(acquireReadHold('h', at(300)));
    t.thenField(READ_HOLD, 'h', 'ts', t.ctx.snapshotTs.toString());
  });

  it('keeps history readable past historyRetentionMs while the hold lasts', () =>
    given([...versions, acquireReadHold('h', { asOfTs: ts(0), ...at(300) }), compact(5_000)])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(5_000) }))
      .thenReplies('OK')
      .thenPayload(v1Payload));

  it('lowers the compaction frontier to the oldest hold', () => {
    const t = given([...versions, acquireReadHold('h', { asOfTs: ts(100), ...at(300) }), compact(5_000)]).when(listReadHolds(at(5_000)));
    assert.equal(t.decision.reply?.payload?.value.frontierTs, ts(100));
  });

  it('lets the history go once the hold is released', () =>
    given([...versions, acquireReadHold('h', { asOfTs: ts(0), ...at(300) }), releaseReadHold('h', at(400)), compact(5_000)])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(5_000) }))
      .thenReplies('FAILED_PRECONDITION', 'compaction frontier'));

  it('drops a hold whose lease lapsed on the next tick', () =>
    given([...versions, acquireReadHold('h', { asOfTs: ts(0), leaseMs: 2_000n, ...at(300) })])
      .when(compact(2_300))
      .thenState(READ_HOLD, 'h', undefined));

  it('lets the history go once the hold lapsed', () =>
    given([...versions, acquireReadHold('h', { asOfTs: ts(0), leaseMs: 2_000n, ...at(300) }), compact(5_000)])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(5_000) }))
      .thenReplies('FAILED_PRECONDITION'));

  it('renews a hold acquired again under its name, keeping its timestamp', () =>
    given([...versions, acquireReadHold('h', { asOfTs: ts(0), leaseMs: 2_000n, ...at(300) })])
      .when(acquireReadHold('h', { leaseMs: 2_000n, ...at(1_500) }))
      .thenReplies('OK')
      .thenState(READ_HOLD, 'h', { name: 'h', ts: ts(0).toString(), expiresAtMs: T0 + 3_500 }));

  it('keeps history readable for as long as the hold is renewed', () =>
    given([
      ...versions,
      acquireReadHold('h', { asOfTs: ts(0), leaseMs: 2_000n, ...at(300), correlationId: 'a1' }),
      compact(1_500),
      acquireReadHold('h', { leaseMs: 2_000n, ...at(1_600), correlationId: 'a2' }),
      compact(3_000),
    ])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(3_000) }))
      .thenPayload(v1Payload));

  it('refuses a hold below the compaction frontier with FAILED_PRECONDITION', () =>
    given([...versions, compact(5_000)])
      .when(acquireReadHold('h', { asOfTs: ts(0), ...at(5_000) }))
      .thenReplies('FAILED_PRECONDITION', 'below the compaction frontier')
      .thenChanges(0));

  it('refuses a hold below the compaction frontier even when the request’s own log time is older than the tick that compacted', () =>
    given([...versions, compact(5_000)])
      .when(acquireReadHold('late', { asOfTs: ts(0), ...at(300) }))
      .thenReplies('FAILED_PRECONDITION', 'below the compaction frontier')
      .thenChanges(0));

  it('refuses a hold after the snapshot being applied with INVALID_ARGUMENT', () =>
    given(versions)
      .when(acquireReadHold('h', { asOfTs: ts(10_000), ...at(300) }))
      .thenReplies('INVALID_ARGUMENT', 'after the current snapshot'));

  it('refuses a hold without a name', () =>
    given(versions)
      .when(acquireReadHold(''))
      .thenReplies('INVALID_ARGUMENT', 'needs a name'));

  for (const leaseMs of [0n, -5n, 86_400_001n])
    it(`refuses a lease of ${leaseMs} ms`, () =>
      given(versions)
        .when(acquireReadHold('h', { leaseMs, ...at(300) }))
        .thenReplies('INVALID_ARGUMENT', 'leaseMs must be between 1 and 86400000'));

  it('accepts a lease of a day', () =>
    given(versions)
      .when(acquireReadHold('h', { leaseMs: 86_400_000n, ...at(300) }))
      .thenReplies('OK'));

  it('releases a hold', () =>
    given([...versions, acquireReadHold('h', at(300))])
      .when(releaseReadHold('h', at(400)))
      .thenReplies('OK', 'h')
      .thenState(READ_HOLD, 'h', undefined));

  it('replies NOT_FOUND to the release of a hold that does not exist', () =>
    given(versions)
      .when(releaseReadHold('ghost'))
      .thenReplies('NOT_FOUND', 'ghost'));

  it('lists the holds with the frontier', () => {
    const t = given([...versions, acquireReadHold('a', { asOfTs: ts(100), ...at(300) }), acquireReadHold('b', at(300))]).when(listReadHolds(at(400)));
    t.thenReplies('OK', '2 read holds');
    assert.deepStrictEqual(
      (t.decision.reply?.payload?.value.holds as { name: string }[]).map((h) => h.name),
      ['a', 'b'],
    );
  });
});

describe('system: DescribeCoordinator', () => {
  const twoQueries = [workerRegistered('w1'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), createQuery('q1'), createQuery('q2'), startQuery('q1'), startQuery('q2')];

  it('counts the slots in use and those cached', () => {
    const t = given([...twoQueries, stopQuery('q2'), ...fragmentReports('q2', 2, 'STOPPED')]).when(describeCoordinator());
    t.thenReplies('OK').thenPayloadFields('coord.v1.CoordinatorInfo', { allocationsInUse: 2, allocationsCached: 0, queries: 2, workers: 1 });
  });

  it('counts as in use the slots of fragments whose workers have not yet confirmed they stopped', () =>
    given([...twoQueries, stopQuery('q2')])
      .when(describeCoordinator())
      .thenPayloadFields('coord.v1.CoordinatorInfo', { allocationsInUse: 4, allocationsCached: 0 }));

  it('says the snapshot it answers from', () => {
    const t = given(versions).when(describeCoordinator(at(300)));
    t.thenPayloadFields('coord.v1.CoordinatorInfo', { snapshotId: t.ctx.snapshotId, snapshotTs: t.ctx.snapshotTs, logTimeMs: BigInt(T0 + 300) });
  });
});
