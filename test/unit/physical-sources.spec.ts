import { strict as assert } from 'node:assert';
import { PHYSICAL_SOURCE, QUERY } from '../../projections/model';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  dropPhysicalSource,
  fragmentReport,
  fragmentReports,
  getPhysicalSource,
  given,
  listPhysicalSources,
  REPLY_TO,
  startQuery,
  stop,
  stopQuery,
  T0,
  tick,
  workerDeregistered,
  workerHeartbeat,
  workerRegistered,
} from '../support/given';

const world = [workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createLogicalSource('bikes'), createSink('out')];
const withSource = [...world, createPhysicalSource('cars-w1', 'cars', 'w1', { connectorType: 'tcp', options: { port: '9000', host: 'h' } })];
const running = [...withSource, createQuery('q1'), startQuery('q1', { correlationId: 'start-1' }), ...fragmentReports('q1', 2, 'RUNNING')];

const carsW1 = {
  type: 'coord.v1.PhysicalSource',
  value: { name: 'cars-w1', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: { host: 'h', port: '9000' }, available: true },
};

describe('catalog: physical sources', () => {
  describe('create', () => {
    it('replies OK with the new source as payload, available', () =>
      given(world)
        .when(createPhysicalSource('cars-w1', 'cars', 'w1', { connectorType: 'tcp', options: { port: '9000', host: 'h' } }))
        .thenReplies('OK', 'cars-w1', 'w1')
        .thenPayload(carsW1));

    it('stores the image with its options in key order, stamped with the snapshot ts', () => {
      const t = given(world).when(createPhysicalSource('cars-w1', 'cars', 'w1', { connectorType: 'tcp', options: { port: '9000', host: 'h' } }));
      t.thenState(PHYSICAL_SOURCE, 'cars-w1', {
        name: 'cars-w1',
        logicalSource: 'cars',
        workerId: 'w1',
        connectorType: 'tcp',
        options: { host: 'h', port: '9000' },
        available: true,
        createdAtTs: t.ctx.snapshotTs.toString(),
      });
      assert.deepStrictEqual(Object.keys(t.state.get(PHYSICAL_SOURCE, 'cars-w1')?.options as object), ['host', 'port']);
    });

    it('refuses a second source of the same name with ALREADY_EXISTS', () =>
      given(withSource)
        .when(createPhysicalSource('cars-w1', 'bikes', 'w2'))
        .thenReplies('ALREADY_EXISTS', 'cars-w1')
        .thenChanges(0));

    it('refuses an invalid name with INVALID_ARGUMENT, naming it', () =>
      given(world)
        .when(createPhysicalSource('cars w1', 'cars', 'w1'))
        .thenReplies('INVALID_ARGUMENT', 'physical source name "cars w1"'));

    it('refuses an empty connector type', () =>
      given(world)
        .when(createPhysicalSource('cars-w1', 'cars', 'w1', { connectorType: ' ' }))
        .thenReplies('INVALID_ARGUMENT', 'needs a connector type')
        .thenState(PHYSICAL_SOURCE, 'cars-w1', undefined));

    it('refuses a logical source that does not exist with NOT_FOUND, naming it', () =>
      given(world)
        .when(createPhysicalSource('trains-w1', 'trains', 'w1'))
        .thenReplies('NOT_FOUND', 'logical source trains'));

    it('refuses a worker that never registered with FAILED_PRECONDITION', () =>
      given(world)
        .when(createPhysicalSource('cars-w9', 'cars', 'w9'))
        .thenReplies('FAILED_PRECONDITION', 'worker w9 is not registered'));

    it('refuses a DEAD worker', () =>
      given([...world, workerHeartbeat('w2', { timestampMs: T0 + 14_000 }), tick(T0 + 15_000)])
        .when(createPhysicalSource('cars-w1', 'cars', 'w1', { timestampMs: T0 + 15_000 }))
        .thenReplies('FAILED_PRECONDITION', 'worker w1 is DEAD'));

    it('refuses a DEREGISTERED worker', () =>
      given([...world, workerDeregistered('w1')])
        .when(createPhysicalSource('cars-w1', 'cars', 'w1'))
        .thenReplies('FAILED_PRECONDITION', 'worker w1 is DEREGISTERED'));

    it('accepts a SUSPECT worker, which may yet come back', () =>
      given([...world, workerHeartbeat('w2', { timestampMs: T0 + 6_000 }), tick(T0 + 6_000)])
        .when(createPhysicalSource('cars-w1', 'cars', 'w1', { timestampMs: T0 + 6_000 }))
        .thenReplies('OK'));
  });

  describe('get and list', () => {
    it('returns an existing source', () =>
      given(withSource)
        .when(getPhysicalSource('cars-w1'))
        .thenReplies('OK')
        .thenPayload(carsW1));

    it('replies NOT_FOUND for a source that does not exist, naming it', () =>
      given(withSource)
        .when(getPhysicalSource('ghost'))
        .thenReplies('NOT_FOUND', 'ghost'));

    it('lists every physical source', () =>
      given([...withSource, createPhysicalSource('bikes-w2', 'bikes', 'w2')])
        .when(listPhysicalSources())
        .thenReplies('OK', '2 physical sources'));

    it('lists only those feeding one logical source when asked', () => {
      const t = given([...withSource, createPhysicalSource('bikes-w2', 'bikes', 'w2')]).when(listPhysicalSources({ logicalSource: 'bikes' }));
      assert.deepStrictEqual(
        (t.decision.reply?.payload?.value.physicalSources as { name: string }[]).map((p) => p.name),
        ['bikes-w2'],
      );
    });
  });

  describe('drop', () => {
    it('removes a source nothing reads', () =>
      given(withSource)
        .when(dropPhysicalSource('cars-w1'))
        .thenReplies('OK', 'dropped physical source cars-w1')
        .thenState(PHYSICAL_SOURCE, 'cars-w1', undefined));

    it('replies NOT_FOUND for a source that does not exist, naming it', () =>
      given(world)
        .when(dropPhysicalSource('ghost'))
        .thenReplies('NOT_FOUND', 'ghost')
        .thenChanges(0));

    it('refuses to drop a source a running query reads, naming the query', () =>
      given(running)
        .when(dropPhysicalSource('cars-w1'))
        .thenReplies('FAILED_PRECONDITION', 'read by query q1', 'cascade')
        .thenChanges(0)
        .thenCommands([]));

    it('drops a source that only a stopped query read', () =>
      given([...running, stopQuery('q1'), ...fragmentReports('q1', 2, 'STOPPED')])
        .when(dropPhysicalSource('cars-w1'))
        .thenReplies('OK')
        .thenState(PHYSICAL_SOURCE, 'cars-w1', undefined));

    it('with cascade, stops the queries that read it and drops them with it', () =>
      given(running)
        .when(dropPhysicalSource('cars-w1', { cascade: true }))
        .thenReplies('OK', 'and 1 queries')
        .thenCommands([stop('w1', 'q1#0'), stop('w2', 'q1#1')])
        .thenState(QUERY, 'q1', undefined)
        .thenState(PHYSICAL_SOURCE, 'cars-w1', undefined));

    it('with cascade, frees the dropped queries’ slots as their workers confirm the fragments stopped', () =>
      given([...running, dropPhysicalSource('cars-w1', { cascade: true }), fragmentReport('q1', 0, 'STOPPED')])
        .when(fragmentReport('q1', 1, 'STOPPED'))
        .thenAllocations([]));

    it('with cascade, answers a start that still waits ABORTED', () =>
      given([...withSource, createQuery('q1'), startQuery('q1', { correlationId: 'start-1' })])
        .when(dropPhysicalSource('cars-w1', { cascade: true }))
        .thenAnswer('start-1', 'ABORTED', REPLY_TO, 'physical source cars-w1 was dropped with cascade'));
  });
});
