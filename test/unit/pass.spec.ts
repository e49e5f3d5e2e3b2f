import { strict as assert } from 'node:assert';
import { accept, handlerTable, PROJECTIONS, type Projection, type Stage } from '../../projections';
import type { Envelope } from '../../src/engine/decode';
import { orderEnvelopes } from '../../src/engine/pass';
import { LOGICAL_BITS, nextHybrid } from '../../src/engine/state';

const CREATE = 'coord.v1.CreateLogicalSource';
const GET = 'coord.v1.GetLogicalSource';

/** A projection that decides one record type in one stage and does nothing. */
const inStage = (type: string, stage: Stage): Projection => ({
  name: `test-${stage}`,
  entities: [],
  handlers: { [type]: { stage, decide: () => accept([]) } },
});

const envelope = (type: string, topic: string, partition: number, offset: string): Envelope => ({
  ok: true,
  type,
  value: {},
  deadlineMs: undefined,
  raw: { topic, partition, offset, key: null, value: null, timestamp: '0' },
  headers: {},
  correlationId: undefined,
  replyTo: undefined,
  timestampMs: 0,
});

/** Each envelope as `type@topic/partition/offset`, to compare orders at a glance. */
const order = (es: readonly Envelope[]): string[] => es.map((e) => `${e.type}@${e.raw.topic}/${e.raw.partition}/${e.raw.offset}`);

describe('pass: orderEnvelopes', () => {
  const handlers = handlerTable([...PROJECTIONS, inStage('test.Infra', 'infrastructure'), inStage('test.System', 'system')]);

  it('orders by stage before topic, partition or offset', () => {
    const sorted = orderEnvelopes(handlers, [
      envelope('test.System', 'a', 0, '0'),
      envelope(CREATE, 'b', 0, '1'),
      envelope('test.Infra', 'z', 9, '99'),
    ]);
    assert.deepStrictEqual(order(sorted), ['test.Infra@z/9/99', `${CREATE}@b/0/1`, 'test.System@a/0/0']);
  });

  it('puts record types no projection decides after every stage', () => {
    const sorted = orderEnvelopes(handlers, [envelope('test.Unknown', 'a', 0, '0'), envelope('test.System', 'z', 0, '5')]);
    assert.deepStrictEqual(order(sorted), ['test.System@z/0/5', 'test.Unknown@a/0/0']);
  });

  it('orders within a stage by topic name', () => {
    const sorted = orderEnvelopes(handlers, [envelope(CREATE, 'coord.requests.b', 0, '0'), envelope(GET, 'coord.requests.a', 0, '5')]);
    assert.deepStrictEqual(order(sorted), [`${GET}@coord.requests.a/0/5`, `${CREATE}@coord.requests.b/0/0`]);
  });

  it('orders within a topic by partition number, 2 before 10', () => {
    const sorted = orderEnvelopes(handlers, [envelope(CREATE, 't', 10, '0'), envelope(CREATE, 't', 2, '7')]);
    assert.deepStrictEqual(order(sorted), [`${CREATE}@t/2/7`, `${CREATE}@t/10/0`]);
  });

  it('orders within a partition by offset as a number, 9 before 10', () => {
    const sorted = orderEnvelopes(handlers, [envelope(CREATE, 't', 0, '10'), envelope(CREATE, 't', 0, '9'), envelope(CREATE, 't', 0, '100')]);
    assert.deepStrictEqual(order(sorted), [`${CREATE}@t/0/9`, `${CREATE}@t/0/10`, `${CREATE}@t/0/100`]);
  });

  it('orders offsets past 2^53 exactly', () => {
    const sorted = orderEnvelopes(handlers, [envelope(CREATE, 't', 0, '9007199254740993'), envelope(CREATE, 't', 0, '9007199254740992')]);
    assert.deepStrictEqual(order(sorted), [`${CREATE}@t/0/9007199254740992`, `${CREATE}@t/0/9007199254740993`]);
  });

  it('leaves the input array as it was', () => {
    const input = [envelope(CREATE, 't', 0, '2'), envelope(CREATE, 't', 0, '1')];
    orderEnvelopes(handlers, input);
    assert.deepStrictEqual(order(input), [`${CREATE}@t/0/2`, `${CREATE}@t/0/1`]);
  });
});

describe('pass: handlerTable', () => {
  it('maps every catalog record type to its handler', () => {
    const table = handlerTable();
    assert.equal(table.get(CREATE)?.stage, 'catalog');
    assert.equal(table.get(GET)?.stage, 'catalog');
  });

  it('refuses two projections that decide one record type, naming it', () => {
    assert.throws(() => handlerTable([inStage('test.Twice', 'system'), inStage('test.Twice', 'queries')]), /test\.Twice is decided by two projections/);
  });
});

describe('state: nextHybrid', () => {
  const T = 1_700_000_000_000;

  it('puts the physical time in ms above 18 logical bits', () => {
    assert.equal(LOGICAL_BITS, 18n);
    assert.equal(nextHybrid(0n, T), BigInt(T) << 18n);
    assert.equal(nextHybrid(0n, T) >> 18n, BigInt(T));
  });

  it('counts up the logical part while the log time stands still', () => {
    const first = nextHybrid(0n, T);
    assert.equal(nextHybrid(first, T), first + 1n);
  });

  it('counts up the logical part when the log time goes back', () => {
    const first = nextHybrid(0n, T);
    assert.equal(nextHybrid(first, T - 5_000), first + 1n);
  });

  it('returns to the physical time, logical part zero, once the log time moves past', () => {
    const ticked = nextHybrid(nextHybrid(0n, T), T);
    assert.equal(nextHybrid(ticked, T + 1), BigInt(T + 1) << 18n);
  });

  it('is strictly increasing over any sequence of log times', () => {
    let prev = 0n;
    for (const ms of [T, T, T - 1, T + 1, T + 1, 0, T + 2, T + 2]) {
      const next = nextHybrid(prev, ms);
      assert.ok(next > prev, `nextHybrid(${prev}, ${ms}) = ${next} is not past ${prev}`);
      prev = next;
    }
  });
});
