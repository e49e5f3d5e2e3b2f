import { strict as assert } from 'node:assert';
import { LOGICAL_SOURCE, ORACLE, SINK } from '../../projections/model';
import { changelogTables, changelogTopic, changelogTopicSpecs, envelopeValue, typedValue, withChangelogEnvelopes } from '../../src/messaging/changelog';
import { Holes, rebuildTable, type TableRecord } from '../../src/messaging/changelog-table';
import { H } from '../../src/messaging/headers';
import { subjectOf } from '../../src/messaging/protocol';
import { loadContracts } from '../../src/messaging/schemas';
import { decodeOutbox, encodeOutbox, type OutRecord } from '../../src/store/outbox';
import {
  acquireReadHold,
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  dropLogicalSource,
  dropSink,
  field,
  given,
  sessionOpened,
  startQuery,
  tick,
  T0,
  workerHeartbeat,
  as,
  registerPrincipalKey,
  workerRegistered,
  workerStatistics,
} from '../support/given';

const CONTRACTS = withChangelogEnvelopes(loadContracts());
const TABLES = changelogTables(CONTRACTS);
const SOURCE = { version: 'coord.v1', connector: 'coord', name: 'coord', ts_ms: 5n, snapshot_id: 2n, snapshot_ts: 9n, generation: 1, seq: 0 };

