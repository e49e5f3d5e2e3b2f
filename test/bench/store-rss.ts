/**
 * The memory a store's size costs a coordinator, measured apart from Kafka:
 * `npx tsx test/bench/store-rss.ts make DIR N` folds N creates of logical sources into DIR (the
 * real fold and RocksDB, an in-memory codec); `node --expose-gc --require tsx/cjs
 * test/bench/store-rss.ts probe DIR` opens it as a coordinator does, loads the state, runs the
 * background check of the whole store, then prints its resident set size after a GC.
 */
import { createFold } from '../../src/engine/fold';
import { loadState, readThroughOf, storeDigest } from '../../src/engine/load';
import { DEFAULTS } from '../../src/config';
import { GENESIS, WorkingState } from '../../src/engine/state';
import { changelogTables, withChangelogEnvelopes } from '../../src/messaging/changelog';
import { loadContracts } from '../../src/messaging/schemas';
import { TOPIC_KINDS, topicName } from '../../src/messaging/topics';
import { openStore } from '../../src/store/rocks';
import { createLogicalSource, memoryCodec, PREFIX, toRecords, T0 } from '../support/given';

const mb = (n: number): number => Math.round((n / 1024 / 1024) * 10) / 10;

const make = async (dir: string, n: number): Promise<void> => {
  const store = await openStore(dir);
  const { codec } = memoryCodec();
  const options = { topicPrefix: PREFIX, kindOf: (t: string) => TOPIC_KINDS.find((k) => topicName(PREFIX, k) === t), changelogTables: changelogTables(withChangelogEnvelopes(loadContracts())) };
  const fold = createFold({ store, codec, options });
  const state = new WorkingState();
  let meta = GENESIS;
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: 1000 }, (_, j) => createLogicalSource(`src-${i + j}`, undefined, { correlationId: `c${i + j}`, timestampMs: T0 + i }));
    meta = (await fold(await toRecords(batch, codec, i), state, meta)).meta;
  }
  await store.close();
  console.log(JSON.stringify({ made: n, dir }));
};

const probe = async (dir: string): Promise<void> => {
  const rss = (): number => mb(process.memoryUsage().rss);
  const base = rss();
  const store = await openStore(dir);
  const opened = rss();
  const state = await loadState(store, readThroughOf(undefined, DEFAULTS.stateCacheEntries));
  const loaded = rss();
  await storeDigest(store);
  const checked = rss();
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 500));
  console.log(JSON.stringify({ dir, base, opened, loaded, checked, afterGc: rss(), heapUsedMb: mb(process.memoryUsage().heapUsed), cached: state.state.cached }));
  await store.close();
};

const [mode, dir, n] = process.argv.slice(2);
(mode === 'make' ? make(dir, Number(n)) : probe(dir)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
