import { strict as assert } from 'node:assert';
import { ORACLE } from '../../projections/model';
import { LOGICAL_BITS } from '../../projections/system/hybrid';
import { MAX_IDS, MAX_TIMESTAMPS } from '../../projections/system/allocators';
import { allocIds, allocTimestamps, createLogicalSource, given, T0, type Step, type Then } from '../support/given';

interface Range {
  readonly first: bigint;
  readonly count: number;
}

const range = (t: Then, type: string): Range => {
  t.thenReplies('OK');
  const payload = t.decision.reply?.payload;
  assert.equal(payload?.type, type);
  return payload.value as unknown as Range;
};
const ids = (t: Then): Range => range(t, 'coord.v1.IdRange');
const timestamps = (t: Then): Range => range(t, 'coord.v1.TimestampRange');
const last = (r: Range): bigint => r.first + BigInt(r.count) - 1n;

describe('system: AllocIds', () => {
  it('hands out the first range from 1', () => assert.deepStrictEqual(ids(given().when(allocIds(10))), { first: 1n, count: 10 }));

  it('starts each range after the last one handed out', () => assert.deepStrictEqual(ids(given([allocIds(10), allocIds(5)]).when(allocIds(3))), { first: 16n, count: 3 }));

  it('never hands out an id twice over many requests', () => {
    const seen = new Set<bigint>();
    const history: Step[] = [];
    for (const count of [1, 7, 1, 100, 3]) {
      const r = ids(given(history).when(allocIds(count)));
      for (let i = 0n; i < BigInt(r.count); i++) {
        assert.ok(!seen.has(r.first + i), `id ${r.first + i} handed out twice`);
        seen.add(r.first + i);
      }
      history.push(allocIds(count));
    }
    assert.equal(seen.size, 112);
  });

  it('keeps its high-water mark in the state, written with the reply', () =>
    given([allocIds(10)])
      .when(allocIds(5))
      .thenState(ORACLE, 'ids', { next: '16' }));

  it('hands out the most it allows in one range', () => assert.deepStrictEqual(ids(given().when(allocIds(MAX_IDS))), { first: 1n, count: MAX_IDS }));

  for (const count of [0, -1, 1.5, MAX_IDS + 1])
    it(`refuses a count of ${count} with INVALID_ARGUMENT, naming the bounds`, () =>
      given()
        .when(allocIds(count))
        .thenReplies('INVALID_ARGUMENT', `between 1 and ${MAX_IDS}`, String(count))
        .thenChanges(0));
});

describe('system: AllocTimestamps', () => {
  it('hands out timestamps after the snapshot that applies the request', () => {
    const t = given().when(allocTimestamps(3));
    assert.ok(timestamps(t).first > t.ctx.snapshotTs, 'the first timestamp is after the snapshot’s');
  });

  it('hands out hybrid timestamps: the log time in ms above the logical bits', () => {
    const r = timestamps(given().when(allocTimestamps(1)));
    assert.equal(r.first >> LOGICAL_BITS, BigInt(T0));
  });

  it('starts each range after every timestamp handed out before', () => {
    const first = timestamps(given().when(allocTimestamps(100)));
    const second = timestamps(given([allocTimestamps(100)]).when(allocTimestamps(5)));
    assert.ok(second.first > last(first), `${second.first} is not after ${last(first)}`);
  });

  it('never goes back when the log time does', () => {
    const first = timestamps(given([createLogicalSource('x', undefined, { timestampMs: T0 + 60_000 })]).when(allocTimestamps(10)));
    const second = timestamps(given([createLogicalSource('x', undefined, { timestampMs: T0 + 60_000 }), allocTimestamps(10)]).when(allocTimestamps(1, { timestampMs: T0 })));
    assert.ok(second.first > last(first));
  });

  it('gives every later snapshot a timestamp after the ones handed out', async () => {
    const before = timestamps(given().when(allocTimestamps(MAX_TIMESTAMPS)));
    const pass = await given([allocTimestamps(MAX_TIMESTAMPS)]).whenInOnePass([createLogicalSource('cars')]);
    assert.ok(pass.result.meta.ts > last(before), `snapshot ts ${pass.result.meta.ts} is not after ${last(before)}`);
  });

  it('hands out the most it allows in one range', () => assert.equal(timestamps(given().when(allocTimestamps(MAX_TIMESTAMPS))).count, MAX_TIMESTAMPS));

  for (const count of [0, MAX_TIMESTAMPS + 1])
    it(`refuses a count of ${count} with INVALID_ARGUMENT`, () =>
      given()
        .when(allocTimestamps(count))
        .thenReplies('INVALID_ARGUMENT', `between 1 and ${MAX_TIMESTAMPS}`)
        .thenChanges(0));
});