describe('the changelog as tables: typed images in Debezium’s envelope', () => {
  describe('schemas', () => {
    it('has a typed image for every entity type analytics reads, and none for the oracle', () =>
      assert.deepStrictEqual(
        [...TABLES.keys()].sort(),
        ['allocation', 'logical-source', 'physical-source', 'principal-key', 'query', 'read-hold', 'session', 'settings', 'sink', 'worker'],
        `and not ${ORACLE}`,
      ));

    it('derives for each image an envelope with before, after, op, source and ts_ms, in that order', () => {
      for (const t of TABLES.values()) {
        const schema = JSON.parse(CONTRACTS.get(t.envelopeName)?.text ?? '{}') as { fields: { name: string }[] };
        assert.deepStrictEqual(
          schema.fields.map((f) => f.name),
          ['before', 'after', 'op', 'source', 'ts_ms'],
          t.envelopeName,
        );
      }
    });

    it('documents every field of every image', () => {
      for (const t of TABLES.values()) {
        const walk = (s: { name?: string; doc?: string; fields?: { name: string; doc?: string; type: unknown }[] }): void => {
          for (const f of s.fields ?? []) {
            assert.ok((f.doc ?? '').length > 0, `${t.imageName}: field ${f.name} has no doc`);
            const inner = (Array.isArray(f.type) ? f.type : [f.type]).flatMap((x: unknown) => (typeof x === 'object' && x !== null && 'items' in x ? [(x as { items: unknown }).items] : [x]));
            for (const x of inner) if (typeof x === 'object' && x !== null && (x as { type?: string }).type === 'record') walk(x as never);
          }
        };
        const schema = JSON.parse(CONTRACTS.get(t.imageName)?.text ?? '{}') as never;
        assert.ok(((schema as { doc?: string }).doc ?? '').length > 0, `${t.imageName} has no doc`);
        walk(schema);
      }
    });

    it('registers each table’s envelope under <topic>-value, the subject ksqlDB and Connect look up', () =>
      assert.equal(subjectOf(changelogTopic('coord', 'worker'), 'coord.v1.changelog.WorkerEnvelope'), 'coord.changelog.worker-value'));

    it('keeps the other records under TopicRecordNameStrategy', () => assert.equal(subjectOf('coord.changelog', 'coord.v1.ChangelogRecord'), 'coord.changelog-coord.v1.ChangelogRecord'));

    it('creates every table’s topic compacted', () => {
      const specs = changelogTopicSpecs('coord', TABLES.values(), 3);
      assert.equal(specs.length, TABLES.size);
      for (const s of specs) {
        assert.match(s.topic, /^coord\.changelog\.[a-z-]+$/);
        assert.equal(s.numPartitions, 3);
        assert.deepStrictEqual(
          s.configEntries?.find((c) => c.name === 'cleanup.policy'),
          { name: 'cleanup.policy', value: 'compact' },
        );
      }
    });
  });

  describe('typed values', () => {
    const worker = TABLES.get('worker');
    if (worker === undefined) throw new Error('no worker table');

    it('turns hybrid timestamps kept as text into longs', () => {
      const v = typedValue(worker.image, { workerId: 'w', incarnation: 'i', host: 'h', slots: 2, capabilities: [], state: 'ACTIVE', lastHeartbeatMs: 7, registeredAtTs: '445566778899', statistics: null, goneAtMs: null }) as Record<string, unknown>;
      assert.equal(v.registeredAtTs, 445566778899n);
      assert.equal(v.lastHeartbeatMs, 7n);
    });

    it('gives a field an image lacks its default (an image written before the field was kept)', () => {
      const v = typedValue(worker.image, { workerId: 'w', incarnation: 'i', host: 'h', slots: 2, capabilities: [], state: 'ACTIVE', lastHeartbeatMs: 7, registeredAtTs: '1', statistics: null }) as Record<string, unknown>;
      assert.equal(v.goneAtMs, null);
    });

    it('keeps every key of a map, one named __proto__ included', () => {
      const statistics = JSON.parse('{"__proto__": 1, "cpu": 2}') as Record<string, number>;
      const v = typedValue(worker.image, { workerId: 'w', incarnation: 'i', host: 'h', slots: 2, capabilities: [], state: 'ACTIVE', lastHeartbeatMs: 7, registeredAtTs: '1', statistics, goneAtMs: null }) as {
        statistics: { map: Record<string, unknown> };
      };
      assert.deepStrictEqual(Object.keys(v.statistics.map), ['__proto__', 'cpu']);
    });

    it('refuses an image that lacks a field without a default, naming it', () =>
      assert.throws(() => typedValue(worker.image, { workerId: 'w' }), /has no incarnation/));

    it('says op c for a create, u for an update, d for a delete', () => {
      const image = { workerId: 'w', incarnation: 'i', host: 'h', slots: 2, capabilities: [], state: 'ACTIVE', lastHeartbeatMs: 7, registeredAtTs: '1', statistics: null, goneAtMs: null };
      assert.deepStrictEqual(
        [envelopeValue(worker, undefined, image, SOURCE).op, envelopeValue(worker, image, image, SOURCE).op, envelopeValue(worker, image, undefined, SOURCE).op],
        ['c', 'u', 'd'],
      );
    });
  });

  describe('the outbox', () => {
    it('keeps a tombstone’s null value apart from an empty one until it is published', () => {
      const records: OutRecord[] = [
        { topic: 't', key: 'k', value: null, headers: { seq: '0' } },
        { topic: 't', key: 'k', value: Buffer.alloc(0), headers: {} },
        { topic: 't', key: null, value: Buffer.from('x'), headers: {} },
      ];
      assert.deepStrictEqual(decodeOutbox(encodeOutbox(records)), records);
    });
  });

  describe('in a pass', () => {
    it('writes a created logical source as op c, no before, its typed image after, keyed by its name on its own topic', async () => {
      const t = await given().whenInOnePass([createLogicalSource('cars', [field('id', 'INT64'), field('speed', 'FLOAT64')])]);
      const [r, ...rest] = t.tables;
      assert.equal(rest.length, 0);
      assert.equal(r.topic, 'test-coord.changelog.logical-source');
      assert.equal(r.key, 'cars');
      assert.equal(r.type, 'coord.v1.changelog.LogicalSourceEnvelope');
      assert.equal(r.value.op, 'c');
      assert.equal(r.value.before, null);
      const after = (r.value.after as Record<string, Record<string, unknown>>)['coord.v1.changelog.LogicalSourceImage'];
      assert.deepStrictEqual(after.fields, [
        { name: 'id', type: 'INT64' },
        { name: 'speed', type: 'FLOAT64' },
      ]);
      assert.equal(typeof after.createdAtTs, 'bigint');
    });

    it('carries the snapshot id, its timestamp, the generation and the log time in source', async () => {
      const t = await given().whenInOnePass([createSink('out')]);
      const source = t.tables[0].value.source as Record<string, unknown>;
      assert.equal(source.snapshot_id, t.result.meta.id);
      assert.equal(source.snapshot_ts, t.result.meta.ts);
      assert.equal(source.generation, 1);
      assert.equal(source.ts_ms, BigInt(t.result.meta.logTimeMs));
      assert.equal(t.tables[0].value.ts_ms, source.ts_ms);
    });

    it('writes a drop as op d with the image before, then a tombstone under the same key', async () => {
      const t = await given([createSink('out')]).whenInOnePass([dropSink('out')]);
      assert.deepStrictEqual(
        t.tables.map((r) => [r.topic, r.key, r.type, r.value.op ?? null]),
        [
          ['test-coord.changelog.sink', 'out', 'coord.v1.changelog.SinkEnvelope', 'd'],
          ['test-coord.changelog.sink', 'out', 'tombstone', null],
        ],
      );
      assert.equal(t.tables[0].value.after, null);
      assert.equal((t.tables[0].value.before as Record<string, Record<string, unknown>>)['coord.v1.changelog.SinkImage'].name, 'out');
    });

    it('has the tombstone say its snapshot in headers, its id and its timestamp, so a reader as of a time can place it alone', async () => {
      const t = await given([createSink('out')]).whenInOnePass([dropSink('out')]);
      const tombstone = t.tables.find((r) => r.type === 'tombstone');
      assert.equal(tombstone?.headers[H.snapshotId], String(t.result.meta.id));
      assert.equal(tombstone?.headers[H.snapshotTs], String(t.result.meta.ts));
    });

    it('writes an update as op u with the images before and after', async () => {
      const t = await given([workerRegistered('w1', { slots: 2 })]).whenInOnePass([workerRegistered('w1', { slots: 4, incarnation: 'second' })]);
      const worker = t.tables.find((r) => r.topic.endsWith('.worker'));
      assert.equal(worker?.value.op, 'u');
      const image = (v: unknown): Record<string, unknown> => (v as Record<string, Record<string, unknown>>)['coord.v1.changelog.WorkerImage'];
      assert.deepStrictEqual([image(worker?.value.before).slots, image(worker?.value.after).slots], [2, 4]);
    });

    it('writes a heartbeat alone to the worker table, not to the legacy changelog', async () => {
      const t = await given([workerRegistered('w1', { timestampMs: T0 })]).whenInOnePass([workerHeartbeat('w1', { timestampMs: T0 + 1_000 }), workerHeartbeat('w1', { timestampMs: T0 + 2_000 })]);
      assert.deepStrictEqual(t.changelog, []);
      assert.deepStrictEqual(
        t.tables.map((r) => [r.topic, r.key, r.value.op]),
        [['test-coord.changelog.worker', 'w1', 'u']],
      );
      const after = (t.tables[0].value.after as Record<string, Record<string, unknown>>)['coord.v1.changelog.WorkerImage'];
      assert.equal(after.lastHeartbeatMs, BigInt(T0 + 2_000));
    });

    it('writes a heartbeat that brings a SUSPECT worker back to both changelogs', async () => {
      const t = await given([tick(T0), workerRegistered('w1', { timestampMs: T0 }), tick(T0 + 6_000)]).whenInOnePass([workerHeartbeat('w1', { timestampMs: T0 + 7_000 })]);
      assert.deepStrictEqual(t.changelog.map((r) => r.key), ['worker/w1']);
      assert.equal(t.tables.length, 1);
    });

    it('writes nothing to the tables for a sink created and dropped in one pass', async () =>
      assert.deepStrictEqual((await given().whenInOnePass([createSink('out'), dropSink('out')])).tables, []));

    it('writes a cascade as one d and one tombstone for each entity it removes', async () => {
      const t = await given([workerRegistered('w1'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), createQuery('q1')]).whenInOnePass([
        dropLogicalSource('cars', { cascade: true }),
      ]);
      const deleted = t.tables.filter((r) => r.type === 'tombstone').map((r) => `${r.topic.replace('test-coord.changelog.', '')}/${r.key}`);
      assert.deepStrictEqual(deleted.sort(), [`${LOGICAL_SOURCE}/cars`, 'physical-source/cars-w1', 'query/q1']);
      assert.equal(t.state.get(SINK, 'out') !== undefined, true, 'the sink stays');
    });

    it('encodes every entity of a busy deployment to its typed image (workers, a session, the catalog, a running query, allocations, a hold, settings)', async () => {
      const t = await given([
        tick(T0),
        workerRegistered('w1', { capabilities: ['gpu'] }),
        workerRegistered('w2'),
        workerStatistics('w1', { cpu: 0.5, rows: 12 }),
        sessionOpened('s1'),
        createLogicalSource('cars', [field('id', 'INT64')]),
        createPhysicalSource('cars-w1', 'cars', 'w1'),
        createSink('out'),
        createQuery('q1', { session: 's1' }),
        acquireReadHold('audit', as('alice')),
        registerPrincipalKey('alice-1', 'alice', ['frontend']),
      ]).whenInOnePass([startQuery('q1'), tick(T0 + 1_000, { maxAllocations: 500 })]);
      const seen = new Set<string>();
      for (const [entity, table] of TABLES) {
        for (const [key, image] of t.state.list(entity)) {
          const value = envelopeValue(table, undefined, image, SOURCE);
          const type = CONTRACTS.get(table.envelopeName)?.type;
          const back = type?.fromBuffer(type.toBuffer(value)) as Record<string, Record<string, Record<string, unknown>>>;
          assert.equal(back.after[table.imageName] !== undefined, true, `${entity}/${key}`);
          seen.add(entity);
        }
      }
      assert.deepStrictEqual([...seen].sort(), [...TABLES.keys()].sort());
    });
  });
});

