/**
 * Folding throughput and restart time of the in-process coordinator, and the bare kafkajs
 * consumer it is compared with. Every wait has a deadline; a deadline that passes ends the
 * run with the figures so far (marked `timedOut`), since a slow machine is not an error.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { LOGICAL_SOURCE } from '../../projections/catalog/logical-sources';
import { DEFAULTS, makeConfig, type Config } from '../../src/config';
import { createCoordinator, type Coordinator, type EngineObserver } from '../../src/engine/coordinator';
import { loadState, readThroughOf } from '../../src/engine/load';
import { createParts } from '../../src/runtime';
import { OUTBOX, statePrefix } from '../../src/store/keys';
import { openStore, type CompactionDebt, type Store } from '../../src/store/rocks';
import type { Deployment } from '../support/deployment';
import { benchLog, benchScript, bounded, catalogTopic, now, round, sleep } from './workload';

const log = benchLog('bench-coordinator');

let serial = 0;

/**
 * The tick interval of the measuring runs: an hour, so that applied + rejected counts catalog
 * requests only (the active instance appends a Tick every tickIntervalMs, and they are folded too).
 */
export const NO_TICKS_MS = 3_600_000;

const waitReady = async (c: Coordinator, what: string, ms = 120_000): Promise<void> => {
  const until = now() + ms;
  while (!c.status().ready) {
    if (now() > until) throw new Error(`${what}: not ready within ${ms} ms of start() (role ${c.status().role})`);
    await sleep(1);
  }
};

export interface Instance {
  readonly config: Config;
  readonly store: Store;
  readonly coordinator: Coordinator;
  /** ms from start() to status().ready (state loaded, group joined, caught up with the log, consuming). */
  readonly startMs: number;
  close(): Promise<void>;
}

/**
 * A coordinator in this process on its own RocksDB folder and Kafka client, started and ready. A `batchSize` given is
 * every batch's size (batches do not grow, maxBatchSize is the same); none: the coordinator's defaults, growing under a backlog.
 */
export const startInstance = async (d: Deployment, opts: { dataDir: string; batchSize?: number; groupId?: string; ticks?: boolean; observer?: EngineObserver }): Promise<Instance> => {
  const config = makeConfig({
    ...d.config,
    dataDir: opts.dataDir,
    ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize, maxBatchSize: opts.batchSize }),
    groupId: opts.groupId ?? `${d.config.topicPrefix}-bench-${serial++}`,
    ...(opts.ticks === false ? { tickIntervalMs: NO_TICKS_MS } : {}),
  });
  const { kafka, codec } = createParts(config, 'bench-coordinator', log);
  const store = await openStore(config.dataDir);
  const coordinator = createCoordinator({ config, kafka, codec, store, log, observer: opts.observer });
  const t0 = now();
  try {
    await bounded('coordinator start', 120_000, coordinator.start());
    // start() resolves once the group is joined; the instance serves once it has caught up with the log and resumed.
    await waitReady(coordinator, 'coordinator activation');
  } catch (err) {
    await coordinator.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  const startMs = now() - t0;
  let closed = false;
  return {
    config,
    store,
    coordinator,
    startMs,
    close: async () => {
      if (closed) return;
      closed = true;
      await bounded('coordinator close', 120_000, coordinator.close());
      await store.close();
    },
  };
};

export interface IngestRun {
  /** The configuration's batchSize and maxBatchSize: equal, batches of a fixed size; else growing under the backlog. */
  readonly batchSize: number;
  readonly maxBatchSize: number;
  readonly target: number;
  /** Requests folded (applied + rejected) when the clock stopped. */
  readonly events: number;
  readonly ms: number;
  readonly eventsPerSecond: number;
  readonly passes: number;
  readonly meanBatch: number;
  readonly startMs: number;
  /** CPU time of this whole process (coordinator, its kafkajs clients, the bench) over the window, % of one core. */
  readonly cpuPercent: number;
  readonly timedOut: boolean;
}

