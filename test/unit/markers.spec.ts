import { strict as assert } from 'node:assert';
import { CoordError } from '../../src/errors';
import { trustMarkers, type ChainStart, type MarkerRecord } from '../../src/engine/markers';
import { checkDigest, ProofChain } from '../../src/engine/logic-version';
import { encodeMeta, readLineage } from '../../src/engine/state';

const INPUT = 'p.requests.catalog';

interface Spec {
  readonly id: bigint;
  readonly generation?: string | null;
  /** The input range on partition 0; by default ten offsets per snapshot, one after the other. */
  readonly range?: readonly [bigint, bigint];
  readonly digest?: string;
}

let nextOffset = 0n;

/** A marker record as the coordinator publishes it, unless the spec says otherwise. */
const marker = (s: Spec, offset = nextOffset++): MarkerRecord => {
  const [from, to] = s.range ?? [(s.id - 1n) * 10n, (s.id - 1n) * 10n + 9n];
  const generation = s.generation === undefined ? '1' : s.generation;
  return {
    offset,
    headers: generation === null ? {} : { generation },
    decoded: {
      schemaId: 7,
      fullName: 'coord.v1.SnapshotMarker',
      value: { snapshotId: s.id, snapshotTs: s.id << 18n, logTimeMs: 0n, digest: s.digest ?? `d${s.id}`, inputs: [{ topic: INPUT, partition: 0, fromOffset: from, toOffset: to }], records: 1, changes: 0 },
    },
  };
};

const garbage = (code: 'WIRE_MALFORMED' | 'SCHEMA_UNKNOWN' | 'SCHEMA_REGISTRY' = 'WIRE_MALFORMED'): MarkerRecord => ({
  offset: nextOffset++,
  headers: { generation: '1' },
  error: new CoordError(code, `cannot decode (${code})`),
});

const other = (): MarkerRecord => ({
  offset: nextOffset++,
  headers: { generation: '1' },
  decoded: { schemaId: 3, fullName: 'coord.v1.Reply', value: { correlationId: 'x', status: 'OK' } },
});

const chain = (ids: readonly number[]): MarkerRecord[] => ids.map((id) => marker({ id: BigInt(id) }));

const FROM_START: ChainStart = { fromBeginning: true };

const ids = (records: readonly MarkerRecord[], start: ChainStart = FROM_START): string[] => trustMarkers(records, start).markers.map((m) => m.snapshotId.toString());

/** The one skipped record's reason, asserting there is exactly one, at `offset`. */
const onlySkip = (records: readonly MarkerRecord[], offset: bigint, start: ChainStart = FROM_START): string => {
  const { skipped } = trustMarkers(records, start);
  assert.deepEqual(
    skipped.map((s) => s.offset),
    [offset],
    `one record skipped: ${JSON.stringify(skipped, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`,
  );
  return skipped[0].reason;
};

