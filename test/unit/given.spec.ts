import { strict as assert } from 'node:assert';
import type { Message } from '../../projections';
import { LOGICAL_SOURCE } from '../../projections/catalog/logical-sources';
import type { FragmentStatus } from '../../projections/protocol.gen';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  deploy,
  dropLogicalSource,
  dropQuery,
  fragmentIndexOf,
  fragmentReport,
  fragmentReports,
  getLogicalSource,
  given,
  startQuery,
  stopQuery,
  T0,
  workerRegistered,
} from '../support/given';

const deployable = [workerRegistered('w1'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), createQuery('q1')];

// The helper is what every decider spec trusts; these show that it can fail.
describe('support: given/when/then', () => {
  it('fails thenReplies on another status', () => {
    assert.throws(() => given().when(getLogicalSource('cars')).thenReplies('OK'), { code: 'ERR_ASSERTION', message: /expected OK, got NOT_FOUND/ });
  });

  it('fails thenReplies when the message lacks a mention', () => {
    assert.throws(() => given().when(getLogicalSource('cars')).thenReplies('NOT_FOUND', 'bikes'), { code: 'ERR_ASSERTION', message: /mention bikes/ });
  });

  it('fails thenPayload on another payload', () => {
    assert.throws(() => given([createLogicalSource('cars')]).when(getLogicalSource('cars')).thenPayload(null), { code: 'ERR_ASSERTION' });
  });

  it('fails thenState when the entity is not as expected', () => {
    assert.throws(() => given().when(createLogicalSource('cars')).thenState(LOGICAL_SOURCE, 'cars', undefined), { code: 'ERR_ASSERTION' });
  });

  it('fails thenChanges on another count', () => {
    assert.throws(() => given().when(createLogicalSource('cars')).thenChanges(0), { code: 'ERR_ASSERTION' });
  });

  it('refuses a history with a refused message, naming the step', () => {
    assert.throws(() => given([createLogicalSource('cars'), createLogicalSource('cars')]), /given step 2 \(coord\.v1\.CreateLogicalSource\) was refused with ALREADY_EXISTS/);
  });

  it('refuses a message no projection decides', () => {
    assert.throws(() => given().when({ type: 'coord.v1.Nothing', value: {}, key: null, correlationId: undefined, timestampMs: T0 }), /no projection decides coord\.v1\.Nothing/);
  });

  it('gives each step the next snapshot id and a later hybrid ts, as a pass would', () => {
    const t = given([createLogicalSource('a'), createLogicalSource('b')]).when(createLogicalSource('c'));
    assert.deepStrictEqual(
      t.contexts.map((c) => c.snapshotId),
      [1n, 2n, 3n],
    );
    assert.ok(t.contexts[0].snapshotTs < t.contexts[1].snapshotTs && t.contexts[1].snapshotTs < t.contexts[2].snapshotTs);
    assert.equal(t.ctx.logTimeMs, T0);
  });

  it('keeps the log time from going back when a message is older', () => {
    const t = given([createLogicalSource('a', undefined, { timestampMs: T0 + 10 })]).when(createLogicalSource('b', undefined, { timestampMs: T0 }));
    assert.equal(t.ctx.logTimeMs, T0 + 10);
  });

  it('fails thenNoReply when there is a reply', () => {
    assert.throws(() => given().when(getLogicalSource('cars')).thenNoReply(), { code: 'ERR_ASSERTION', message: /expected no reply/ });
  });

  it('fails thenCommands on other commands', () => {
    assert.throws(() => given(deployable).when(startQuery('q1')).thenCommands([deploy('w1', 'q1#0')]), { code: 'ERR_ASSERTION' });
  });

  it('fails thenAnswers when an answer is missing', () => {
    assert.throws(() => given([...deployable, startQuery('q1', { correlationId: 's' })]).when(fragmentReport('q1', 0, 'RUNNING')).thenAnswers([{ correlationId: 's', status: 'OK' }]), {
      code: 'ERR_ASSERTION',
    });
  });

  it('fails thenAnswer when the request was not answered', () => {
    assert.throws(() => given(deployable).when(startQuery('q1')).thenAnswer('s', 'OK', 'test.replies'), { code: 'ERR_ASSERTION', message: /expected one answer to s/ });
  });

  it('fails thenAllocations on other allocations', () => {
    assert.throws(() => given(deployable).when(startQuery('q1')).thenAllocations([]), { code: 'ERR_ASSERTION' });
  });

  it('fails thenAllocations when a slot waits for its worker and the spec does not say so', () => {
    assert.throws(
      () =>
        given([...deployable, startQuery('q1'), ...fragmentReports('q1', 2, 'RUNNING')])
          .when(stopQuery('q1'))
          .thenAllocations([
            { workerId: 'w1', session: null, cached: false },
            { workerId: 'w1', session: null, cached: false },
          ]),
      { code: 'ERR_ASSERTION' },
    );
  });

  it('fails thenFragments for a query that does not exist', () => {
    assert.throws(() => given().when(getLogicalSource('cars')).thenFragments('q1', []), { code: 'ERR_ASSERTION', message: /expected query q1 to exist/ });
  });

  it('builds a fragment report from the state the step meets', () =>
    given([...deployable, startQuery('q1', { correlationId: 's' }), fragmentReport('q1', 0, 'RUNNING')])
      .when(fragmentReport('q1', 1, 'RUNNING'))
      .thenAnswers([{ correlationId: 's', status: 'OK' }]));

  it('builds a report on a fragment of a dropped query from the slot that waits for it', () => {
    const { state } = given([...deployable, startQuery('q1'), ...fragmentReports('q1', 2, 'RUNNING'), stopQuery('q1')]).when(dropQuery('q1'));
    const step = fragmentReport('q1', 1, 'STOPPED');
    const msg = (typeof step === 'function' ? step(state) : step) as Message<FragmentStatus>;
    assert.deepStrictEqual([msg.value.workerId, fragmentIndexOf(msg.value.fragmentId), msg.value.status], ['w1', 'q1#1', 'STOPPED']);
  });

  it('refuses a report on a fragment that was never placed', () => {
    assert.throws(() => given([...deployable, ...fragmentReports('q1', 1, 'RUNNING')]), /query q1 has no fragment 0/);
  });

  it('keeps each versioned entity’s image in the history at its snapshot’s ts, as the pass does', () => {
    const t = given([createLogicalSource('cars'), dropLogicalSource('cars')]).when(createLogicalSource('cars', [{ name: 'x', type: 'int' }]));
    assert.deepStrictEqual(t.state.getAt(LOGICAL_SOURCE, 'cars', t.contexts[0].snapshotTs)?.fields, [{ name: 'id', type: 'string' }]);
    assert.equal(t.state.getAt(LOGICAL_SOURCE, 'cars', t.contexts[1].snapshotTs), undefined);
    assert.deepStrictEqual(t.state.getAt(LOGICAL_SOURCE, 'cars', t.ctx.snapshotTs), t.state.get(LOGICAL_SOURCE, 'cars'));
  });

  it('fails thenRepliesTo for a request the pass did not answer', async () => {
    const t = await given().whenInOnePass([createSink('out', { correlationId: 'a' })]);
    assert.throws(() => t.thenRepliesTo('b', 'OK'), { code: 'ERR_ASSERTION', message: /expected one reply to b/ });
  });

  it('fails thenNoReplyTo for a request the pass answered', async () => {
    const t = await given().whenInOnePass([createSink('out', { correlationId: 'a' })]);
    assert.throws(() => t.thenNoReplyTo('a'), { code: 'ERR_ASSERTION', message: /expected no reply to a/ });
  });

  it('fails thenChangelog on other records', async () => {
    const t = await given().whenInOnePass([createSink('out')]);
    assert.throws(() => t.thenChangelog([]), { code: 'ERR_ASSERTION' });
  });
});
