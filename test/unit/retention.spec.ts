import { strict as assert } from 'node:assert';
import { handlerTable, type Handler, type Message } from '../../projections';
import { ALLOCATION, each, PHYSICAL_SOURCE, QUERY, SESSION, WORKER, type AllocationImage, type SessionImage, type WorkerImage } from '../../projections/model';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  fragmentReports,
  given,
  sessionClosed,
  sessionHeartbeat,
  sessionOpened,
  startQuery,
  stopQuery,
  T0,
  tick,
  workerDeregistered,
  workerHeartbeat,
  workerRegistered,
} from '../support/given';

const at = (ms: number) => ({ timestampMs: T0 + ms });

/** A minute of retention, so a spec reaches it without a day of ticks; every history begins with a tick that sets it. */
const RETENTION = 60_000;
const tickAt = (ms: number) => tick(T0 + ms, { goneRetentionMs: RETENTION });

/** w1 falls silent after T0 and is declared DEAD by the tick at 15 s (the default workerTimeoutMs). */
const w1Dead = [tickAt(0), workerRegistered('w1'), tickAt(15_000)];

/**
 * A handler that writes an image as a coordinator before `goneAtMs` was kept would have written
 * it: the state of an older store, which the removal must still handle.
 */
const LEGACY = 'test.v0.LegacyImage';
const legacyHandlers = new Map<string, Handler<never>>([
  ...handlerTable(),
  [LEGACY, { stage: 'infrastructure', decide: (msg: Message<{ entity: string; key: string; image: never }>) => ({ changes: [msg.value], reply: null }) } as Handler<never>],
]);
const legacy = (entity: string, key: string, image: object): Message<unknown> => ({
  type: LEGACY,
  value: { entity, key, image },
  key,
  correlationId: undefined,
  timestampMs: T0,
});

