import { strict as assert } from 'node:assert';
import { requestFingerprint } from '../../src/messaging/fingerprint';
import { createLogicalSource, field, getLogicalSource, given } from '../support/given';

describe('correlation ids: a retry is the same id and the same request', () => {
  it('answers CONFLICT to another request under an id used earlier in the pass, never with the first reply', async () => {
    const t = await given().whenInOnePass([createLogicalSource('cars', [field('id')], { correlationId: 'c1' }), getLogicalSource('bikes', { correlationId: 'c1' })]);
    const replies = t.replies.filter((r) => r.key === 'c1');
    assert.deepStrictEqual(
      replies.map((r) => r.value.status),
      ['OK', 'CONFLICT'],
    );
    assert.equal(replies[1].value.payload, null, 'nothing of the first reply');
    assert.match(String(replies[1].value.message), /already used by another request/);
  });

  it('gives the conflicting request no effect', async () =>
    (await given().whenInOnePass([getLogicalSource('cars', { correlationId: 'c1' }), createLogicalSource('cars', [field('id')], { correlationId: 'c1' })]))
      .thenState('logical-source', 'cars', undefined)
      .thenNetChanges(0));

  it('answers a true retry in the same pass with the same reply, byte for byte', async () => {
    const t = await given().whenInOnePass([createLogicalSource('cars', [field('id')], { correlationId: 'c1' }), createLogicalSource('cars', [field('id')], { correlationId: 'c1' })]);
    const replies = t.result.outbox.records.filter((r) => r.key === 'c1');
    assert.equal(replies.length, 2);
    assert.deepStrictEqual(replies[1].value, replies[0].value);
    assert.equal(t.result.retried, 1);
  });

  it("stamps every reply with the fingerprint of the request it answers", async () => {
    const t = await given().whenInOnePass([createLogicalSource('cars', [field('id')], { correlationId: 'c1' })]);
    const reply = t.result.outbox.records.find((r) => r.key === 'c1');
    assert.match(reply?.headers['request-fingerprint'] ?? '', /^[0-9a-f]{32}$/);
  });
});

describe('requestFingerprint', () => {
  const value = Buffer.from([0, 0, 0, 0, 1, 2, 3]);

  it('is the same for the same type, key and bytes', () => assert.equal(requestFingerprint('coord.v1.X', 'k', value), requestFingerprint('coord.v1.X', Buffer.from('k'), Buffer.from(value))));

  it('differs by type, by key, by a null key against an empty one, and by value', () => {
    const base = requestFingerprint('coord.v1.X', 'k', value);
    assert.notEqual(requestFingerprint('coord.v1.Y', 'k', value), base);
    assert.notEqual(requestFingerprint('coord.v1.X', 'j', value), base);
    assert.notEqual(requestFingerprint('coord.v1.X', null, value), requestFingerprint('coord.v1.X', '', value));
    assert.notEqual(requestFingerprint('coord.v1.X', 'k', Buffer.from([0, 0, 0, 0, 1, 2, 4])), base);
  });

  it('does not let a key run into the type', () => assert.notEqual(requestFingerprint('ab', 'c', value), requestFingerprint('a', 'bc', value)));
});

describe('the sender’s address: headers the pass trusts', () => {
  const dlq = (t: { result: { outbox: { records: readonly { topic: string; headers: Readonly<Record<string, string>> }[] } } }) =>
    t.result.outbox.records.filter((r) => r.topic === 'test-coord.dlq');

  it('refuses a correlation id over 255 characters to the DLQ, unanswered and without effect', async () => {
    const t = await given().whenInOnePass([createLogicalSource('cars', [field('id')], { correlationId: 'c'.repeat(256) })]);
    assert.deepStrictEqual(dlq(t).map((r) => r.headers['dlq-code']), ['HEADER_INVALID']);
    assert.equal(t.replies.length, 0);
    t.thenState('logical-source', 'cars', undefined);
  });

  it('refuses a request whose reply-to is an internal topic, unanswered', async () => {
    const t = await given().whenInOnePass([createLogicalSource('cars', [field('id')], { correlationId: 'c1', replyTo: '__consumer_offsets' })]);
    assert.deepStrictEqual(dlq(t).map((r) => r.headers['dlq-code']), ['REPLY_TO_FORBIDDEN']);
    assert.equal(t.replies.length, 0);
  });

  it("refuses a request whose reply-to is one of the coordinator's own topics, unanswered", async () => {
    const t = await given().whenInOnePass([getLogicalSource('cars', { correlationId: 'c1', replyTo: 'test-coord.requests.catalog' })]);
    assert.deepStrictEqual(dlq(t).map((r) => r.headers['dlq-code']), ['REPLY_TO_FORBIDDEN']);
    assert.equal(t.result.outbox.records.filter((r) => r.topic === 'test-coord.requests.catalog').length, 0);
  });

  it('answers on a private reply topic under <prefix>.replies.', async () =>
    (await given().whenInOnePass([getLogicalSource('cars', { correlationId: 'c1', replyTo: 'test-coord.replies.alice' })])).thenRepliesTo('c1', 'NOT_FOUND'));
});