describe('a changelog table rebuilt from its records, now or as of a time', () => {
  /** A record of key `key` at snapshot `id` (timestamp id × 10): a create, an update, a delete, or the delete's tombstone. */
  const rec = (key: string, op: 'c' | 'u' | 'd' | 'tombstone', id: number, more: Partial<TableRecord> = {}): TableRecord => {
    const at = { snapshotId: BigInt(id), snapshotTs: BigInt(id * 10) };
    if (op === 'tombstone') return { key, envelope: null, deletedIn: at, ...more };
    return { key, envelope: { op, before: op === 'c' ? null : { v: id - 1 }, after: op === 'd' ? null : { v: id }, generation: 1, ...at }, ...more };
  };
  const life = (key: string, from: number, to: number): TableRecord[] => [rec(key, 'c', from), rec(key, 'u', from + 1), rec(key, 'd', to), rec(key, 'tombstone', to)];
  const images = (records: TableRecord[], asOf?: number): Record<string, unknown> =>
    Object.fromEntries([...rebuildTable(records, asOf === undefined ? undefined : BigInt(asOf)).rows].map(([k, r]) => [k, r.image.v]));

  it('keeps each key’s newest image, forgets a deleted key, and ignores a record repeated by a re-published snapshot', () => {
    const records = [...life('gone', 1, 4), rec('a', 'c', 2), rec('a', 'u', 5), rec('a', 'c', 2), rec('b', 'c', 3)];
    assert.deepStrictEqual(images(records), { a: 5, b: 3 });
  });

  it('as of a time, on a whole log: every key as it was then, none unknown', () => {
    const records = [...life('x', 1, 6), rec('y', 'c', 3), rec('y', 'u', 7), rec('z', 'c', 8)];
    const t = rebuildTable(records, 50n);
    assert.deepStrictEqual(images(records, 50), { x: 2, y: 3 });
    assert.deepStrictEqual(t.unknownAsOf, []);
    assert.equal(t.removedAfterAsOf, false);
  });

  it('as of a time, names a key whose only record left is a later update, delete or tombstone', () => {
    // Compaction left y's update of snapshot 7, and only the tombstone of x (dropped in 6): what they were at 50 (snapshot 5) is gone.
    const t = rebuildTable([rec('x', 'tombstone', 6, { afterRemoved: true }), rec('y', 'u', 7, { afterRemoved: true })], 50n);
    assert.deepStrictEqual([...t.rows.keys()], []);
    assert.deepStrictEqual([...t.unknownAsOf].sort(), ['x', 'y']);
  });

  it('as of a time, places a tombstone left alone by its headers: a delete made by then leaves the key absent, and known', () => {
    const records = [rec('x', 'tombstone', 3, { afterRemoved: true }), rec('y', 'c', 4)];
    const t = rebuildTable(records, 50n);
    assert.deepStrictEqual(images(records, 50), { y: 4 });
    assert.deepStrictEqual(t.unknownAsOf, []);
    assert.equal(t.removedAfterAsOf, false, 'the records removed were older than the time asked');
  });

  it('as of a time, counts a tombstone that does not say its snapshot as made after it', () => {
    const t = rebuildTable([{ key: 'x', envelope: null, afterRemoved: true }], 50n);
    assert.deepStrictEqual(t.unknownAsOf, ['x']);
  });

  it('as of a time, takes a later create as proof of absence only where nothing written after that time was removed before it', () => {
    // Whole: z, created in snapshot 8, was absent at 50.
    assert.deepStrictEqual(rebuildTable([rec('a', 'c', 1), rec('z', 'c', 8)], 50n).unknownAsOf, []);
    // A hole after 50, before z's create: z may have lived at 50 and been dropped in 6, its records since compacted away.
    const records = [rec('a', 'c', 1), rec('a', 'u', 7, { afterRemoved: true }), rec('z', 'c', 8)];
    const t = rebuildTable(records, 50n);
    assert.deepStrictEqual(t.unknownAsOf, ['z'], 'a is known by its record of 1');
    assert.equal(t.removedAfterAsOf, true);
    assert.deepStrictEqual(images(records, 50), { a: 1 });
  });

  it('as of a time, counts a hole at a partition’s end as records removed after it', () => {
    const t = rebuildTable([rec('a', 'c', 1)], 50n, { holesAtEnd: [0] });
    assert.deepStrictEqual(images([rec('a', 'c', 1)], 50), { a: 1 });
    assert.equal(t.removedAfterAsOf, true);
  });

  it('as of a time no record since can have been removed by (the topic’s compaction lag), reads every hole as older', () => {
    const records = [rec('a', 'c', 1), rec('a', 'u', 7, { afterRemoved: true }), rec('z', 'c', 8)];
    const recent = rebuildTable(records, 50n, { holesAtEnd: [0], removableBeforeTs: 50n });
    assert.deepStrictEqual(recent.unknownAsOf, []);
    assert.equal(recent.removedAfterAsOf, false);
    const older = rebuildTable(records, 49n, { holesAtEnd: [0], removableBeforeTs: 50n });
    assert.deepStrictEqual(older.unknownAsOf, ['z']);
    assert.equal(older.removedAfterAsOf, true);
  });

  it('keeps holes to their own partition', () => {
    const t = rebuildTable([rec('a', 'u', 7, { partition: 0, afterRemoved: true }), rec('z', 'c', 8, { partition: 1 })], 50n);
    assert.deepStrictEqual(t.unknownAsOf, ['a']);
    assert.equal(t.removedAfterAsOf, true);
  });
});

