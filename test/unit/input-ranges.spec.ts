import { strict as assert } from 'node:assert';
import type { RawRecord } from '../../src/engine/decode';
import { inputRanges } from '../../src/engine/pass';
import { seeded } from '../support/random';

const at = (topic: string, partition: number, offset: number): RawRecord => ({ topic, partition, offset: String(offset), key: null, value: null, timestamp: '0' });

/** The rule said plainly: per partition, the lowest and highest offset, sorted by topic then partition. */
const plainly = (batch: readonly RawRecord[]) => {
  const by = new Map<string, bigint[]>();
  for (const r of batch) {
    const k = JSON.stringify([r.topic, r.partition]);
    by.set(k, [...(by.get(k) ?? []), BigInt(r.offset)]);
  }
  return [...by]
    .map(([k, offs]) => {
      const [topic, partition] = JSON.parse(k) as [string, number];
      return { topic, partition, fromOffset: offs.reduce((a, b) => (b < a ? b : a)), toOffset: offs.reduce((a, b) => (b > a ? b : a)) };
    })
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
};

describe('inputRanges: the offsets a pass folded, per partition', () => {
  it('agrees with the rule said plainly on batches of interleaved runs, offsets out of order and offsets of different lengths', () => {
    const draw = seeded(11);
    const next = (n: number): number => Math.floor(draw() * n);
    const lanes = ['t:0', 't:1', 'u:0', 'u:10', 'v:2'];
    let runs = 0;
    for (let round = 0; round < 2_000; round++) {
      const batch: RawRecord[] = [];
      for (let i = next(60); i > 0; i--) {
        const [topic, p] = lanes[next(lanes.length)].split(':');
        const partition = Number(p);
        // Runs of one partition, now and then an offset out of order, around 99 -> 100 and 999 -> 1000 (string lengths).
        const base = [5, 95, 995][next(3)];
        for (let n = 1 + next(6); n > 0; n--) batch.push(at(topic, partition, base + next(12)));
        runs++;
      }
      assert.deepStrictEqual(inputRanges(batch), plainly(batch), `round ${round}`);
    }
    assert.ok(runs > 50_000);
  });

  it('reads nothing of an empty batch', () => {
    assert.deepStrictEqual(inputRanges([]), []);
  });
});