describe('retention of gone workers', () => {
  it('records the log time at which a worker is declared DEAD', () =>
    given([tickAt(0), workerRegistered('w1')])
      .when(tickAt(15_000))
      .thenField(WORKER, 'w1', 'goneAtMs', T0 + 15_000));

  it('records the log time at which a worker deregisters', () =>
    given([tickAt(0), workerRegistered('w1')])
      .when(workerDeregistered('w1', at(2_000)))
      .thenField(WORKER, 'w1', 'goneAtMs', T0 + 2_000));

  it('keeps a DEAD worker until goneRetentionMs of log time have passed since it went', () =>
    given(w1Dead)
      .when(tickAt(15_000 + RETENTION - 1))
      .thenChanges(0)
      .thenField(WORKER, 'w1', 'state', 'DEAD'));

  it('removes a DEAD worker once goneRetentionMs of log time have passed since it went', () =>
    given(w1Dead)
      .when(tickAt(15_000 + RETENTION))
      .thenChanges([{ entity: WORKER, key: 'w1', image: null }]));

  it('removes a DEREGISTERED worker goneRetentionMs after its deregistration', () =>
    given([tickAt(0), workerRegistered('w1'), workerDeregistered('w1', at(2_000))])
      .when(tickAt(2_000 + RETENTION))
      .thenState(WORKER, 'w1', undefined));

  it('removes a gone worker once: later ticks change nothing', () =>
    given([...w1Dead, tickAt(15_000 + RETENTION)])
      .when(tickAt(15_000 + 2 * RETENTION))
      .thenChanges(0));

  it('removes the same workers in the same order on a replay of the same log', () => {
    const history = [tickAt(0), workerRegistered('w2'), workerRegistered('w1'), workerDeregistered('w2', at(1_000)), tickAt(15_000)];
    const first = given(history).when(tickAt(15_000 + RETENTION));
    const again = given(history).when(tickAt(15_000 + RETENTION));
    assert.deepStrictEqual(first.decision, again.decision);
    first.thenChanges([
      { entity: WORKER, key: 'w1', image: null },
      { entity: WORKER, key: 'w2', image: null },
    ]);
  });

  it('never removes a worker that is alive, however long ago it registered', () =>
    given([tickAt(0), workerRegistered('w1'), workerHeartbeat('w1', at(2 * RETENTION))])
      .when(tickAt(2 * RETENTION + 1_000))
      .thenChanges(0)
      .thenField(WORKER, 'w1', 'state', 'ACTIVE'));

  it('dates a gone worker written before goneAtMs was kept by its last heartbeat', () => {
    const image: WorkerImage = { workerId: 'w1', incarnation: 'i1', host: 'w1.local', slots: 4, capabilities: [], state: 'DEAD', lastHeartbeatMs: T0, registeredAtTs: '1', statistics: null, goneAtMs: null };
    const { goneAtMs: _, ...old } = image;
    return given([tickAt(0), legacy(WORKER, 'w1', old)], legacyHandlers)
      .when(tickAt(RETENTION))
      .thenState(WORKER, 'w1', undefined);
  });

  it('registers a removed worker id afresh: ACTIVE with its new incarnation', () =>
    given([...w1Dead, tickAt(15_000 + RETENTION)])
      .when(workerRegistered('w1', { incarnation: 'i2', ...at(16_000 + RETENTION) }))
      .thenField(WORKER, 'w1', 'state', 'ACTIVE')
      .thenField(WORKER, 'w1', 'incarnation', 'i2')
      .thenField(WORKER, 'w1', 'goneAtMs', null));

  // Nothing remembers a removed worker, so nothing fences its old incarnation: a process that
  // registers again after goneRetentionMs is taken at its word.
  it('registers again the incarnation a removed worker had', () =>
    given([...w1Dead, tickAt(15_000 + RETENTION)])
      .when(workerRegistered('w1', at(16_000 + RETENTION)))
      .thenField(WORKER, 'w1', 'state', 'ACTIVE'));

  it('makes the physical sources of a removed worker available again when it registers afresh', () =>
    given([tickAt(0), workerRegistered('w1'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), tickAt(15_000), tickAt(15_000 + RETENTION)])
      .when(workerRegistered('w1', { incarnation: 'i2', ...at(16_000 + RETENTION) }))
      .thenField(PHYSICAL_SOURCE, 'cars-w1', 'available', true));

  it('leaves no slot and no live fragment on a removed worker', () => {
    // q1 reads cars on w1 and writes on w2; w1 dies while q1 runs and is removed a minute later.
    const world = [workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out')];
    const t = given([
      tickAt(0),
      ...world,
      createQuery('q1'),
      startQuery('q1'),
      ...fragmentReports('q1', 2, 'RUNNING'),
      workerHeartbeat('w2', at(14_000)),
      tickAt(15_000),
      workerHeartbeat('w2', at(15_000 + RETENTION - 1_000)),
    ]).when(tickAt(15_000 + RETENTION));
    t.thenState(WORKER, 'w1', undefined).thenFragments('q1', [
      { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'FAILED' },
      { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'STOPPING' },
    ]);
    assert.deepStrictEqual(
      each<AllocationImage>(t.state, ALLOCATION).filter((a) => a.workerId === 'w1'),
      [],
    );
  });
});

describe('retention of gone sessions', () => {
  it('records the log time at which a session is closed', () =>
    given([tickAt(0), sessionOpened('s1')])
      .when(sessionClosed('s1', at(1_000)))
      .thenField(SESSION, 's1', 'goneAtMs', T0 + 1_000));

  it('records the log time at which a session expires', () =>
    given([tickAt(0), sessionOpened('s1')])
      .when(tickAt(30_000))
      .thenField(SESSION, 's1', 'goneAtMs', T0 + 30_000));

  it('keeps a CLOSED session until goneRetentionMs of log time have passed since it closed', () =>
    given([tickAt(0), sessionOpened('s1'), sessionClosed('s1', at(1_000))])
      .when(tickAt(1_000 + RETENTION - 1))
      .thenChanges(0)
      .thenField(SESSION, 's1', 'state', 'CLOSED'));

  it('removes a CLOSED session once goneRetentionMs of log time have passed since it closed', () =>
    given([tickAt(0), sessionOpened('s1'), sessionClosed('s1', at(1_000))])
      .when(tickAt(1_000 + RETENTION))
      .thenChanges([{ entity: SESSION, key: 's1', image: null }]));

  it('removes an EXPIRED session goneRetentionMs after it expired', () =>
    given([tickAt(0), sessionOpened('s1'), tickAt(30_000)])
      .when(tickAt(30_000 + RETENTION))
      .thenState(SESSION, 's1', undefined));

  it('never removes an open session that keeps speaking', () =>
    given([tickAt(0), sessionOpened('s1'), sessionHeartbeat('s1', at(2 * RETENTION))])
      .when(tickAt(2 * RETENTION + 1_000))
      .thenChanges(0)
      .thenField(SESSION, 's1', 'state', 'OPEN'));

  it('dates a gone session written before goneAtMs was kept by its last heartbeat', () => {
    const image: SessionImage = { sessionId: 's1', client: 'test', state: 'CLOSED', openedAtTs: '1', lastHeartbeatMs: T0, goneAtMs: null };
    const { goneAtMs: _, ...old } = image;
    return given([tickAt(0), legacy(SESSION, 's1', old)], legacyHandlers)
      .when(tickAt(RETENTION))
      .thenState(SESSION, 's1', undefined);
  });

  it('keeps a removed session’s other queries, which still cannot start without it', () =>
    given([
      tickAt(0),
      workerRegistered('w1'),
      createLogicalSource('cars'),
      createPhysicalSource('cars-w1', 'cars', 'w1'),
      createSink('out'),
      sessionOpened('s1'),
      createQuery('q1', { session: 's1' }),
      sessionClosed('s1', at(1_000)),
      workerHeartbeat('w1', at(RETENTION)),
      tickAt(1_000 + RETENTION),
    ])
      .when(startQuery('q1', at(1_000 + RETENTION)))
      .thenReplies('FAILED_PRECONDITION', 'session s1, which is not open')
      .thenField(QUERY, 'q1', 'session', 's1'));

  it('leaves no slot held for a removed session', () => {
    const t = given([
      tickAt(0),
      workerRegistered('w1'),
      workerRegistered('w2'),
      createLogicalSource('cars'),
      createPhysicalSource('cars-w1', 'cars', 'w1'),
      createSink('out'),
      sessionOpened('s1'),
      createQuery('q1', { session: 's1' }),
      startQuery('q1'),
      ...fragmentReports('q1', 2, 'RUNNING'),
      stopQuery('q1'),
      ...fragmentReports('q1', 2, 'STOPPED'),
      sessionClosed('s1', at(1_000)),
      workerHeartbeat('w1', at(RETENTION)),
      workerHeartbeat('w2', at(RETENTION)),
    ]).when(tickAt(1_000 + RETENTION));
    t.thenState(SESSION, 's1', undefined);
    assert.deepStrictEqual(
      each<AllocationImage>(t.state, ALLOCATION).filter((a) => a.session === 's1'),
      [],
    );
  });
});
