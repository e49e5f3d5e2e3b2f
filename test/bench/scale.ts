/**
 * Scale: the coordinator under a fleet's steady heartbeats (10,000 workers once a second, from
 * a load generator in its own process) while a client asks at 100/s; against the same asks
 * with no fleet. Reports the coordinator's lag on the events topic and the ask p99 of both.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createClient } from '../../src/client/client';
import { loadContracts } from '../../src/messaging/schemas';
import { topicName } from '../../src/messaging/topics';
import { createEngineMetrics } from '../../src/metrics/coordinator';
import type { Deployment } from '../support/deployment';
import type { TestStack } from '../support/stack';
import { startInstance } from './ingest';
import { openLoop, type LatencySummary } from './latency';
import { benchLog, bounded, now, request, round, sleep } from './workload';

const log = benchLog('bench-scale');

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
  /**
   * The age of the oldest committed snapshot whose outputs wait for publication (the coordinator's
   * coord_outbox_oldest_age_seconds), sampled with the lag: an ask's reply waits at least that long.
   */
  readonly outboxAgeSeconds: { readonly max: number; readonly mean: number };
  /** Output records committed and waiting for publication (coord_outbox_records), most and mean of the samples. */
  readonly outboxRecords: { readonly max: number; readonly mean: number };
  readonly generator: { sent: number; seconds: number; maxBehindMs: number } | undefined;
}

export const scaleRun = async (stack: TestStack, d: Deployment, o: { workers: number; seconds: number; askRate: number; dataDir: string }, say: (m: string) => void): Promise<ScaleRun> => {
  // The coordinator's own metrics, as /metrics serves them: the outbox waiting for publication is sampled with the lag.
  const registry = new Registry();
  const reply = loadContracts().get('coord.v1.Reply');
  if (reply === undefined) throw new Error('schemas/coord.v1.Reply.avsc is missing');
  const observer = createEngineMetrics({ registry, dlqTopic: topicName(d.config.topicPrefix, 'dlq'), reply });
  const gauge = async (name: string): Promise<number> => (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
  const inst = await startInstance(d, { dataDir: o.dataDir, observer });
  const client = createClient({ kafka: d.parts.kafka, codec: d.parts.codec, log, topicPrefix: d.config.topicPrefix, replyTopic: d.config.replyTopic, askTimeoutMs: 10_000 });
  const infra = topicName(d.config.topicPrefix, 'events.infra');
  try {
    await bounded('client start', 60_000, client.start());
    const ask = async (i: number): Promise<number> => {
      const r = request(i);
      const t = now();
      await client.ask(r.type, { ...r.value, name: `s_${r.name}` });
      return now() - t;
    };
    await openLoop(o.askRate, 1, (i) => ask(i));
    const unloaded = await openLoop(o.askRate, Math.min(20, o.seconds), (i) => ask(1_000 + i));
    say(`scale: unloaded ask p99 ${unloaded.summary.p99} ms at ${o.askRate}/s`);

    const generator = spawn(process.execPath, ['--require', 'tsx/cjs', join(__dirname, 'heartbeats.ts'), stack.brokers, stack.registryUrl, d.config.topicPrefix, String(o.workers), String(o.seconds + 5)], {
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
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const lag = await inst.coordinator.read((v) => v.inputs.filter((i) => i.topic === infra).reduce((n, i) => n + (i.end === undefined || i.end <= i.next ? 0 : Number(i.end - i.next)), 0));
          lags.push(lag);
          ages.push(await gauge('coord_outbox_oldest_age_seconds'));
          waiting.push(await gauge('coord_outbox_records'));
          await sleep(250);
        }
      })();
      const loaded = await openLoop(o.askRate, o.seconds, (i) => ask(100_000 + i));
      sampling = false;
      await sampler;
      await bounded('the load generator to end', 120_000, exited);
      const maxLag = Math.max(0, ...lags);
      const result: ScaleRun = {
        workers: o.workers,
        seconds: o.seconds,
        askRate: o.askRate,
        unloaded: unloaded.summary,
        loaded: loaded.summary,
        p99Ratio: round(loaded.summary.p99 / unloaded.summary.p99, 3),
        maxLagRecords: maxLag,
        maxLagSeconds: round(maxLag / o.workers, 3),
        meanLagRecords: round(lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length), 1),
        outboxAgeSeconds: { max: round(Math.max(0, ...ages), 3), mean: round(ages.reduce((a, b) => a + b, 0) / Math.max(1, ages.length), 3) },
        outboxRecords: { max: Math.max(0, ...waiting), mean: round(waiting.reduce((a, b) => a + b, 0) / Math.max(1, waiting.length), 1) },
        generator: lines.find((l) => l.sent !== undefined) as ScaleRun['generator'],
      };
      say(`scale: ${o.workers} workers heartbeating for ${o.seconds} s: loaded ask p99 ${loaded.summary.p99} ms (×${result.p99Ratio}), lag at most ${maxLag} records = ${result.maxLagSeconds} s; outputs waiting for publication: oldest ${result.outboxAgeSeconds.mean} s on average (most ${result.outboxAgeSeconds.max} s), ${result.outboxRecords.mean} records (most ${result.outboxRecords.max})`);
      return result;
    } finally {
      generator.kill('SIGKILL');
    }
  } finally {
    await client.close();
    await inst.close();
  }
};