const folded = (c: Coordinator): number => {
  const s = c.status();
  return s.applied + s.rejected;
};

/**
 * Folds the first `target` requests of the deployment's topics with a fresh coordinator (fresh
 * RocksDB folder, fresh group; the deployment must be fresh too, since a new instance catches
 * up from the snapshot markers an earlier one left). The clock runs from status().ready —
 * state loaded, group joined, caught up, consuming resumed — to the moment applied + rejected
 * reaches `target`.
 */
export const ingest = async (
  d: Deployment,
  opts: { target: number; batchSize?: number; dataDir: string; deadlineMs: number; groupId?: string },
): Promise<IngestRun> => {
  const inst = await startInstance(d, { dataDir: opts.dataDir, batchSize: opts.batchSize, groupId: opts.groupId, ticks: false });
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const until = t0 + opts.deadlineMs;
  let timedOut = false;
  try {
    while (folded(inst.coordinator) < opts.target) {
      if (now() > until) {
        timedOut = true;
        break;
      }
      await sleep(2);
    }
  } catch (err) {
    await inst.close();
    throw err;
  }
  const ms = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const s = inst.coordinator.status();
  const events = s.applied + s.rejected;
  const run: IngestRun = {
    batchSize: inst.config.batchSize,
    maxBatchSize: inst.config.maxBatchSize,
    target: opts.target,
    events,
    ms: round(ms, 1),
    eventsPerSecond: round((events / ms) * 1000, 0),
    passes: s.passes,
    meanBatch: round(events / Math.max(1, s.passes), 1),
    startMs: round(inst.startMs, 1),
    cpuPercent: round(((cpu.user + cpu.system) / 1000 / ms) * 100, 0),
    timedOut,
  };
  await inst.close();
  return run;
};

export interface BareRun {
  readonly target: number;
  readonly events: number;
  readonly ms: number;
  readonly eventsPerSecond: number;
  /** This process's CPU over the timed run ÷ the records read, µs: kafkajs fetching and decoding alone (nothing else runs meanwhile). */
  readonly cpuUsPerRecord: number;
  readonly timedOut: boolean;
}

/**
 * A kafkajs consumer that does nothing with what it reads: fresh group, from the beginning,
 * the coordinator's fetch wait. The clock runs from run() resolving (group joined) to the
 * batch that brings the count to `target`.
 */
export const bareConsume = async (d: Deployment, opts: { target: number; deadlineMs: number; topic?: string }): Promise<BareRun> => {
  const consumer = d.parts.kafka.consumer({
    groupId: `${d.config.topicPrefix}-bare-${serial++}`,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: Math.max(1, d.config.batchTimeoutMs),
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [opts.topic ?? catalogTopic(d)], fromBeginning: true });
    let count = 0;
    let doneAt: number | undefined;
    await bounded(
      'bare consumer start',
      60_000,
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          count += batch.messages.length;
          if (doneAt === undefined && count >= opts.target) doneAt = now();
        },
      }),
    );
    const t0 = now();
    const cpu0 = process.cpuUsage();
    const until = t0 + opts.deadlineMs;
    while (doneAt === undefined && now() < until) await sleep(2);
    const cpu = process.cpuUsage(cpu0);
    const end = doneAt ?? now();
    const events = doneAt === undefined ? count : opts.target;
    return {
      target: opts.target,
      events,
      ms: round(end - t0, 1),
      eventsPerSecond: round((events / (end - t0)) * 1000, 0),
      cpuUsPerRecord: round((cpu.user + cpu.system) / Math.max(1, count), 3),
      timedOut: doneAt === undefined,
    };
  } finally {
    await consumer.disconnect();
  }
};

