/**
 * Scale: the coordinator under a fleet's steady heartbeats (10,000 workers once a second, from
 * a load generator in its own process) while a client asks at 100/s; against the same asks
 * with no fleet. Reports the coordinator's lag on the events topic and the ask p99 of both, and
 * the coordinator's peak resident set: it runs as users run it, the compiled CLI in a process of
 * its own, watched through its /metrics and /proc.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createClient } from '../../src/client/client';
import { topicName } from '../../src/messaging/topics';
import type { Deployment } from '../support/deployment';
import type { TestStack } from '../support/stack';
import { coordinatorProcess } from '../support/coordinator-process';
import { openLoop, type LatencySummary } from './latency';
import { benchLog, benchScript, bounded, now, request, round, sleep } from './workload';

const log = benchLog('bench-scale');

/** The most and the mean of a run's samples. */
export interface Spread {
  readonly max: number;
  readonly mean: number;
}

export interface ScaleRun {
  readonly workers: number;
  readonly seconds: number;
  readonly askRate: number;
  readonly unloaded: LatencySummary;
  readonly loaded: LatencySummary;
  /** Loaded ask p99 ÷ unloaded ask p99. */
  readonly p99Ratio: number;
  /** Most heartbeats fetched but not folded seen in any sample (every 250 ms), and that lag in seconds at the fleet's rate. */
  readonly maxLagRecords: number;
  readonly maxLagSeconds: number;
  readonly meanLagRecords: number;
  /** Samples the coordinator's /metrics did not answer within 5 s (skipped). */
  readonly missedSamples: number;
  /**
   * The age of the oldest committed snapshot whose outputs wait for publication (the coordinator's
   * coord_outbox_oldest_age_seconds), sampled with the lag: an ask's reply waits at least that long.
   */
  readonly outboxAgeSeconds: Spread;
  /** Output records committed and waiting for publication (coord_outbox_records), most and mean of the samples. */
  readonly outboxRecords: Spread;
  /** RocksDB's compactions in the coordinator's store under the fleet, from its /metrics samples: the share of samples with one running, the most at once. */
  readonly storeCompactions: { readonly shareRunning: number; readonly maxRunning: number };
  readonly generator: { sent: number; seconds: number; maxBehindMs: number } | undefined;
  /** Where an ask's time goes inside the coordinator, from its /metrics over the unloaded and the loaded asks. */
  readonly coordinatorParts: { readonly unloaded: CoordinatorParts | undefined; readonly loaded: CoordinatorParts | undefined };
  /** The coordinator process's resident set: its peak over the whole run (start, unloaded and loaded asks, the fleet), when ready, the mean of the loaded samples, at the end; MB. */
  readonly coordinatorRss: {
    readonly peakMb: number;
    readonly atReadyMb: number;
    readonly meanMb: number;
    readonly endMb: number;
    /** V8's heap (live objects and garbage not collected yet) and the memory outside it (Buffers, RocksDB's binding's), as its /metrics says, sampled with the lag. */
    readonly heapTotalMb: Spread;
    readonly heapUsedMb: Spread;
    readonly externalMb: Spread;
  };
}

/**
 * The coordinator's passes and publications between two reads of its /metrics: how many, their mean
 * duration (ms; a pass from decode to its RocksDB write, a publication its transaction) and the mean
 * records a pass folded.
 */
export interface CoordinatorParts {
  readonly passes: number;
  readonly passMeanMs: number;
  /** Passes that took more than 10 ms, and more than 25 ms: the tail an ask may wait behind. */
  readonly passesOver10Ms: number;
  readonly passesOver25Ms: number;
  readonly recordsPerPass: number;
  readonly publications: number;
  readonly publishMeanMs: number;
  readonly publicationsOver10Ms: number;
  readonly publicationsOver25Ms: number;
  /** Node's garbage collections in the coordinator (nodejs_gc_duration_seconds): how many, their time in all, and how many paused it more than 10 ms. */
  readonly gcs: number;
  readonly gcMs: number;
  readonly gcsOver10Ms: number;
}