describe('markers: trustMarkers', () => {
  beforeEach(() => (nextOffset = 0n));

  it('passes a clean chain through unchanged, with offsets and generations from the records', () => {
    const records = [marker({ id: 1n }), marker({ id: 2n }), marker({ id: 3n, generation: '2' })];
    const { markers, skipped } = trustMarkers(records, FROM_START);
    assert.deepEqual(skipped, []);
    assert.deepEqual(
      markers.map((m) => [m.snapshotId, m.offset, m.generation, m.digest, m.inputs[0].fromOffset, m.inputs[0].toOffset]),
      [
        [1n, 0n, 1, 'd1', 0n, 9n],
        [2n, 1n, 1, 'd2', 10n, 19n],
        [3n, 2n, 2, 'd3', 20n, 29n],
      ],
    );
  });

  it('returns nothing, and skips nothing, for an empty topic', () => {
    assert.deepEqual(trustMarkers([], FROM_START), { markers: [], skipped: [] });
  });

  it('skips garbage bytes with the decode error as the reason, and goes on', () => {
    const records = [marker({ id: 1n }), garbage('WIRE_MALFORMED'), marker({ id: 2n }), garbage('SCHEMA_UNKNOWN')];
    const { markers, skipped } = trustMarkers(records, FROM_START);
    assert.deepEqual(markers.map((m) => m.snapshotId), [1n, 2n]);
    assert.deepEqual(skipped.map((s) => s.offset), [1n, 3n]);
    assert.match(skipped[0].reason, /does not decode \(WIRE_MALFORMED\)/);
    assert.match(skipped[1].reason, /does not decode \(SCHEMA_UNKNOWN\)/);
  });

  it('throws, rather than skips, when the registry did not answer: that is not the record\'s fault', () => {
    assert.throws(() => trustMarkers([marker({ id: 1n }), garbage('SCHEMA_REGISTRY')], FROM_START), (err: CoordError) => err.code === 'SCHEMA_REGISTRY');
  });

  it('skips a record of another type', () => {
    assert.match(onlySkip([marker({ id: 1n }), other(), marker({ id: 2n })], 1n), /is a coord\.v1\.Reply, not a coord\.v1\.SnapshotMarker/);
  });

  it('skips a marker without a generation header', () => {
    const records = [marker({ id: 1n }), marker({ id: 2n, generation: null }), marker({ id: 2n })];
    assert.match(onlySkip(records, 1n), /no generation header/);
    assert.deepEqual(ids(records), ['1', '2']);
  });

  for (const bad of ['0', '-1', 'abc', '1.5', ' 1', '9007199254740993', '1e3', ''])
    it(`skips a marker whose generation header is ${JSON.stringify(bad)}`, () => {
      assert.match(onlySkip([marker({ id: 1n }), marker({ id: 2n, generation: bad })], 1n), /generation header .* not a positive integer/);
    });

  it('skips a forged marker with id 2^62 and keeps the chain going after it', () => {
    const records = [marker({ id: 1n }), marker({ id: 2n ** 62n, range: [10n, 19n] }), marker({ id: 2n })];
    assert.match(onlySkip(records, 1n), /snapshot 4611686018427387904 does not follow snapshot 1/);
    assert.deepEqual(ids(records), ['1', '2']);
  });

  it('skips a forged marker with id 2^62 when it is the first record after the known snapshot', () => {
    const records = [marker({ id: 2n ** 62n }, 40n), marker({ id: 6n }, 41n)];
    const start = { knownSnapshotId: 5n, fromBeginning: false };
    assert.match(onlySkip(records, 40n, start), /does not follow the known snapshot 5/);
    assert.deepEqual(ids(records, start), ['6']);
  });

  it('skips a marker after a gap, and every one after it that does not follow the chain', () => {
    const records = chain([1, 2, 4, 5]);
    const { markers, skipped } = trustMarkers(records, FROM_START);
    assert.deepEqual(markers.map((m) => m.snapshotId), [1n, 2n]);
    assert.deepEqual(skipped.map((s) => s.offset), [2n, 3n]);
    assert.match(skipped[0].reason, /snapshot 4 does not follow snapshot 2/);
  });

  it('requires snapshot 1 first when reading from the beginning with nothing known', () => {
    assert.match(onlySkip(chain([2]), 0n), /snapshot 2 opens the topic, where snapshot 1 must/);
  });

  it('names the marker that opens a topic whose first snapshots were deleted, and nothing when snapshot 1 opens it', () => {
    const truncated = chain([2, 3]);
    const { markers, opensPastStart } = trustMarkers(truncated, FROM_START);
    assert.deepEqual(markers, []);
    assert.deepEqual(opensPastStart, { offset: truncated[0].offset, snapshotId: 2n });
    assert.equal(trustMarkers(chain([1, 2]), FROM_START).opensPastStart, undefined);
    assert.equal(trustMarkers(chain([7, 8]), { fromBeginning: false }).opensPastStart, undefined);
  });

  it('trusts the first marker as the start when reading from an offset with nothing known', () => {
    assert.deepEqual(ids(chain([7, 8, 9]), { fromBeginning: false }), ['7', '8', '9']);
  });

  it('heads the chain with the known marker when it is read, and continues from it', () => {
    const records = [marker({ id: 5n }), marker({ id: 6n }), marker({ id: 7n })];
    assert.deepEqual(ids(records, { knownSnapshotId: 5n, fromBeginning: false }), ['5', '6', '7']);
  });

  it('checks the marker after the known one against the known one\'s ranges', () => {
    const records = [marker({ id: 5n, range: [40n, 49n] }), marker({ id: 6n, range: [45n, 59n] })];
    assert.match(onlySkip(records, 1n, { knownSnapshotId: 5n, fromBeginning: false }), /starts at 45, not past offset 49/);
  });

  it('drops a duplicate (an outbox published again) without reporting it as skipped', () => {
    const records = [marker({ id: 1n }), marker({ id: 2n }), marker({ id: 3n }), marker({ id: 2n, generation: '2' }), marker({ id: 4n, generation: '2' })];
    const { markers, skipped } = trustMarkers(records, FROM_START);
    assert.deepEqual(skipped, []);
    assert.deepEqual(markers.map((m) => [m.snapshotId, m.offset]), [[1n, 0n], [2n, 1n], [3n, 2n], [4n, 4n]], 'the first copy is kept');
  });

  it('drops markers at or below the known snapshot silently', () => {
    const records = [marker({ id: 3n }), marker({ id: 4n }), marker({ id: 5n })];
    const { markers, skipped } = trustMarkers(records, { knownSnapshotId: 4n, fromBeginning: false });
    assert.deepEqual(skipped, []);
    assert.deepEqual(markers.map((m) => m.snapshotId), [4n, 5n]);
  });

  it('skips a marker with a trusted id but another digest: it is no copy of the coordinator\'s', () => {
    const records = [marker({ id: 1n }), marker({ id: 2n }), marker({ id: 1n, digest: 'forged' })];
    assert.match(onlySkip(records, 2n), /snapshot 1 differs from the trusted marker at offset 0/);
  });

  it('skips a marker whose input range goes backwards on a partition', () => {
    const records = [marker({ id: 1n, range: [0n, 9n] }), marker({ id: 2n, range: [10n, 19n] }), marker({ id: 3n, range: [15n, 29n] }), marker({ id: 3n, range: [20n, 29n] })];
    assert.match(onlySkip(records, 2n), /input p\.requests\.catalog\[0\] starts at 15, not past offset 19/);
    assert.deepEqual(ids(records), ['1', '2', '3']);
  });

  it('skips a marker whose input range is empty or negative', () => {
    assert.match(onlySkip([marker({ id: 1n, range: [9n, 3n] }, 0n)], 0n), /has the range 9\.\.3/);
    assert.match(onlySkip([marker({ id: 1n, range: [-5n, 3n] }, 0n)], 0n), /has the range -5\.\.3/);
  });

  it('skips a marker with a lower generation than the one before it', () => {
    const records = [marker({ id: 1n, generation: '3' }), marker({ id: 2n, generation: '2' }), marker({ id: 2n, generation: '3' })];
    assert.match(onlySkip(records, 1n), /generation 2 is below generation 3 of snapshot 1/);
    assert.deepEqual(ids(records), ['1', '2']);
  });

  it('keeps a long reason bounded', () => {
    const long = { ...other(), decoded: { schemaId: 3, fullName: `x.${'a'.repeat(10_000)}`, value: {} } };
    const reason = onlySkip([long], 0n);
    assert.ok(reason.length < 300, `reason is ${reason.length} characters`);
  });
});

