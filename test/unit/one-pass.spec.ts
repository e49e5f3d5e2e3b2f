import { strict as assert } from 'node:assert';
import { QUERY, SINK } from '../../projections/model';
import { createLogicalSource, createPhysicalSource, createQuery, createSink, dropQuery, dropSink, given, plan, REPLY_TO, startQuery, stopQuery, workerRegistered } from '../support/given';

// Several requests in one pass, through the real pass with an in-memory codec: cancel-outs and conflicts inside a batch (schemas/README.md, "Inside one snapshot").
describe('one pass: cancel-outs and conflicts', () => {
  it('lets a create and a drop of one sink both succeed', async () =>
    (await given().whenInOnePass([createSink('out', { correlationId: 'create' }), dropSink('out', { correlationId: 'drop' })]))
      .thenRepliesTo('create', 'OK')
      .thenRepliesTo('drop', 'OK'));

  it('leaves no trace of a sink created and dropped in one pass: no state, no changelog record, no worker command', async () =>
    (await given().whenInOnePass([createSink('out', { correlationId: 'create' }), dropSink('out', { correlationId: 'drop' })]))
      .thenState(SINK, 'out', undefined)
      .thenNetChanges(0)
      .thenChangelog([])
      .thenCommandCount(0));

  it('keeps no history version of a sink created and dropped in one pass', async () => {
    const t = await given().whenInOnePass([createSink('out', { correlationId: 'create' }), dropSink('out', { correlationId: 'drop' })]);
    assert.equal(t.state.getAt(SINK, 'out', t.result.meta.ts), undefined);
    assert.deepStrictEqual([...t.state.listAt(SINK, t.result.meta.ts)], []);
  });

  it('leaves no trace of a query created and dropped in one pass', async () =>
    (await given([createLogicalSource('cars'), createSink('out')]).whenInOnePass([createQuery('q1', { correlationId: 'create' }), dropQuery('q1', { correlationId: 'drop' })]))
      .thenRepliesTo('create', 'OK')
      .thenRepliesTo('drop', 'OK')
      .thenState(QUERY, 'q1', undefined)
      .thenChangelog([]));

  it('lets the first of two creates of one query win and refuses the second with ALREADY_EXISTS', async () =>
    (
      await given([createLogicalSource('cars'), createLogicalSource('bikes'), createSink('out')]).whenInOnePass([
        createQuery('q1', { sources: ['cars'], correlationId: 'first' }),
        createQuery('q1', { sources: ['bikes'], correlationId: 'second' }),
      ])
    )
      .thenRepliesTo('first', 'OK')
      .thenRepliesTo('second', 'ALREADY_EXISTS', 'q1'));

  it('keeps the first create’s query, with one changelog record for it', async () =>
    (
      await given([createLogicalSource('cars'), createLogicalSource('bikes'), createSink('out')]).whenInOnePass([
        createQuery('q1', { sources: ['cars'], correlationId: 'first' }),
        createQuery('q1', { sources: ['bikes'], correlationId: 'second' }),
      ])
    )
      .thenField(QUERY, 'q1', 'plan', plan(['cars'], 'out'))
      .thenChangelog([`${QUERY}/q1`]));

  it('answers each request of the pass where it asked', async () => {
    const t = await given().whenInOnePass([createSink('out', { correlationId: 'a' }), createSink('audit', { correlationId: 'b', replyTo: 'other.replies' })]);
    assert.deepStrictEqual(
      t.replies.map((r) => [r.key, r.topic]),
      [
        ['a', REPLY_TO],
        ['b', 'other.replies'],
      ],
    );
  });

  it('gives a start new fragment ids even when the query was started and stopped earlier in the same pass', async () => {
    const t = await given([workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), createQuery('q1')]).whenInOnePass([
      startQuery('q1', { correlationId: 'start-1' }),
      stopQuery('q1', { correlationId: 'stop' }),
      startQuery('q1', { correlationId: 'start-2' }),
    ]);
    const deployed = t.commands.filter((c) => c.type === 'coord.v1.DeployFragment').map((c) => String(c.value.fragmentId));
    assert.equal(deployed.length, 4);
    const [first, second] = [deployed.slice(0, 2), deployed.slice(2)];
    // Otherwise the first deployment's STOPPED confirmations land on the second one's fragments.
    assert.deepStrictEqual(
      second.filter((id) => first.includes(id)),
      [],
      `the second deployment reuses fragment ids ${JSON.stringify(second)}`,
    );
  });
});

// A replay or a standby folds a snapshot another run published: the pass builds no outputs, and the store must be the same.
describe('one pass: a published snapshot', () => {
  const history = [workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), createQuery('q1')];
  // A conflict (no reply kept) before replies that are kept, a retry, a deferred start with worker commands, net changes.
  const batch = [
    createSink('s2', { correlationId: 'a' }),
    createSink('s3', { correlationId: 'a' }),
    createSink('s2', { correlationId: 'a' }),
    createSink('s4', { correlationId: 'b' }),
    startQuery('q1', { correlationId: 'start' }),
  ];

  it('writes the same state, remembered replies and explain records as the live pass, and no outbox', async () => {
    const live = await given(history).whenInOnePass(batch);
    const replayed = await given(history).whenInOnePass(batch, { published: true });
    assert.ok(live.commands.length > 0 && live.replies.length === 4, 'the batch exercises commands and every kind of reply');
    assert.deepStrictEqual(replayed.result.outbox.records, []);
    assert.equal(replayed.result.meta.digest, live.result.meta.digest);
    const withoutOutbox = (puts: readonly (readonly [string, Buffer])[]) => puts.filter(([k]) => k !== live.result.outbox.key);
    assert.deepStrictEqual(withoutOutbox(replayed.result.ops.puts), withoutOutbox(live.result.ops.puts));
    assert.deepStrictEqual(replayed.result.ops.deletes, live.result.ops.deletes);
  });
});