export const coordinatorParts = (before: string | undefined, after: string | undefined): CoordinatorParts | undefined => {
  if (before === undefined || after === undefined) return undefined;
  const delta = (name: string, labels = ''): number => metricSum(after, name, labels) - metricSum(before, name, labels);
  /** How many of a histogram's observations in the window were above `le` seconds (one of its buckets' bounds). */
  const over = (histogram: string, le: string): number => delta(`${histogram}_count`) - delta(`${histogram}_bucket`, `le="${le}"`);
  const passes = delta('coord_pass_duration_seconds_count');
  const publications = delta('coord_publish_duration_seconds_count');
  return {
    passes,
    passMeanMs: round((delta('coord_pass_duration_seconds_sum') * 1000) / Math.max(1, passes), 2),
    passesOver10Ms: over('coord_pass_duration_seconds', '0.01'),
    passesOver25Ms: over('coord_pass_duration_seconds', '0.025'),
    recordsPerPass: round(delta('coord_batch_records_sum') / Math.max(1, delta('coord_batch_records_count')), 1),
    publications,
    publishMeanMs: round((delta('coord_publish_duration_seconds_sum') * 1000) / Math.max(1, publications), 2),
    publicationsOver10Ms: over('coord_publish_duration_seconds', '0.01'),
    publicationsOver25Ms: over('coord_publish_duration_seconds', '0.025'),
    gcs: delta('nodejs_gc_duration_seconds_count'),
    gcMs: round(delta('nodejs_gc_duration_seconds_sum') * 1000, 1),
    gcsOver10Ms: over('nodejs_gc_duration_seconds', '0.01'),
  };
};

const MB = 1024 * 1024;
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const spread = (xs: readonly number[], digits: number): Spread => ({ max: round(Math.max(0, ...xs), digits), mean: round(mean(xs), digits) });

/** The sum of a metric's samples in `/metrics` text, over the lines that carry the label `labels` (`topic="x"`; every line when empty). */
export const metricSum = (text: string, name: string, labels = ''): number => {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    const space = line.lastIndexOf(' ');
    if (labels !== '') {
      // A whole label (`topic="x"`), not the tail of another (`source_topic="x"`).
      const at = line.indexOf(labels, name.length);
      if (at < 0 || at > space || (line[at - 1] !== '{' && line[at - 1] !== ',')) continue;
    }
    sum += Number(line.slice(space + 1));
  }
  return sum;
};

/** Peak and current resident set size of a process, MB, from /proc (Linux): VmHWM is the kernel's own high-water mark, so no peak between samples is missed. */
export const processRss = (pid: number): { peakMb: number; rssMb: number } => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMb: round(kb('VmHWM') / 1024, 1), rssMb: round(kb('VmRSS') / 1024, 1) };
};