describe('snapshot markers: who wrote them', () => {
  const by = (r: MarkerRecord, producerId: string, inTransaction = true): MarkerRecord => ({ ...r, writer: { producerId, inTransaction } });

  it('skips a marker that was not written in a transaction', () => {
    const records = [by(marker({ id: 1n }), '7'), by(marker({ id: 2n }), '9', false)];
    assert.match(onlySkip(records, records[1].offset), /not written in a transaction/);
  });

  it('trusts the real marker over a forged one that came first under another producer', () => {
    const real1 = by(marker({ id: 1n }), '7');
    const forged = by(marker({ id: 2n, digest: 'forged', range: [10n, 10n] }), '9');
    const real2 = by(marker({ id: 2n }), '7');
    const { markers, skipped } = trustMarkers([real1, forged, real2], FROM_START);
    assert.deepStrictEqual(
      markers.map((m) => m.digest),
      ['d1', 'd2'],
    );
    assert.deepStrictEqual(
      skipped.map((s) => s.offset),
      [forged.offset],
    );
  });

  it('accepts a new producer id with a new activation (a transactional id that expired)', () =>
    assert.deepStrictEqual(ids([by(marker({ id: 1n }), '7'), by(marker({ id: 2n, generation: '2' }), '8')]), ['1', '2']));
});

