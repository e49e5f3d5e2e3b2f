import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LOGICAL_SOURCE } from '../../projections/model';
import { loadChecked, scrubStore } from '../../src/engine/activation';
import { createFold } from '../../src/engine/fold';
import { GENESIS, loadState, readThroughOf, StateMiss, WorkingState, type SnapshotMeta } from '../../src/engine/state';
import { changelogTables, withChangelogEnvelopes } from '../../src/messaging/changelog';
import { loadContracts } from '../../src/messaging/schemas';
import { TOPIC_KINDS, topicName } from '../../src/messaging/topics';
import { silentLogger } from '../../src/log';
import { openStore, type Store } from '../../src/store/rocks';
import { stateKey } from '../../src/store/keys';
import {
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
  workerRegistered,
  type AnyMessage,
} from '../support/given';

// The coordinator reads logical sources and sinks through RocksDB (a bounded cache, their history
// in the store alone); a replay target or an inspection holds everything in memory. Both must fold
// the same log to the same bytes: this drives one log through both, with a cache of one image.

const options = { topicPrefix: PREFIX, kindOf: (t: string) => TOPIC_KINDS.find((k) => topicName(PREFIX, k) === t), changelogTables: changelogTables(withChangelogEnvelopes(loadContracts())) };
const CACHE = 1;

/** Every entry of a store but the read-through index (r/, m/history-index), in key order. */
const entries = async (store: Store): Promise<[string, string][]> => {
  const out: [string, string][] = [];
  for await (const [k, v] of store.scan('')) if (!k.startsWith('r/') && k !== 'm/history-index') out.push([k, v.toString('hex')]);
  return out;
};

const count = async (store: Store, prefix: string): Promise<number> => {
  let n = 0;
  for await (const _ of store.scan(prefix)) n++;
  return n;
};

interface Side {
  store: Store;
  state: WorkingState;
  meta: SnapshotMeta;
  fold: ReturnType<typeof createFold>;
}

describe('state read through RocksDB', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const stores: Store[] = [];
  const open = async (): Promise<Store> => {
    const dir = mkdtempSync(join(tmpdir(), 'read-through-'));
    dirs.push(dir);
    const store = await openStore(join(dir, 'state'));
    stores.push(store);
    return store;
  };
  after(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('folds a log to the same replies, digests and store as a state held whole, with a cache of one image, across a restart', async () => {
    const { codec } = memoryCodec();
    const through = readThroughOf(undefined, CACHE);
    const whole: Side = { store: await open(), state: new WorkingState(), meta: GENESIS, fold: undefined as never };
    whole.fold = createFold({ store: whole.store, codec, options });
    const partStore = await open();
    const part: Side = { store: partStore, ...(await loadState(partStore, through)), fold: createFold({ store: partStore, codec, options }) };
    assert.equal(part.state.cached, 0);

    let offset = 0;
    const metas: SnapshotMeta[] = [];
    const fold = async (batch: AnyMessage[]): Promise<void> => {
      const records = await toRecords(batch, codec, offset);
      offset += batch.length;
      const a = await whole.fold(records, whole.state, whole.meta);
      const b = await part.fold(records, part.state, part.meta);
      whole.meta = a.meta;
      part.meta = b.meta;
      metas.push(a.meta);
      assert.deepStrictEqual(
        b.ops.puts.filter(([k]) => !k.startsWith('r/')).map(([k, v]) => [k, v.toString()]),
        a.ops.puts.map(([k, v]) => [k, v.toString()]),
        `snapshot ${a.meta.id}: the writes differ`,
      );
      assert.deepStrictEqual(b.outbox.records, a.outbox.records, `snapshot ${a.meta.id}: the outputs differ`);
      assert.equal(b.meta.digest, a.meta.digest, `snapshot ${a.meta.id}: the digests differ`);
      assert.ok(part.state.cached <= CACHE, `snapshot ${a.meta.id}: ${part.state.cached} images cached, more than ${CACHE}`);
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
    part.state = (await loadState(part.store, through)).state;
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
