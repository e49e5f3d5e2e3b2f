import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LOGICAL_SOURCE } from '../../projections/model';
import { loadChecked, scrubStore } from '../../src/engine/activation';
import { createFold } from '../../src/engine/fold';
import { loadState, readThroughOf } from '../../src/engine/load';
import { GENESIS, StateMiss, WorkingState, type SnapshotMeta } from '../../src/engine/state';
import { changelogTables, withChangelogEnvelopes } from '../../src/messaging/changelog';
import { loadContracts } from '../../src/messaging/schemas';
import { TOPIC_KINDS, topicName } from '../../src/messaging/topics';
import { silentLogger } from '../../src/log';
import { openStore, type Store } from '../../src/store/rocks';
import { stateKey } from '../../src/store/keys';
import { TermCache } from '../../src/store/digest';
import type { Image } from '../../projections';
import {
  acquireReadHold,
  clockTick,
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  dropLogicalSource,
  dropSink,
  getLogicalSource,
  getSink,
  listLogicalSources,
  listSinks,
  memoryCodec,
  PREFIX,
  T0,
  toRecords,
  updateSettings,
  workerHeartbeat,
  workerRegistered,
  type AnyMessage,
} from '../support/given';

// The coordinator reads logical sources and sinks through RocksDB (a bounded cache, their history
// in the store alone); a replay target or an inspection holds everything in memory. Both must fold
// the same log to the same bytes: this drives one log through both, with a cache of one image.

const options = { topicPrefix: PREFIX, kindOf: (t: string) => TOPIC_KINDS.find((k) => topicName(PREFIX, k) === t), changelogTables: changelogTables(withChangelogEnvelopes(loadContracts())) };
const CACHE = 1;

/** The read-through index's keys: r/ entries and the snapshot they are whole to. */
const isIndex = (k: string): boolean => k.startsWith('r/') || k === 'm/history-index';

/** Every entry of a store but the read-through index, in key order. */
const entries = async (store: Store): Promise<[string, string][]> => {
  const out: [string, string][] = [];
  for await (const [k, v] of store.scan('')) if (!isIndex(k)) out.push([k, v.toString('hex')]);
  return out;
};

const count = async (store: Store, prefix: string): Promise<number> => {
  let n = 0;
  for await (const _ of store.scan(prefix)) n++;
  return n;
};

