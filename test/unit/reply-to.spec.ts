import { strict as assert } from 'node:assert';
import { replyToProblem, shown } from '../../src/messaging/reply-to';

describe('reply-to: where a reply may go', () => {
  const allowed = (topic: string): boolean => replyToProblem('coord', topic) === undefined;

  it("allows the deployment's replies topic", () => assert.ok(allowed('coord.replies')));

  it("allows a client's private reply topic under <prefix>.replies.", () => assert.ok(allowed('coord.replies.alice')));

  it('allows an existing topic outside the prefix', () => assert.ok(allowed('frontend-7.answers')));

  for (const own of ['coord.requests.catalog', 'coord.events.infra', 'coord.internal.ticks', 'coord.snapshots', 'coord.changelog', 'coord.worker-commands', 'coord.dlq'])
    it(`refuses the coordinator's own ${own}`, () => assert.match(replyToProblem('coord', own) ?? '', /coordinator's own topics/));

  it('refuses a topic that only looks like the replies topic', () => assert.ok(!allowed('coord.repliesX')));

  it("refuses Kafka's internal topics", () => {
    assert.match(replyToProblem('coord', '__consumer_offsets') ?? '', /internal/);
    assert.match(replyToProblem('coord', '__transaction_state') ?? '', /internal/);
  });

  it('refuses a name Kafka would not accept: too long, odd characters, . and ..', () => {
    for (const bad of ['x'.repeat(250), 'a b', 'a/b', '.', '..', ''])
      assert.match(replyToProblem('coord', bad) ?? '', /not a Kafka topic name/, JSON.stringify(bad.slice(0, 10)));
  });

  it('accepts a 249-character name outside the prefix', () => assert.ok(allowed('y'.repeat(249))));

  it('never echoes more than 64 characters of what it refuses', () => {
    const problem = replyToProblem('coord', `__${'z'.repeat(600_000)}`) ?? '';
    assert.ok(problem.length < 300, `${problem.length} characters`);
    assert.match(problem, /\(600002 characters\)/);
  });
});

describe('shown: client input as an error quotes it', () => {
  it('quotes a short value whole', () => assert.equal(shown('cars'), '"cars"'));
  it('cuts a long one and says how long it was', () => assert.equal(shown('a'.repeat(100)), `"${'a'.repeat(64)}"… (100 characters)`));
});
