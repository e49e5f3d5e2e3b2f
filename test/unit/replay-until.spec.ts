import { strict as assert } from 'node:assert';
import { diffEntities } from '../../src/engine/inspect';
import type { Marker } from '../../src/engine/markers';
import { decodeStop, encodeStop, markersUntil, type ReplayStop } from '../../src/engine/replay-stop';
import { parseUntil } from '../../src/cli/replay';
import { UsageError } from '../../src/cli/commands';

const marker = (id: bigint, ts: bigint): Marker => ({
  offset: id - 1n,
  generation: 1,
  snapshotId: id,
  snapshotTs: ts,
  digest: `d${id}`,
  inputs: [{ topic: 'p.requests.catalog', partition: 0, fromOffset: id * 10n, toOffset: id * 10n + 9n }],
  records: 10,
  logicVersion: 1,
  rejected: [],
});

// Snapshots 1..5 at hybrid timestamps 100, 200, ..., 500.
const chain = [1n, 2n, 3n, 4n, 5n].map((id) => marker(id, id * 100n));
const ids = (ms: readonly Marker[]): bigint[] => ms.map((m) => m.snapshotId);

const entries = (o: Record<string, unknown>): AsyncIterable<readonly [string, Buffer]> => ({
  async *[Symbol.asyncIterator]() {
    for (const k of Object.keys(o).sort()) yield [k, Buffer.from(JSON.stringify(o[k]))] as const;
  },
});

describe('replay --until: the point and the markers up to it', () => {
  it('reads a small whole number as a snapshot id', () => assert.deepEqual(parseUntil('42'), { kind: 'snapshot', snapshotId: 42n }));

  it('reads a whole number from the hybrid timestamp of 2000-01-01 on as a hybrid timestamp', () => {
    const ts = BigInt(Date.UTC(2026, 10, 21)) << 18n;
    assert.deepEqual(parseUntil(ts.toString()), { kind: 'ts', ts });
  });

  it('reads an ISO-8601 time as the hybrid timestamp of its first instant, as --as-of does', () =>
    assert.deepEqual(parseUntil('2026-11-21T15:07:58Z'), { kind: 'ts', ts: BigInt(Date.parse('2026-11-21T15:07:58Z')) << 18n }));

  it('refuses anything else with a usage error that names the forms', () => {
    for (const bad of ['-3', '1e9', 'yesterday', '0', '2026-13-45T99:00:00Z']) assert.throws(() => parseUntil(bad), UsageError, bad);
  });

  it('keeps the snapshots up to an id, and names the next one', () => {
    const { within, next } = markersUntil(chain, { kind: 'snapshot', snapshotId: 3n });
    assert.deepEqual(ids(within), [1n, 2n, 3n]);
    assert.equal(next?.snapshotId, 4n);
  });

  it('keeps the snapshots taken at or before a timestamp', () => {
    assert.deepEqual(ids(markersUntil(chain, { kind: 'ts', ts: 300n }).within), [1n, 2n, 3n]);
    assert.deepEqual(ids(markersUntil(chain, { kind: 'ts', ts: 399n }).within), [1n, 2n, 3n]);
  });

  it('keeps every snapshot for a point past the end of the log, with none next', () => {
    const { within, next } = markersUntil(chain, { kind: 'ts', ts: 10_000n });
    assert.deepEqual(ids(within), [1n, 2n, 3n, 4n, 5n]);
    assert.equal(next, undefined);
  });

  it('keeps none for a point before the first snapshot', () => assert.deepEqual(ids(markersUntil(chain, { kind: 'ts', ts: 99n }).within), []));

  it('keeps the stop record of a folder as it was written', () => {
    const stop: ReplayStop = {
      target: { kind: 'ts', ts: 350n },
      reason: 'until',
      snapshotId: 3n,
      snapshotTs: 300n,
      logTimeMs: 1_700_000_000_000,
      digest: 'ab'.repeat(32),
      inputs: chain[2].inputs,
      next: { snapshotId: 4n, snapshotTs: 400n },
      verified: true,
      logicVersion: 1,
      replayedAtMs: 1_700_000_001_000,
    };
    assert.deepEqual(decodeStop(encodeStop(stop)), stop);
  });
});

describe('inspect diff: the entities that differ between two folders', () => {
  it('names what was added, removed and changed, with the fields that changed, in key order', async () => {
    const from = { 's/logical-source/bikes': { name: 'bikes' }, 's/logical-source/cars': { name: 'cars', n: 1 }, 's/sink/out': { name: 'out' } };
    const to = { 's/logical-source/cars': { name: 'cars', n: 2 }, 's/query/q1': { name: 'q1' }, 's/sink/out': { name: 'out' } };
    const d = await diffEntities(entries(from), entries(to));
    assert.deepEqual(
      d.map((x) => [x.entity, x.key, x.change, x.fields]),
      [
        ['logical-source', 'bikes', 'removed', []],
        ['logical-source', 'cars', 'changed', ['n']],
        ['query', 'q1', 'added', []],
      ],
    );
  });

  it('finds nothing between equal folders', async () => {
    const same = { 's/logical-source/cars': { name: 'cars' }, 's/oracle/ids': { next: '5' } };
    assert.deepEqual(await diffEntities(entries(same), entries(same)), []);
  });
});
