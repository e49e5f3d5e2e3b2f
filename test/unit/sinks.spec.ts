import { strict as assert } from 'node:assert';
import { QUERY, SINK } from '../../projections/model';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  dropSink,
  fragmentReport,
  fragmentReports,
  getSink,
  given,
  listSinks,
  startQuery,
  stop,
  workerRegistered,
} from '../support/given';

const out = { type: 'coord.v1.Sink', value: { name: 'out', type: 'kafka', options: { acks: 'all', topic: 'results' } } };
const withSink = [createSink('out', { type: 'kafka', options: { topic: 'results', acks: 'all' } })];
const world = [workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), ...withSink];

describe('catalog: sinks', () => {
  describe('create', () => {
    it('replies OK with the new sink as payload', () =>
      given()
        .when(createSink('out', { type: 'kafka', options: { topic: 'results', acks: 'all' } }))
        .thenReplies('OK', 'out')
        .thenPayload(out));

    it('stores the image with its options in key order, stamped with the snapshot ts', () => {
      const t = given().when(createSink('out', { type: 'kafka', options: { topic: 'results', acks: 'all' } }));
      t.thenChanges(1).thenState(SINK, 'out', { name: 'out', type: 'kafka', options: { acks: 'all', topic: 'results' }, createdAtTs: t.ctx.snapshotTs.toString() });
      assert.deepStrictEqual(Object.keys(t.state.get(SINK, 'out')?.options as object), ['acks', 'topic']);
    });

    it('refuses a second sink of the same name with ALREADY_EXISTS', () =>
      given(withSink)
        .when(createSink('out', { type: 'print' }))
        .thenReplies('ALREADY_EXISTS', 'out')
        .thenChanges(0)
        .thenField(SINK, 'out', 'type', 'kafka'));

    it('refuses an invalid name with INVALID_ARGUMENT, naming it', () =>
      given()
        .when(createSink('-out'))
        .thenReplies('INVALID_ARGUMENT', 'sink name "-out"')
        .thenState(SINK, '-out', undefined));

    it('refuses an empty type', () =>
      given()
        .when(createSink('out', { type: '' }))
        .thenReplies('INVALID_ARGUMENT', 'a sink needs a type')
        .thenState(SINK, 'out', undefined));
  });

  describe('get and list', () => {
    it('returns an existing sink', () =>
      given(withSink)
        .when(getSink('out'))
        .thenReplies('OK')
        .thenPayload(out));

    it('replies NOT_FOUND for a sink that does not exist, naming it', () =>
      given(withSink)
        .when(getSink('ghost'))
        .thenReplies('NOT_FOUND', 'ghost'));

    it('lists every sink in name order', () => {
      const t = given([...withSink, createSink('audit')]).when(listSinks());
      t.thenReplies('OK', '2 sinks');
      assert.deepStrictEqual(
        (t.decision.reply?.payload?.value.sinks as { name: string }[]).map((s) => s.name),
        ['audit', 'out'],
      );
    });
  });

  describe('drop', () => {
    it('removes a sink no query writes to', () =>
      given(withSink)
        .when(dropSink('out'))
        .thenReplies('OK', 'dropped sink out')
        .thenState(SINK, 'out', undefined));

    it('replies NOT_FOUND for a sink that does not exist, naming it', () =>
      given()
        .when(dropSink('ghost'))
        .thenReplies('NOT_FOUND', 'ghost')
        .thenChanges(0));

    it('refuses to drop a sink a query writes to, even one never started, naming the query', () =>
      given([...world, createQuery('q1')])
        .when(dropSink('out'))
        .thenReplies('FAILED_PRECONDITION', 'used by query q1', 'cascade')
        .thenChanges(0));

    it('with cascade, drops the queries that write to it', () =>
      given([...world, createQuery('q1'), createQuery('q2')])
        .when(dropSink('out', { cascade: true }))
        .thenReplies('OK', 'and 2 queries')
        .thenState(QUERY, 'q1', undefined)
        .thenState(QUERY, 'q2', undefined)
        .thenState(SINK, 'out', undefined));

    it('with cascade, stops a running query before dropping it', () =>
      given([...world, createQuery('q1'), startQuery('q1'), ...fragmentReports('q1', 2, 'RUNNING')])
        .when(dropSink('out', { cascade: true }))
        .thenCommands([stop('w1', 'q1#0'), stop('w2', 'q1#1')])
        .thenState(QUERY, 'q1', undefined));

    it('with cascade, frees a running query’s slots as its workers confirm the fragments stopped', () =>
      given([...world, createQuery('q1'), startQuery('q1'), ...fragmentReports('q1', 2, 'RUNNING'), dropSink('out', { cascade: true }), fragmentReport('q1', 0, 'STOPPED')])
        .when(fragmentReport('q1', 1, 'STOPPED'))
        .thenAllocations([]));
  });
});