export const scaleRun = async (stack: TestStack, d: Deployment, o: { workers: number; seconds: number; askRate: number; env?: Record<string, string> }, say: (m: string) => void): Promise<ScaleRun> => {
  // The coordinator as users run it: the compiled CLI in a process of its own, with the default settings. Its lag and its
  // outbox come from its /metrics, and its memory from the kernel, so the figures are the coordinator's alone.
  const proc = await coordinatorProcess(stack, { prefix: d.config.topicPrefix, name: `scale-${d.config.topicPrefix}`, compiled: true, env: { COORD_LOG_LEVEL: 'warn', ...o.env } });
  const metrics = async (): Promise<string> => {
    const res = await fetch(`${proc.httpUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`the scale run's coordinator answered /metrics with ${res.status}`);
    return res.text();
  };
  const client = createClient({ kafka: d.parts.kafka, codec: d.parts.codec, log, topicPrefix: d.config.topicPrefix, replyTopic: d.config.replyTopic, askTimeoutMs: 10_000 });
  const infra = topicName(d.config.topicPrefix, 'events.infra');
  try {
    await proc.start();
    const pid = proc.pid;
    if (pid === undefined) throw new Error("the scale run's coordinator has no pid");
    const startedRss = processRss(pid);
    await bounded('client start', 60_000, client.start());
    const ask = async (i: number): Promise<number> => {
      const r = request(i);
      const t = now();
      await client.ask(r.type, { ...r.value, name: `s_${r.name}` });
      return now() - t;
    };
    // A fresh process: its JIT warms on a few seconds of asks before any is measured.
    await openLoop(o.askRate, 5, (i) => ask(i));
    // The parts are evidence only: a /metrics the coordinator did not answer in time leaves them out, the run goes on.
    const unloadedFrom = await metrics().catch(() => undefined);
    const unloaded = await openLoop(o.askRate, Math.min(10, o.seconds), (i) => ask(1_000 + i));
    const unloadedParts = coordinatorParts(unloadedFrom, await metrics().catch(() => undefined));
    say(`scale: unloaded ask p99 ${unloaded.summary.p99} ms at ${o.askRate}/s`);

    const generator = spawn(process.execPath, [...benchScript('heartbeats'), stack.brokers, stack.registryUrl, d.config.topicPrefix, String(o.workers), String(o.seconds + 5)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: Record<string, number>[] = [];
    let registered: () => void = () => undefined;
    const registeredP = new Promise<void>((r) => (registered = r));
    createInterface({ input: generator.stdout }).on('line', (l) => {
      const o2 = JSON.parse(l) as Record<string, number>;
      lines.push(o2);
      if (o2.registered !== undefined) registered();
    });
    const exited = new Promise<void>((r) => generator.once('exit', () => r()));
    try {
      await bounded('the fleet registering', 120_000, registeredP);
      // Let the registrations be folded and the heartbeats reach a steady rate.
      await sleep(5_000);
      const lags: number[] = [];
      const ages: number[] = [];
      const waiting: number[] = [];
      const rss: number[] = [];
      const heap: number[] = [];
      const used: number[] = [];
      const external: number[] = [];
      const compacting: number[] = [];
      let sampling = true;
      /** A sample the coordinator did not answer in time is skipped and counted; the run goes on. */
      let missed = 0;
      const sampler = (async () => {
        while (sampling) {
          const text = await metrics().catch(() => undefined);
          if (text === undefined) {
            missed++;
            await sleep(250);
            continue;
          }
          lags.push(metricSum(text, 'coord_input_lag_records', `topic="${infra}"`));
          ages.push(metricSum(text, 'coord_outbox_oldest_age_seconds'));
          waiting.push(metricSum(text, 'coord_outbox_records'));
          rss.push(processRss(pid).rssMb);
          heap.push(metricSum(text, 'nodejs_heap_size_total_bytes') / MB);
          used.push(metricSum(text, 'nodejs_heap_size_used_bytes') / MB);
          external.push(metricSum(text, 'nodejs_external_memory_bytes') / MB);
          compacting.push(metricSum(text, 'coord_store_running_compactions'));
          await sleep(250);
        }
      })();
      let loaded: Awaited<ReturnType<typeof openLoop>>;
      const loadedFrom = await metrics().catch(() => undefined);
      try {
        loaded = await openLoop(o.askRate, o.seconds, (i) => ask(100_000 + i));
      } finally {
        sampling = false;
        await sampler;
      }
      const loadedParts = coordinatorParts(loadedFrom, await metrics().catch(() => undefined));
      if (lags.length === 0) throw new Error(`the scale run's coordinator answered none of ${missed} /metrics samples`);
      await bounded('the load generator to end', 120_000, exited);
      const memory = processRss(pid);
      const maxLag = Math.max(0, ...lags);
      const result: ScaleRun = {
        workers: o.workers,
        seconds: o.seconds,
        askRate: o.askRate,
        unloaded: unloaded.summary,
        loaded: loaded.summary,
        p99Ratio: round(loaded.summary.p99 / unloaded.summary.p99, 3),
        maxLagRecords: maxLag,
        missedSamples: missed,
        maxLagSeconds: round(maxLag / o.workers, 3),
        meanLagRecords: round(mean(lags), 1),
        outboxAgeSeconds: spread(ages, 3),
        outboxRecords: spread(waiting, 1),
        storeCompactions: { shareRunning: round(compacting.filter((n) => n > 0).length / Math.max(1, compacting.length), 3), maxRunning: Math.max(0, ...compacting) },
        generator: lines.find((l) => l.sent !== undefined) as ScaleRun['generator'],
        coordinatorParts: { unloaded: unloadedParts, loaded: loadedParts },
        coordinatorRss: {
          peakMb: memory.peakMb,
          atReadyMb: startedRss.rssMb,
          meanMb: round(mean(rss), 1),
          endMb: memory.rssMb,
          heapTotalMb: spread(heap, 1),
          heapUsedMb: spread(used, 1),
          externalMb: spread(external, 1),
        },
      };
      say(`scale: ${o.workers} workers heartbeating for ${o.seconds} s: loaded ask p99 ${loaded.summary.p99} ms (×${result.p99Ratio}), lag at most ${maxLag} records = ${result.maxLagSeconds} s; outputs waiting for publication: oldest ${result.outboxAgeSeconds.mean} s on average (most ${result.outboxAgeSeconds.max} s), ${result.outboxRecords.mean} records (most ${result.outboxRecords.max}); a pass ${loadedParts?.passMeanMs} ms on average (${loadedParts?.recordsPerPass} records; unloaded ${unloadedParts?.passMeanMs} ms), a transaction ${loadedParts?.publishMeanMs} ms (unloaded ${unloadedParts?.publishMeanMs} ms); loaded, over 10 ms: ${loadedParts?.passesOver10Ms} passes, ${loadedParts?.publicationsOver10Ms} transactions, ${loadedParts?.gcsOver10Ms} of ${loadedParts?.gcs} collections (${loadedParts?.gcMs} ms of GC); a RocksDB compaction running in ${Math.round(result.storeCompactions.shareRunning * 100)}% of the samples (most ${result.storeCompactions.maxRunning} at once)`);
      return result;
    } finally {
      generator.kill('SIGKILL');
    }
  } finally {
    await client.close().catch((err: unknown) => say(`scale: closing the client failed: ${String(err)}`));
    await proc.stop();
  }
};
