/**
 * Scale: the coordinator under a fleet's steady heartbeats (10,000 workers once a second, from
 * a load generator in its own process) while a client asks at 100/s; against the same asks
 * with no fleet. Reports the coordinator's lag on the events topic and the ask p99 of both.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { createClient } from '../../src/client/client';
import { topicName } from '../../src/messaging/topics';
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
  readonly generator: { sent: number; seconds: number; maxBehindMs: number } | undefined;
}

export const scaleRun = async (stack: TestStack, d: Deployment, o: { workers: number; seconds: number; askRate: number; dataDir: string }, say: (m: string) => void): Promise<ScaleRun> => {
  const inst = await startInstance(d, { dataDir: o.dataDir });
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
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const lag = await inst.coordinator.read((v) => v.inputs.filter((i) => i.topic === infra).reduce((n, i) => n + (i.end === undefined || i.end <= i.next ? 0 : Number(i.end - i.next)), 0));
          lags.push(lag);
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
        generator: lines.find((l) => l.sent !== undefined) as ScaleRun['generator'],
      };
      say(`scale: ${o.workers} workers heartbeating for ${o.seconds} s: loaded ask p99 ${loaded.summary.p99} ms (×${result.p99Ratio}), lag at most ${maxLag} records = ${result.maxLagSeconds} s`);
      return result;
    } finally {
      generator.kill('SIGKILL');
    }
  } finally {
    await client.close();
    await inst.close();
  }
};