/** Stores the specs opened, closed and removed after each describe. */
const opened: { dirs: string[]; stores: Store[] } = { dirs: [], stores: [] };
const open = async (): Promise<Store> => {
  const dir = mkdtempSync(join(tmpdir(), 'read-through-'));
  opened.dirs.push(dir);
  const store = await openStore(join(dir, 'state'));
  opened.stores.push(store);
  return store;
};
const closeAll = async (): Promise<void> => {
  for (const s of opened.stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of opened.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
};

interface Side {
  store: Store;
  state: WorkingState;
  meta: SnapshotMeta;
  fold: ReturnType<typeof createFold>;
}

/** One log folded into a state held whole and one read through the store, compared after every pass. */
const pairOf = async (cache: number, open: () => Promise<Store>, wrap: (s: Store) => Store = (s) => s) => {
  const { codec } = memoryCodec();
  const through = readThroughOf(undefined, cache);
  const ws = await open();
  const ps = await open();
  const whole: Side = { store: ws, state: new WorkingState(), meta: GENESIS, fold: createFold({ store: ws, codec, options }) };
  const part: Side = { store: ps, ...(await loadState(wrap(ps), through)), fold: createFold({ store: ps, codec, options }) };
  let offset = 0;
  return {
    whole,
    part,
    codec,
    fold: async (batch: AnyMessage[], label = ''): Promise<void> => {
      const records = await toRecords(batch, codec, offset);
      offset += batch.length;
      const a = await whole.fold(records, whole.state, whole.meta);
      const b = await part.fold(records, part.state, part.meta);
      whole.meta = a.meta;
      part.meta = b.meta;
      const at = `${label} snapshot ${a.meta.id}`;
      assert.deepStrictEqual(b.ops.puts.filter(([k]) => !isIndex(k)).map(([k, v]) => [k, v.toString()]), a.ops.puts.map(([k, v]) => [k, v.toString()]), `${at}: the writes differ`);
      assert.deepStrictEqual((b.ops.deletes ?? []).filter((k) => !isIndex(k)).sort(), [...(a.ops.deletes ?? [])].sort(), `${at}: the deletes differ`);
      assert.deepStrictEqual(b.outbox.records, a.outbox.records, `${at}: the outputs differ`);
      assert.equal(b.meta.digest, a.meta.digest, `${at}: the digests differ`);
      assert.ok(part.state.cached <= cache, `${at}: ${part.state.cached} images cached, more than ${cache}`);
    },
    restart: async (): Promise<void> => {
      part.state = (await loadState(wrap(part.store), through)).state;
    },
  };
};

/** A small seeded generator (mulberry32), so a failing case repeats. */
const seeded = (seed: number): ((n: number) => number) => {
  let s = seed;
  return (n) => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
};

describe('state read through RocksDB', function () {
  this.timeout(60_000);
  after(closeAll);

  it('folds a log to the same replies, digests and store as a state held whole, with a cache of one image, across a restart', async () => {
    const p = await pairOf(CACHE, open);
    const { whole, part } = p;
    assert.equal(part.state.cached, 0);
    const metas: SnapshotMeta[] = [];
    const fold = async (batch: AnyMessage[]): Promise<void> => {
      await p.fold(batch);
      metas.push(whole.meta);
    };
    const at = (ms: number) => ({ timestampMs: T0 + ms });
    const id = (c: string, ms: number) => ({ correlationId: c, ...at(ms) });

    await fold([
      updateSettings({ historyRetentionMs: 60_000 }, id('settings', 0)),
      workerRegistered('w1', at(0)),
      createLogicalSource('a', undefined, id('ca', 0)),
      createLogicalSource('b', undefined, id('cb', 0)),
      createLogicalSource('c', undefined, id('cc', 0)),
      createSink('s1', id('cs1', 0)),
      createSink('s2', id('cs2', 0)),
    ]);
    const first = whole.meta.ts;
    await fold([
      getLogicalSource('a', id('ga', 1_000)),
      getLogicalSource('zz', id('gzz', 1_000)),
      createLogicalSource('a', undefined, id('ca-again', 1_000)),
      createPhysicalSource('p1', 'a', 'w1', id('cp1', 1_000)),
      createQuery('q1', { sources: ['a'], sink: 's1', ...id('cq1', 1_000) }),
      createQuery('q2', { sources: ['nope'], sink: 's1', ...id('cq2', 1_000) }),
      listLogicalSources(id('la', 1_000)),
    ]);
    await fold([
      dropLogicalSource('b', id('db', 2_000)),
      createLogicalSource('b', [{ name: 'x', type: 'long' }], id('cb-again', 2_000)),
      dropSink('s2', id('ds2', 2_000)),
      getLogicalSource('b', { asOfTs: first, ...id('gb-first', 2_000) }),
      listLogicalSources({ asOfTs: first, ...id('la-first', 2_000) }),
      getSink('s2', { asOfTs: first, ...id('gs2-first', 2_000) }),
      listSinks(id('ls', 2_000)),
    ]);
    await fold(Array.from({ length: 30 }, (_, i) => createLogicalSource(`d${i}`, undefined, id(`cd${i}`, 3_000))));
    await fold([getLogicalSource('d7', id('gd7', 4_000)), dropLogicalSource('d8', id('dd8', 4_000)), createLogicalSource('d8', undefined, id('cd8', 4_000))]);

    // Past the retention: the history before it goes, in memory on one side and through r/ on the other.
    const versionsBefore = await count(whole.store, 'h/');
    await fold([clockTick(T0 + 120_000)]);
    assert.ok((await count(whole.store, 'h/')) < versionsBefore, 'the tick compacted nothing: the test does not reach compaction');
    await fold([getLogicalSource('b', { asOfTs: first, ...id('gb-gone', 121_000) }), listLogicalSources({ asOfTs: metas[4].ts, ...id('la-gone', 121_000) })]);

    // A restart reads back only what is held whole.
    await p.restart();
    assert.equal(part.state.cached, 0);
    assert.throws(() => part.state.get(LOGICAL_SOURCE, 'a'), StateMiss);
    const mid = whole.meta.ts;
    await fold([
      dropLogicalSource('a', { cascade: true, ...id('da', 130_000) }),
      getLogicalSource('c', id('gc', 130_000)),
      dropLogicalSource('d3', id('dd3', 130_000)),
      getLogicalSource('d3', { asOfTs: mid, ...id('gd3-mid', 130_000) }),
      listSinks({ asOfTs: mid, ...id('ls-mid', 130_000) }),
    ]);
    await fold([clockTick(T0 + 400_000), getSink('s1', id('gs1', 400_000))]);

    assert.deepStrictEqual(await entries(part.store), await entries(whole.store));
    // Compaction used up the index entries at or below its frontier: only the versions written since are left.
    assert.equal(await count(part.store, 'r/'), 0);
  });

  it('remembers digest terms only of images held in memory: none of an image read through the store, which it would keep alive', async () => {
    const { codec } = memoryCodec();
    const store = await open();
    const terms = new TermCache<Image>();
    const { state, meta } = await loadState(store, readThroughOf(undefined, CACHE));
    const fold = createFold({ store, codec, options, terms });
    const at = { timestampMs: T0 };
    const batch = [workerRegistered('w1', at), ...Array.from({ length: 5 }, (_, i) => createLogicalSource(`t${i}`, undefined, { correlationId: `ct${i}`, ...at })), workerHeartbeat('w1', { timestampMs: T0 + 1 })];
    const r = await fold(await toRecords(batch, codec, 0), state, meta);
    assert.equal(r.applied, batch.length);
    const kept = [...terms.keys()];
    assert.ok(kept.includes(stateKey('worker', 'w1')), `the worker, held in memory, is remembered: ${kept.join(', ')}`);
    assert.deepEqual(
      kept.filter((k) => k.startsWith(stateKey(LOGICAL_SOURCE, ''))),
      [],
      'no logical source (read through the store, a cache of one image)',
    );
  });

  it('finds a damaged store in the background, and the next start copies it aside and rebuilds', async () => {
    const { codec } = memoryCodec();
    const through = readThroughOf(undefined, CACHE);
    const store = await open();
    const fold = createFold({ store, codec, options });
    let { state } = await loadState(store, through);
    const { meta } = await fold(await toRecords([createLogicalSource('a', undefined, { correlationId: 'ca' }), createSink('s', { correlationId: 'cs' })], codec, 0), state, GENESIS);
    assert.equal(meta.id, 1n);
    assert.equal(await scrubStore(store), undefined, 'a sound store was found damaged');

    // A hand edit: the image no longer sums to the snapshot's digest, and nothing at start reads it.
    await store.write({ puts: [[stateKey(LOGICAL_SOURCE, 'a'), Buffer.from('{"name":"a","fields":[]}')]] });
    ({ state } = await loadChecked(store, silentLogger(), through));
    assert.equal(state.cached, 0);
    const problem = await scrubStore(store);
    assert.match(problem ?? '', /sum to digest/);

    const loaded = await loadChecked(store, silentLogger(), through);
    assert.equal(loaded.meta.id, 0n, 'the damaged store was not emptied for a rebuild');
    const parent = dirname(store.dir);
    assert.ok(
      readdirSync(parent).some((n) => n.startsWith('state.corrupt-')),
      'the damaged store was not copied aside',
    );
    assert.equal(await scrubStore(store), undefined);
    assert.ok(existsSync(store.dir));
  });
});

describe('state read through RocksDB, against the state held whole', function () {
  this.timeout(300_000);
  after(closeAll);
  const id = (c: string, ms: number) => ({ correlationId: c, timestampMs: T0 + ms });

  it('keeps compacting the versions a pass writes while it compacts', async () => {
    const p = await pairOf(10, open);
    await p.fold([updateSettings({ historyRetentionMs: 60_000 }, id('s', 0)), createLogicalSource('x', undefined, id('cx', 0))]);
    // One pass compacts (its frontier past x's creation, every r/ entry used up) and drops x: x's deletion is a version of this pass.
    await p.fold([clockTick(T0 + 120_000), dropLogicalSource('x', id('dx', 120_000))]);
    await p.fold([clockTick(T0 + 400_000)]);
    await p.fold([clockTick(T0 + 800_000)]);
    assert.deepStrictEqual(await entries(p.part.store), await entries(p.whole.store));
  });

  it('fails the pass, not the message, when the store fails a read a decider needs', async () => {
    let failNext = false;
    const wrap = (s: Store): Store =>
      new Proxy(s, {
        get(target, prop, receiver) {
          if (prop !== 'scan') return Reflect.get(target, prop, receiver) as unknown;
          return (prefix: string, o?: { limit?: number }) => {
            if (failNext && prefix.startsWith(`s/${LOGICAL_SOURCE}/`)) {
              failNext = false;
              throw new Error('EIO: a RocksDB read failed');
            }
            return target.scan(prefix, o);
          };
        },
      });
    const p = await pairOf(10, open, wrap);
    await p.fold([createLogicalSource('a', undefined, id('ca', 0))]);
    failNext = true;
    const records = await toRecords([listLogicalSources(id('la', 1_000))], p.codec, 1);
    await assert.rejects(p.part.fold(records, p.part.state, p.part.meta), /EIO/);
  });

  it('indexes again the versions a build without the index wrote in the folder meanwhile', async () => {
    const p = await pairOf(1, open);
    await p.fold([updateSettings({ historyRetentionMs: 5_000 }, id('s', 0)), createLogicalSource('a', undefined, id('ca', 0))]);
    // A build that holds everything in memory (as one before the index did) folds the folder for a while.
    p.part.state = (await loadState(p.part.store)).state;
    await p.fold([dropLogicalSource('a', id('da', 1_000)), createSink('s1', id('cs', 1_000))]);
    await p.fold([dropSink('s1', id('ds', 2_000))]);
    await p.restart();
    await p.fold([clockTick(T0 + 60_000)]);
    await p.fold([clockTick(T0 + 120_000)]);
    assert.deepStrictEqual(await entries(p.part.store), await entries(p.whole.store));
  });

  // Seeded random logs over a few names: creates, drops and re-creates, cascades, asOf reads, holds, lists, restarts.
  for (const cache of [0, 1, 3, 50])
    for (const seed of [1, 2, 3]) {
      it(`folds a random log alike (cache ${cache}, seed ${seed})`, async () => {
        const rnd = seeded(seed * 7919 + cache);
        const p = await pairOf(cache, open);
        const names = ['a', 'b', 'c', 'd', 'e', 'a.b', 'a-b', 'ab'];
        const sinks = ['s1', 's2', 's3'];
        const tss: bigint[] = [];
        let t = 0;
        let n = 0;
        await p.fold([updateSettings({ historyRetentionMs: 5_000 }, id('settings', 0)), workerRegistered('w1', { timestampMs: T0 })], 'init');
        for (let pass = 0; pass < 50; pass++) {
          t += rnd(5) === 0 ? 10_000 + rnd(20_000) : 500 + rnd(2_500);
          const batch: AnyMessage[] = [];
          for (let i = 1 + rnd(6); i > 0; i--) {
            const o = id(`c${n++}`, t);
            const name = names[rnd(names.length)];
            const sink = sinks[rnd(sinks.length)];
            const past = tss.length === 0 ? undefined : tss[rnd(tss.length)];
            const asOf = rnd(2) === 0 ? past : undefined;
            const pick = rnd(16);
            if (pick <= 1) batch.push(createLogicalSource(name, rnd(2) === 0 ? undefined : [{ name: 'x', type: 'long' }], o));
            else if (pick === 2) batch.push(dropLogicalSource(name, { cascade: rnd(2) === 0, ...o }));
            else if (pick === 3) batch.push(createSink(sink, o));
            else if (pick === 4) batch.push(dropSink(sink, { cascade: rnd(2) === 0, ...o }));
            else if (pick === 5) batch.push(getLogicalSource(name, { ...o, asOfTs: asOf }));
            else if (pick === 6) batch.push(listLogicalSources({ ...o, asOfTs: asOf }));
            else if (pick === 7) batch.push(getSink(sink, { ...o, asOfTs: asOf }));
            else if (pick === 8) batch.push(listSinks({ ...o, asOfTs: asOf }));
            else if (pick === 9) batch.push(createQuery(`q${rnd(3)}`, { sources: [name], sink, ...o }));
            else if (pick === 10) batch.push(createPhysicalSource(`p${rnd(3)}`, name, 'w1', o));
            else if (pick === 11) batch.push(acquireReadHold(`h${rnd(2)}`, { ...o, asOfTs: past, leaseMs: 4_000n }));
            else if (pick === 12) batch.push(createLogicalSource(name, undefined, { ...o, deadlineMs: T0 + t - 1 }));
            else batch.push(clockTick(T0 + t));
          }
          await p.fold(batch, `pass ${pass}`);
          tss.push(p.whole.meta.ts);
          if (rnd(8) === 0) await p.restart();
        }
        await p.fold([clockTick(T0 + t + 100_000)], 'final');
        await p.fold([clockTick(T0 + t + 200_000)], 'final');
        assert.deepStrictEqual(await entries(p.part.store), await entries(p.whole.store));
      });
    }
});
