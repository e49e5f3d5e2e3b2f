/**
 * What a store's size costs a coordinator in memory, measured apart from Kafka, each step in a
 * process of its own:
 * - `make DIR N` folds N creates of logical sources into DIR as a coordinator folds them (the
 *   real fold and RocksDB, logical sources read through the store and its bounded cache, a codec
 *   that keeps nothing), then prints the process's peak RSS and its live heap;
 * - `probe DIR` opens DIR as a coordinator starts on it (the store, the state it loads, then the
 *   background check that reads the whole store once) and prints its RSS after a GC.
 * Each step runs compiled, with coordctl's memory settings, as the coordinator runs.
 * `stateMemory` runs both for two sizes (`make bench`); `node --expose-gc --require tsx/cjs
 * test/bench/store-rss.ts make|probe …` runs one step.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { createFold } from '../../src/engine/fold';
import { loadState, readThroughOf, storeDigest } from '../../src/engine/load';
import { DEFAULTS } from '../../src/config';
import { changelogTables, withChangelogEnvelopes } from '../../src/messaging/changelog';
import { loadContracts } from '../../src/messaging/schemas';
import { TOPIC_KINDS, topicName } from '../../src/messaging/topics';
import { openStore } from '../../src/store/rocks';
import type { Decoded } from '../../src/messaging/codec';
import type { PassDeps } from '../../src/engine/pass';
import { createLogicalSource, PREFIX, toRecords, T0 } from '../support/given';
import { asCoordctlRuns } from '../support/coordinator-runtime';

/**
 * A codec that keeps nothing: each value is its own JSON, with its record's name in front. The
 * tests' memory codec remembers every value it encoded, which would be counted here as the
 * fold's memory.
 */
const forgetfulCodec = (): PassDeps['codec'] => {
  const tag = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? { $bigint: v.toString() } : v);
  const untag = (_k: string, v: unknown): unknown => (v !== null && typeof v === 'object' && '$bigint' in v ? BigInt((v as { $bigint: string }).$bigint) : v);
  return {
    registerAll: async () => undefined,
    encode: async (_topic, fullName, value) => Buffer.from(`${fullName}\n${JSON.stringify(value, tag)}`),
    decode: async (b): Promise<Decoded> => {
      if (b === null) throw new Error('a null value reached the codec');
      const text = b.toString();
      const nl = text.indexOf('\n');
      return { schemaId: 0, fullName: text.slice(0, nl), value: JSON.parse(text.slice(nl + 1), untag) as Record<string, unknown> };
    },
  };
};

const mb = (n: number): number => Math.round((n / 1024 / 1024) * 10) / 10;

const make = async (dir: string, n: number): Promise<void> => {
  const store = await openStore(dir);
  const codec = forgetfulCodec();
  const options = { topicPrefix: PREFIX, kindOf: (t: string) => TOPIC_KINDS.find((k) => topicName(PREFIX, k) === t), changelogTables: changelogTables(withChangelogEnvelopes(loadContracts())) };
  const fold = createFold({ store, codec, options });
  // As a coordinator folds: logical sources read through the store and its bounded cache.
  const loaded = await loadState(store, readThroughOf(undefined, DEFAULTS.stateCacheEntries));
  const { state } = loaded;
  let meta = loaded.meta;
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: 1000 }, (_, j) => createLogicalSource(`src-${i + j}`, undefined, { correlationId: `c${i + j}`, timestampMs: T0 + i }));
    meta = (await fold(await toRecords(batch, codec, i), state, meta)).meta;
  }
  const ms = performance.now() - t0;
  (globalThis as { gc?: () => void }).gc?.();
  const liveHeapMb = mb(process.memoryUsage().heapUsed);
  await store.close();
  // The peak of a process that folded n creates as the coordinator folds them: its own, no client's.
  process.stdout.write(`${JSON.stringify({ made: n, dir, seconds: Math.round(ms / 100) / 10, peakRssMb: mb(process.resourceUsage().maxRSS * 1024), liveHeapMb, cached: state.cached })}\n`);
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
  process.stdout.write(`${JSON.stringify({ dir, base, opened, loaded, checked, afterGc: rss(), heapUsedMb: mb(process.memoryUsage().heapUsed), cached: state.state.cached })}\n`);
  await store.close();
};

export interface Made {
  readonly made: number;
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly liveHeapMb: number;
  readonly cached: number;
}

export interface Probed {
  readonly opened: number;
  readonly loaded: number;
  readonly checked: number;
  readonly afterGc: number;
  readonly heapUsedMb: number;
}

/** This file compiled (`make build`, which `make bench` runs first): a step runs it as coordctl runs the coordinator, not through tsx. */
const COMPILED = join(__dirname, '../../', __dirname.includes(`${sep}dist${sep}`) ? '' : 'dist', 'test/bench/store-rss.js');

const step = <T>(args: readonly string[], timeoutMs: number): Promise<T> =>
  new Promise((resolve, reject) => {
    if (!existsSync(COMPILED)) return reject(new Error(`${COMPILED} is missing: run make build first`));
    // coordctl's memory settings (its malloc arenas and V8's semi-spaces), so the peak is a coordinator's.
    const { env, nodeFlags } = asCoordctlRuns();
    execFile(process.execPath, [...nodeFlags, '--expose-gc', COMPILED, ...args], { env, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (err !== null || line === undefined) reject(new Error(`store-rss ${args.join(' ')}: ${err?.message ?? 'no result'}\n${stderr.slice(-2_000)}`));
      else resolve(JSON.parse(line) as T);
    });
  });

/**
 * The memory of a coordinator's state at two sizes, each in processes of its own: `start()`
 * folds both stores side by side (each process's peak is its own; how long they take is not a
 * figure, so they may run beside another build step), `probed()` then opens each one at a time.
 */
export const stateMemory = (dir: (name: string) => string, sizes: { small: number; large: number }, say: (s: string) => void) => {
  // One folder a size (dir gives a new one each call).
  const folders = new Map([sizes.small, sizes.large].map((n) => [n, dir(`memory-${n}`)]));
  const make = async (n: number): Promise<Made> => {
    const made = await step<Made>(['make', folders.get(n) as string, String(n)], 1_800_000);
    say(`memory: folded ${n} creates in ${made.seconds} s (peak RSS ${made.peakRssMb} MB, live heap ${made.liveHeapMb} MB, ${made.cached} images cached)`);
    return made;
  };
  const probe = async (n: number, made: Made) => {
    const probed = await step<Probed>(['probe', folders.get(n) as string], 600_000);
    say(`memory: opened, loaded and checked a store of ${n}: RSS ${probed.afterGc} MB`);
    return { entities: n, made, probed };
  };
  let making: Promise<[Made, Made]> | undefined;
  const made = (): Promise<[Made, Made]> => (making ??= Promise.all([make(sizes.small), make(sizes.large)]));
  return {
    start: async (): Promise<void> => void (await made()),
    probed: async () => {
      const [small, large] = await made();
      return { small: await probe(sizes.small, small), large: await probe(sizes.large, large) };
    },
  };
};

if (require.main === module) {
  const [mode, dir, n] = process.argv.slice(2);
  (mode === 'make' ? make(dir, Number(n)) : probe(dir)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