describe('logic versions on markers', () => {
  it('reads a marker written before the version was recorded as version 1, and a recorded one as it is', () => {
    const old = marker({ id: 1n });
    const recorded = marker({ id: 2n });
    if (!('decoded' in recorded)) throw new Error('a decoded marker');
    const v = recorded.decoded.value as Record<string, unknown>;
    const newer: MarkerRecord = { ...recorded, decoded: { ...recorded.decoded, value: { ...v, logicVersion: 2 } } };
    assert.deepEqual(
      trustMarkers([old, newer], FROM_START).markers.map((m) => m.logicVersion),
      [1, 2],
    );
  });

  it('proves a digest only to a fold of the same version', () => {
    assert.equal(checkDigest({ digest: 'aa', logicVersion: 3 }, 'aa', 3), 'proven');
    assert.equal(checkDigest({ digest: 'aa', logicVersion: 3 }, 'bb', 3), 'diverged');
    assert.equal(checkDigest({ digest: 'aa', logicVersion: 2 }, 'bb', 3), 'other-version', 'another version decides again; its digest says nothing');
    assert.equal(checkDigest({ digest: 'aa', logicVersion: 2 }, 'aa', 3), 'proven', 'equal digests are equal states, whatever the versions');
    assert.equal(checkDigest({ digest: 'aa', logicVersion: 3 }, 'bb', 3, false), 'unprovable', 'folded on a state another version decided: not a divergence');
    assert.equal(checkDigest({ digest: 'aa', logicVersion: 3 }, 'aa', 3, false), 'proven', 'a match proves the state again');
  });

  it('proves along a chain only on a proven base, and again after a match', () => {
    const fresh = new ProofChain(undefined);
    assert.equal(fresh.baseProven(), true, 'an empty store is the log\'s state before snapshot 1');
    fresh.folded('proven');
    assert.equal(fresh.baseProven(), true);
    fresh.folded('other-version');
    assert.equal(fresh.baseProven(), false, 'another version decided it: the state may differ from the log\'s');
    fresh.folded('unprovable');
    assert.equal(fresh.baseProven(), false, 'a state not proven stays unproven');
    fresh.folded('proven');
    assert.equal(fresh.baseProven(), true, 'until a digest matches again');
    assert.equal(new ProofChain({ logicVersion: 1, proven: false }).baseProven(), false, 'a store its meta records as unproven');
    assert.equal(new ProofChain({ logicVersion: 1, proven: true }).baseProven(), true);
  });

  it('records a store\'s lineage with its meta: version 1 and proven when a meta predates it', () => {
    const meta = { id: 3n, ts: 5n, logTimeMs: 7, digest: 0n };
    assert.deepEqual(readLineage(encodeMeta(meta, { logicVersion: 4, proven: false })), { logicVersion: 4, proven: false });
    assert.deepEqual(readLineage(encodeMeta(meta, { logicVersion: 4, proven: true })), { logicVersion: 4, proven: true });
    assert.deepEqual(readLineage(Buffer.from(JSON.stringify({ id: '3', ts: '5', logTimeMs: 7, digest: '00' }))), { logicVersion: 1, proven: true });
  });
});
