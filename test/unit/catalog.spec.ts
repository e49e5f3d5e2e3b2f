import { strict as assert } from 'node:assert';
import { LOGICAL_SOURCE } from '../../projections/catalog/logical-sources';
import { PHYSICAL_SOURCE, QUERY } from '../../projections/model';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  dropLogicalSource,
  field,
  fragmentReport,
  fragmentReports,
  getLogicalSource,
  given,
  listLogicalSources,
  REPLY_TO,
  startQuery,
  stop,
  workerRegistered,
} from '../support/given';

const cars = [field('id', 'string'), field('speed', 'double')];
const carsPayload = {
  type: 'coord.v1.LogicalSource',
  value: { name: 'cars', fields: [{ name: 'id', type: 'string' }, { name: 'speed', type: 'double' }] },
};

describe('catalog: logical sources', () => {
  describe('create', () => {
    it('replies OK with the new source as payload', () =>
      given()
        .when(createLogicalSource('cars', cars))
        .thenReplies('OK', 'cars')
        .thenPayload(carsPayload));

    it('stores the image stamped with the snapshot ts of its pass', () => {
      const t = given([createLogicalSource('bikes')]).when(createLogicalSource('cars', cars));
      assert.notEqual(t.contexts[0].snapshotTs, t.ctx.snapshotTs);
      t.thenChanges(1).thenState(LOGICAL_SOURCE, 'cars', {
        name: 'cars',
        fields: [{ name: 'id', type: 'string' }, { name: 'speed', type: 'double' }],
        createdAtTs: t.ctx.snapshotTs.toString(),
      });
    });

    it('refuses a second source of the same name with ALREADY_EXISTS', () =>
      given([createLogicalSource('cars', cars)])
        .when(createLogicalSource('cars', [field('other')]))
        .thenReplies('ALREADY_EXISTS', 'cars')
        .thenChanges(0));

    it('keeps the first image when a second create of the name is refused', () => {
      const t = given([createLogicalSource('cars', cars)]).when(createLogicalSource('cars', [field('other')]));
      t.thenState(LOGICAL_SOURCE, 'cars', {
        name: 'cars',
        fields: [{ name: 'id', type: 'string' }, { name: 'speed', type: 'double' }],
        createdAtTs: t.contexts[0].snapshotTs.toString(),
      });
    });

    it('accepts a name of 255 characters made of letters, digits, _ . and -', () =>
      given()
        .when(createLogicalSource(`_a.b-9${'x'.repeat(249)}`))
        .thenReplies('OK'));
  });

  describe('create refuses bad input with INVALID_ARGUMENT', () => {
    it('refuses a source with no fields', () =>
      given()
        .when(createLogicalSource('cars', []))
        .thenReplies('INVALID_ARGUMENT', 'at least one field')
        .thenChanges(0)
        .thenState(LOGICAL_SOURCE, 'cars', undefined));

    it('refuses duplicate field names, naming the field', () =>
      given()
        .when(createLogicalSource('cars', [field('id'), field('speed'), field('id', 'long')]))
        .thenReplies('INVALID_ARGUMENT', 'field id appears twice')
        .thenState(LOGICAL_SOURCE, 'cars', undefined));

    it('refuses a source name that starts with a digit, naming it', () =>
      given()
        .when(createLogicalSource('9cars'))
        .thenReplies('INVALID_ARGUMENT', 'logical source name "9cars"')
        .thenState(LOGICAL_SOURCE, '9cars', undefined));

    it('refuses a source name with a forbidden character, naming it', () =>
      given()
        .when(createLogicalSource('my cars'))
        .thenReplies('INVALID_ARGUMENT', '"my cars"'));

    it('refuses an empty source name', () =>
      given()
        .when(createLogicalSource(''))
        .thenReplies('INVALID_ARGUMENT', 'logical source name ""'));

    it('refuses a source name of 256 characters', () =>
      given()
        .when(createLogicalSource(`a${'x'.repeat(255)}`))
        .thenReplies('INVALID_ARGUMENT', 'logical source name'));

    it('refuses a bad field name, naming it', () =>
      given()
        .when(createLogicalSource('cars', [field('id'), field('top/speed')]))
        .thenReplies('INVALID_ARGUMENT', 'field name "top/speed"')
        .thenState(LOGICAL_SOURCE, 'cars', undefined));

    it('refuses a field with an empty type, naming the field', () =>
      given()
        .when(createLogicalSource('cars', [field('id'), field('speed', '')]))
        .thenReplies('INVALID_ARGUMENT', 'field speed has an empty type'));

    it('refuses a field whose type is only whitespace', () =>
      given()
        .when(createLogicalSource('cars', [field('speed', '  ')]))
        .thenReplies('INVALID_ARGUMENT', 'field speed has an empty type'));
  });

  describe('get', () => {
    it('replies NOT_FOUND for a source that does not exist, naming it', () =>
      given([createLogicalSource('bikes')])
        .when(getLogicalSource('cars'))
        .thenReplies('NOT_FOUND', 'cars'));

    it('returns the fields of an existing source', () =>
      given([createLogicalSource('cars', cars)])
        .when(getLogicalSource('cars'))
        .thenReplies('OK')
        .thenPayload(carsPayload));

    it('changes nothing', () =>
      given([createLogicalSource('cars', cars)])
        .when(getLogicalSource('cars'))
        .thenChanges(0));

    it('lists every source in name order', () => {
      const t = given([createLogicalSource('cars', cars), createLogicalSource('bikes')]).when(listLogicalSources());
      t.thenReplies('OK', '2 logical sources');
      assert.deepStrictEqual(
        (t.decision.reply?.payload?.value.logicalSources as { name: string }[]).map((s) => s.name),
        ['bikes', 'cars'],
      );
    });
  });

  describe('drop', () => {
    it('removes an existing source', () =>
      given([createLogicalSource('cars', cars)])
        .when(dropLogicalSource('cars'))
        .thenReplies('OK', 'cars')
        .thenState(LOGICAL_SOURCE, 'cars', undefined));

    it('replies NOT_FOUND for a source that does not exist, naming it', () =>
      given([])
        .when(dropLogicalSource('ghost'))
        .thenReplies('NOT_FOUND', 'ghost')
        .thenChanges(0));

    it('lets the name be created again afterwards', () =>
      given([createLogicalSource('cars', cars), dropLogicalSource('cars')])
        .when(createLogicalSource('cars', [field('other', 'int')]))
        .thenReplies('OK'));
  });

  describe('drop of a source in use', () => {
    const world = [workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars', cars), createLogicalSource('bikes'), createSink('out')];
    const fed = [...world, createPhysicalSource('cars-w1', 'cars', 'w1'), createPhysicalSource('bikes-w1', 'bikes', 'w1')];
    const running = [...fed, createQuery('q1', { sources: ['cars'] }), startQuery('q1', { correlationId: 'start-1' }), ...fragmentReports('q1', 2, 'RUNNING')];

    it('refuses while a query reads it, naming the query, and says how to go on', () =>
      given([...world, createQuery('q1', { sources: ['cars'] })])
        .when(dropLogicalSource('cars'))
        .thenReplies('FAILED_PRECONDITION', 'query q1', 'cascade')
        .thenChanges(0)
        .thenField(QUERY, 'q1', 'state', 'CREATED'));

    it('refuses while a physical source feeds it, naming the physical source', () =>
      given(fed)
        .when(dropLogicalSource('cars'))
        .thenReplies('FAILED_PRECONDITION', 'physical source cars-w1')
        .thenChanges(0));

    it('with cascade, drops its physical sources and the queries that read it', () =>
      given(running)
        .when(dropLogicalSource('cars', { cascade: true }))
        .thenReplies('OK', 'with 1 queries and 1 physical sources')
        .thenState(LOGICAL_SOURCE, 'cars', undefined)
        .thenState(PHYSICAL_SOURCE, 'cars-w1', undefined)
        .thenState(QUERY, 'q1', undefined));

    it('with cascade, tells the workers to stop a running query’s fragments', () =>
      given(running)
        .when(dropLogicalSource('cars', { cascade: true }))
        .thenCommands([stop('w1', 'q1#0'), stop('w2', 'q1#1')]));

    it('with cascade, keeps a running query’s slots taken until its workers confirm the fragments stopped', () =>
      given(running)
        .when(dropLogicalSource('cars', { cascade: true }))
        .thenAllocations([
          { workerId: 'w1', session: null, cached: false, releaseTo: 'FREE' },
          { workerId: 'w2', session: null, cached: false, releaseTo: 'FREE' },
        ]));

    it('with cascade, frees a running query’s slots as its workers confirm the fragments stopped', () =>
      given([...running, dropLogicalSource('cars', { cascade: true }), fragmentReport('q1', 0, 'STOPPED')])
        .when(fragmentReport('q1', 1, 'STOPPED'))
        .thenAllocations([]));

    it('with cascade, answers a start that still waits ABORTED', () =>
      given([...fed, createQuery('q1', { sources: ['cars'] }), startQuery('q1', { correlationId: 'start-1' })])
        .when(dropLogicalSource('cars', { cascade: true }))
        .thenAnswer('start-1', 'ABORTED', REPLY_TO, 'logical source cars was dropped with cascade'));

    it('with cascade, leaves the other logical sources, their physical sources and their queries', () =>
      given([...running, createQuery('q2', { sources: ['bikes'] })])
        .when(dropLogicalSource('cars', { cascade: true }))
        .thenField(PHYSICAL_SOURCE, 'bikes-w1', 'logicalSource', 'bikes')
        .thenField(QUERY, 'q2', 'state', 'CREATED')
        .thenField(LOGICAL_SOURCE, 'bikes', 'name', 'bikes'));

    it('with cascade, drops a query that reads it among other sources', () =>
      given([...fed, createQuery('both', { sources: ['bikes', 'cars'] })])
        .when(dropLogicalSource('cars', { cascade: true }))
        .thenState(QUERY, 'both', undefined));
  });
});
