import { strict as assert } from 'node:assert';
import { LOGICAL_SOURCE } from '../../projections/catalog/logical-sources';
import { createLogicalSource, getLogicalSource, given, T0 } from '../support/given';

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
});