describe('the holes compaction leaves in a partition’s offsets', () => {
  const ends = [
    { partition: 0, low: '0', high: '10' },
    { partition: 1, low: '4', high: '6' },
  ];

  it('sees none in offsets that follow each other, markers’ and aborted records’ included', () => {
    const h = new Holes(ends);
    for (const o of [0n, 1n, 2n]) h.found(0, o);
    assert.equal(h.take(0), false);
    h.found(0, 3n, 9n);
    assert.equal(h.take(0), false);
    assert.deepStrictEqual(h.atEnd(ends.slice(0, 1)), []);
  });

  it('sees one where offsets jump, reports it once, on the next record kept', () => {
    const h = new Holes(ends);
    h.found(0, 0n);
    h.found(0, 3n);
    h.found(0, 4n);
    assert.equal(h.take(0), true);
    assert.equal(h.take(0), false);
  });

  it('sees one before a fetch of only markers that starts late, and none after one that runs on', () => {
    const h = new Holes(ends);
    h.found(0, 0n);
    h.found(0, 2n, 5n);
    h.found(0, 6n);
    assert.equal(h.take(0), true);
    h.found(0, 7n, 8n);
    h.found(0, 9n);
    assert.equal(h.take(0), false);
  });

  it('takes a fetch of only markers and aborted records that spans more than one offset for a hole: what lies between is not known', () => {
    const h = new Holes(ends);
    h.found(0, 0n);
    h.found(0, 1n);
    h.suspect(0);
    h.found(0, 2n);
    assert.equal(h.take(0), true);
  });

  it('sees one where a log starts above 0 (records deleted below it)', () => {
    const h = new Holes(ends);
    h.found(1, 4n);
    assert.equal(h.take(1), true);
  });

  it('sees one at the end of a partition not read to its end, or whose last records were removed', () => {
    const h = new Holes(ends);
    h.found(0, 0n, 7n);
    assert.deepStrictEqual(h.shortOf(ends.slice(0, 1)), [{ partition: 0, readTo: 8n, end: 10n }]);
    assert.deepStrictEqual(h.atEnd(ends.slice(0, 1)), [0]);
    h.found(0, 9n);
    assert.deepStrictEqual(h.shortOf(ends.slice(0, 1)), []);
    assert.deepStrictEqual(h.atEnd(ends.slice(0, 1)), [0], 'offset 8 is missing, and no record came after it');
  });
});
