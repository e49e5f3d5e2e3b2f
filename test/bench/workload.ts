/**
 * The benchmarks' input and small tools: a deterministic mix of catalog requests produced in
 * bulk, bounded waits, and the statistics the figures are built from.
 */
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { createLogger, type Logger } from '../../src/log';
import { H } from '../../src/messaging/headers';
import { topicName } from '../../src/messaging/topics';
import type { Deployment } from '../support/deployment';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Node's arguments to run a sibling script of the bench (`heartbeats`, `rss-child`) as this one
 * runs: compiled when the bench runs compiled (`make bench`), through tsx when it runs from the
 * sources.
 */
export const benchScript = (name: string): string[] =>
  __filename.endsWith('.js') ? [join(__dirname, `${name}.js`)] : ['--require', 'tsx/cjs', join(__dirname, `${name}.ts`)];

export const now = (): number => performance.now();

/** Rejects with a message that names what hung; only a real hang reaches it, every budget is generous. */
export const bounded = async <T>(what: string, ms: number, p: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

export const FIELDS = [
  { name: 'id', type: 'INT64' },
  { name: 'speed', type: 'FLOAT64' },
];

/** One create in `CREATE_EVERY` requests; the others read a source created earlier in the same sequence. */
export const CREATE_EVERY = 4;

export interface Request {
  readonly type: 'coord.v1.CreateLogicalSource' | 'coord.v1.GetLogicalSource';
  readonly value: Record<string, unknown>;
  readonly name: string;
}

/** Request `i` of the mix: creates have unique names, gets always hit an existing source. */
export const request = (i: number): Request => {
  if (i % CREATE_EVERY === 0) {
    const name = `src_${i}`;
    return { type: 'coord.v1.CreateLogicalSource', value: { name, fields: FIELDS }, name };
  }
  const creates = Math.floor(i / CREATE_EVERY) + 1;
  const name = `src_${((i * 7919) % creates) * CREATE_EVERY}`;
  return { type: 'coord.v1.GetLogicalSource', value: { name }, name };
};

export const createsIn = (n: number): number => Math.ceil(n / CREATE_EVERY);

export const catalogTopic = (d: Deployment): string => topicName(d.config.topicPrefix, 'requests.catalog');

/**
 * Produces requests [0, count) to the catalog topic with unique correlation ids and the
 * deployment's reply topic, 1 000 a send, acks from all replicas, a few sends in flight.
 */
export const produceRequests = async (d: Deployment, count: number, tag: string, onProgress?: (done: number) => void): Promise<{ ms: number }> => {
  const topic = catalogTopic(d);
  const producer = d.parts.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const t0 = now();
  try {
    const CHUNK = 1_000;
    const WINDOW = 4;
    const inFlight = new Set<Promise<unknown>>();
    let lastReport = 0;
    for (let from = 0; from < count; from += CHUNK) {
      const to = Math.min(count, from + CHUNK);
      const messages = [];
      for (let i = from; i < to; i++) {
        const r = request(i);
        messages.push({
          key: r.name,
          value: await d.parts.codec.encode(topic, r.type, r.value),
          headers: { [H.correlationId]: `${tag}-${i}`, [H.replyTo]: d.config.replyTopic },
        });
      }
      const sent: Promise<unknown> = producer.send({ topic, acks: -1, messages }).finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      if (onProgress !== undefined && to - lastReport >= 100_000) {
        lastReport = to;
        onProgress(to);
      }
    }
    await Promise.all(inFlight);
    return { ms: now() - t0 };
  } finally {
    await producer.disconnect();
  }
};

export const infraTopic = (d: Deployment): string => topicName(d.config.topicPrefix, 'events.infra');

/** Workers the event workload registers before their heartbeats. */
export const EVENT_WORKERS = 100;

/**
 * Produces `count` infrastructure events: `EVENT_WORKERS` registrations, then heartbeats
 * round-robin over those workers. Events carry no headers and get no reply.
 */
export const produceEvents = async (d: Deployment, count: number): Promise<{ ms: number }> => {
  const topic = infraTopic(d);
  const producer = d.parts.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const t0 = now();
  try {
    const registered = await Promise.all(
      Array.from({ length: EVENT_WORKERS }, (_, w) =>
        d.parts.codec.encode(topic, 'coord.v1.WorkerRegistered', { workerId: `w${w}`, incarnation: 'i1', host: `w${w}.local`, slots: 8, capabilities: [] }),
      ),
    );
    const beats = await Promise.all(Array.from({ length: EVENT_WORKERS }, (_, w) => d.parts.codec.encode(topic, 'coord.v1.WorkerHeartbeat', { workerId: `w${w}`, incarnation: 'i1' })));
    const CHUNK = 1_000;
    const WINDOW = 4;
    const inFlight = new Set<Promise<unknown>>();
    for (let from = 0; from < count; from += CHUNK) {
      const to = Math.min(count, from + CHUNK);
      const messages = [];
      for (let i = from; i < to; i++) messages.push({ key: `w${i % EVENT_WORKERS}`, value: i < EVENT_WORKERS ? registered[i] : beats[i % EVENT_WORKERS] });
      const sent: Promise<unknown> = producer.send({ topic, acks: -1, messages }).finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return { ms: now() - t0 };
  } finally {
    await producer.disconnect();
  }
};

export const percentile = (sorted: readonly number[], p: number): number => {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
};

export const median = (xs: readonly number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

export const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Rounds for JSON: figures to 3 significant decimals, no float noise. */
export const round = (x: number, digits = 2): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

export const rssMb = (): number => round(process.resourceUsage().maxRSS / 1024, 1);

/** Where the bench's own coordinators and clients log (kept after the run, outside the temporary stack folder). */
export const LOG_FILE = join(tmpdir(), `coord-bench-${process.pid}.log`);
const logCounts = new Map<string, number>();

/**
 * A logger for the bench's coordinators and clients: lines go to LOG_FILE, not the console,
 * and each distinct message is counted (kafkajs retries show up here, e.g. CONCURRENT_TRANSACTIONS).
 */
export const benchLog = (component: string): Logger =>
  createLogger(process.env.BENCH_LOG === '1' ? 'info' : 'warn', { component }, (line) => {
    appendFileSync(LOG_FILE, line);
    try {
      const o = JSON.parse(line) as { level?: string; msg?: string; component?: string };
      const k = `${o.level} ${o.component}: ${(o.msg ?? '').slice(0, 140)}`;
      logCounts.set(k, (logCounts.get(k) ?? 0) + 1);
    } catch {
      // not ours to judge: the line is in the file anyway
    }
  });

export const loggedCounts = (): Record<string, number> => Object.fromEntries([...logCounts].sort((a, b) => b[1] - a[1]));