/** Time to ready of a new coordinator on an existing RocksDB folder, with the group of the one that wrote it: open, create, start, until status().ready. */
export const restartOnce = async (d: Deployment, opts: { dataDir: string; groupId: string }): Promise<number> => {
  const config = makeConfig({ ...d.config, dataDir: opts.dataDir, groupId: opts.groupId, tickIntervalMs: NO_TICKS_MS });
  const t0 = now();
  const { kafka, codec } = createParts(config, 'bench-coordinator', log);
  const store = await openStore(config.dataDir);
  const coordinator = createCoordinator({ config, kafka, codec, store, log });
  try {
    await bounded('coordinator start after restart', 120_000, coordinator.start());
    await waitReady(coordinator, `coordinator restarted on ${opts.dataDir}`);
    return round(now() - t0, 1);
  } finally {
    await bounded('coordinator close', 120_000, coordinator.close());
    await store.close();
  }
};

/**
 * The resident set size of a coordinator in a process of its own, ready on `dataDir` (a folder
 * a bench run folded), after a garbage collection: what the state costs in memory.
 */
export const rssAfterRestart = (d: Deployment, opts: { dataDir: string; groupId: string }): Promise<{ rssMb: number; heapUsedMb: number; cachedImages: number }> => {
  const config = { ...d.config, dataDir: opts.dataDir, groupId: opts.groupId, tickIntervalMs: NO_TICKS_MS };
  const replacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);
  const child = execFile(process.execPath, ['--expose-gc', ...benchScript('rss-child'), JSON.stringify(config, replacer)], { timeout: 240_000, maxBuffer: 1 << 20 });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{"rssMb"'));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line) as { rssMb: number; heapUsedMb: number; cachedImages: number });
      else reject(new Error(`the RSS probe on ${opts.dataDir} exited with ${code}: ${err.slice(-2_000)}`));
    });
  });
};

export interface RestartBreakdown {
  readonly entities: number;
  readonly openMs: number;
  readonly loadStateMs: number;
  readonly outboxScanMs: number;
  readonly outboxEntries: number;
}

/** Where a restart's time goes, measured apart from the timed restarts on the same folder. */
export const restartBreakdown = async (dir: string): Promise<RestartBreakdown> => {
  const t0 = now();
  const store = await openStore(dir);
  const openMs = now() - t0;
  try {
    const t1 = now();
    // As the coordinator loads it: what is read through the store is not loaded.
    await loadState(store, readThroughOf(undefined, DEFAULTS.stateCacheEntries));
    const loadStateMs = now() - t1;
    let entities = 0;
    for await (const _ of store.scan(statePrefix(LOGICAL_SOURCE))) entities++;
    const t2 = now();
    let outboxEntries = 0;
    for await (const _ of store.scan(OUTBOX)) outboxEntries++;
    const outboxScanMs = now() - t2;
    return { entities, openMs: round(openMs, 1), loadStateMs: round(loadStateMs, 1), outboxScanMs: round(outboxScanMs, 1), outboxEntries };
  } finally {
    await store.close();
  }
};

/**
 * Opens the store at `dir` and waits until RocksDB owes no compaction (twice in a row, 100 ms
 * apart), as a coordinator's store is once it has run a while after a bulk of writes: the
 * ingest's coordinator closed as soon as it reached its target, and RocksDB cancels the
 * compactions under way at a close and takes them up again at the next open.
 */
export const settleStore = async (dir: string, deadlineMs: number): Promise<{ ms: number; owedAtOpen: CompactionDebt; settled: boolean }> => {
  const t0 = now();
  const store = await openStore(dir);
  try {
    const owedAtOpen = await store.compactionDebt();
    let clear = 0;
    while (clear < 2) {
      if (now() - t0 > deadlineMs) return { ms: round(now() - t0, 0), owedAtOpen, settled: false };
      await sleep(100);
      const d = await store.compactionDebt();
      clear = d.pendingBytes === 0 && d.running === 0 ? clear + 1 : 0;
    }
    return { ms: round(now() - t0, 0), owedAtOpen, settled: true };
  } finally {
    await store.close();
  }
};

export const dataDir = (root: string, name: string): string => join(root, 'bench-data', `${name}-${serial++}`);
