/**
 * Round-trip latency at a steady request rate: client.ask() against the in-process coordinator,
 * and a bare kafkajs echo (produce → consumer that produces the record to a reply topic → a
 * consumer that gets it) on the same broker with the same fetch wait and producer settings.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Partitioners } from 'kafkajs';
import { createClient } from '../../src/client/client';
import { H, readHeaders } from '../../src/messaging/headers';
import { createKafka, requestProducer } from '../../src/messaging/kafka';
import type { Deployment } from '../support/deployment';
import type { EngineObserver } from '../../src/engine/coordinator';
import { startInstance } from './ingest';
import { benchLog, bounded, catalogTopic, now, percentile, request, round, sleep } from './workload';

const log = benchLog('bench-client');

export interface LatencySummary {
  readonly sent: number;
  readonly answered: number;
  readonly failed: number;
  /** The rate the sender held, requests/s (a slow event loop shows here). */
  readonly achievedRate: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface LatencyRound {
  readonly summary: LatencySummary;
  readonly samples: number[];
}

/**
 * Fires `fire(i)` at `rate` per second for `seconds`, without waiting for answers (an open
 * loop, so a slow answer does not slow the sender), then waits for the stragglers.
 */
export const openLoop = async (rate: number, seconds: number, fire: (i: number) => Promise<number>): Promise<LatencyRound> => {
  const count = Math.round(rate * seconds);
  const samples: number[] = [];
  let failed = 0;
  const pending: Promise<void>[] = [];
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    pending.push(
      fire(i).then(
        (ms) => {
          samples.push(ms);
        },
        () => {
          failed++;
        },
      ),
    );
  }
  const sendMs = now() - t0;
  await bounded('answers to the latency round', 30_000, Promise.all(pending));
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted,
    summary: {
      sent: count,
      answered: samples.length,
      failed,
      achievedRate: round((count / sendMs) * 1000, 1),
      p50: round(percentile(sorted, 50)),
      p90: round(percentile(sorted, 90)),
      p99: round(percentile(sorted, 99)),
      p999: round(percentile(sorted, 99.9)),
      max: round(sorted[sorted.length - 1] ?? NaN),
      mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    },
  };
};

export const summarize = (rounds: readonly LatencyRound[]): LatencyRound => {
  const sorted = rounds.flatMap((r) => r.samples).sort((a, b) => a - b);
  const sum = (k: 'sent' | 'answered' | 'failed'): number => rounds.reduce((n, r) => n + r.summary[k], 0);
  return {
    samples: sorted,
    summary: {
      sent: sum('sent'),
      answered: sum('answered'),
      failed: sum('failed'),
      achievedRate: round(Math.min(...rounds.map((r) => r.summary.achievedRate)), 1),
      p50: round(percentile(sorted, 50)),
      p90: round(percentile(sorted, 90)),
      p99: round(percentile(sorted, 99)),
      p999: round(percentile(sorted, 99.9)),
      max: round(sorted[sorted.length - 1] ?? NaN),
      mean: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    },
  };
};

export interface RoundOptions {
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly dataDir: string;
}

/** Where an ask's time goes inside the coordinator over a measured round: each pass (decode to the store write) and each publication (its transaction), in ms. */
export interface AskServerParts {
  readonly passes: number;
  readonly recordsPerPass: number;
  readonly passMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The stages' mean per pass, ms: decode, decide (with the store's reads), net changes, the store write. */
  readonly stageMeanMs: Readonly<Record<string, number>>;
  readonly publications: number;
  readonly publishMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /**
   * Each measured ask cut at its snapshot's pass and transaction (one process, one clock), ms: `in` from
   * the send to the pass's start (the produce, the coordinator's fetch, the gather), `pass`, `queued`
   * from the pass's end to its transaction's start (the transaction in flight), `transaction`, and
   * `out` from its end to the reply in the client's hands (the markers, the reply's fetch): the
   * medians of all, and the means over the slowest 1 % of asks.
   */
  readonly askSplit: { readonly asks: number; readonly median: AskSplit; readonly slowest1Percent: AskSplit } | undefined;
  /** Node's collections over the measured asks (see GcDuringRound). */
  readonly gc: GcDuringRound;
}

export interface AskSplit {
  readonly totalMs: number;
  readonly inMs: number;
  readonly passMs: number;
  readonly queuedMs: number;
  readonly transactionMs: number;
  readonly outMs: number;
}

const spread = (xs: number[]): { p50: number; p99: number; max: number } => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1] ?? NaN) };
};

/** One measured round trip: when it was sent and answered (performance.now()). */
interface RoundTrip {
  readonly sentAt: number;
  readonly answeredAt: number;
}

/** One measured ask, and the snapshot that answered it. */
interface AskTimes extends RoundTrip {
  readonly snapshotId: bigint;
}

/** A pause of this process's JavaScript for Node's garbage collector, on performance.now()'s clock. */
interface GcPause {
  readonly start: number;
  readonly ms: number;
  /** A full (mark-compact) collection or a step of its incremental marking, rather than a young-generation scavenge. */
  readonly major: boolean;
}

/**
 * The collector's pauses over a measured round, and how the round trips met them: of the slowest
 * 1 %, how many had a pause of this process inside them (any, and a major one), and the pauses'
 * mean ms in each; of all, the share with one. The client and the server share the process, so
 * a pause stops both.
 */
export interface GcDuringRound {
  readonly collections: number;
  readonly ms: number;
  readonly majorCollections: number;
  readonly majorMs: number;
  readonly maxMs: number;
  readonly slowest1Percent: { readonly roundTrips: number; readonly withPause: number; readonly withMajorPause: number; readonly meanPauseMs: number; readonly meanMs: number };
  readonly shareWithPause: number;
}

const MAJOR = constants.NODE_PERFORMANCE_GC_MAJOR | constants.NODE_PERFORMANCE_GC_INCREMENTAL;

/** Records the collector's pauses until `stop` (which may be called again, and gives the same pauses). */
const watchGc = (): { stop(): GcPause[] } => {
  const pauses: GcPause[] = [];
  let watching = true;
  const take = (entries: readonly PerformanceEntry[]): void => {
    for (const e of entries) pauses.push({ start: e.startTime, ms: e.duration, major: (((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0) & MAJOR) !== 0 });
  };
  const observer = new PerformanceObserver((list) => take(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop: () => {
      if (watching) {
        watching = false;
        take(observer.takeRecords());
        observer.disconnect();
      }
      return pauses;
    },
  };
};

const gcDuring = (trips: readonly RoundTrip[], pauses: readonly GcPause[]): GcDuringRound => {
  const inside = (t: RoundTrip): GcPause[] => pauses.filter((p) => p.start < t.answeredAt && p.start + p.ms > t.sentAt);
  const slowest = [...trips].sort((x, y) => y.answeredAt - y.sentAt - (x.answeredAt - x.sentAt)).slice(0, Math.ceil(trips.length / 100));
  const met = slowest.map(inside);
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  const major = pauses.filter((p) => p.major);
  return {
    collections: pauses.length,
    ms: round(sum(pauses.map((p) => p.ms))),
    majorCollections: major.length,
    majorMs: round(sum(major.map((p) => p.ms))),
    maxMs: round(Math.max(0, ...pauses.map((p) => p.ms))),
    slowest1Percent: {
      roundTrips: slowest.length,
      withPause: met.filter((m) => m.length > 0).length,
      withMajorPause: met.filter((m) => m.some((p) => p.major)).length,
      meanPauseMs: round(sum(met.map((m) => sum(m.map((p) => p.ms)))) / Math.max(1, slowest.length)),
      meanMs: round(sum(slowest.map((t) => t.answeredAt - t.sentAt)) / Math.max(1, slowest.length)),
    },
    shareWithPause: round(trips.filter((t) => inside(t).length > 0).length / Math.max(1, trips.length), 3),
  };
};

/** The asks cut at their snapshots' passes and transactions (see AskServerParts.askSplit); asks whose pass or transaction was not seen are left out, and with none, there is no split. */
const splitAsks = (
  asks: readonly AskTimes[],
  passes: ReadonlyMap<bigint, { endAt: number; ms: number; outbox: string }>,
  transactions: ReadonlyMap<string, { endAt: number; ms: number }>,
): AskServerParts['askSplit'] => {
  const cut: AskSplit[] = [];
  for (const a of asks) {
    const pass = passes.get(a.snapshotId);
    const txn = pass === undefined ? undefined : transactions.get(pass.outbox);
    if (pass === undefined || txn === undefined) continue;
    const passStart = pass.endAt - pass.ms;
    const txnStart = txn.endAt - txn.ms;
    cut.push({ totalMs: a.answeredAt - a.sentAt, inMs: passStart - a.sentAt, passMs: pass.ms, queuedMs: txnStart - pass.endAt, transactionMs: txn.ms, outMs: a.answeredAt - txn.endAt });
  }
  if (cut.length === 0) return undefined;
  const fields = ['totalMs', 'inMs', 'passMs', 'queuedMs', 'transactionMs', 'outMs'] as const;
  const median = Object.fromEntries(fields.map((f) => [f, spread(cut.map((c) => c[f])).p50])) as unknown as AskSplit;
  const slowest = [...cut].sort((x, y) => y.totalMs - x.totalMs).slice(0, Math.ceil(cut.length / 100));
  const slowest1Percent = Object.fromEntries(fields.map((f) => [f, round(slowest.reduce((sum, c) => sum + c[f], 0) / slowest.length)])) as unknown as AskSplit;
  return { asks: cut.length, median, slowest1Percent };
};

/** Collects the coordinator's passes and publications while `recording`, and the asks they answered (`asked`). */
const partsObserver = (): { observer: EngineObserver; recording: { on: boolean }; asked: (a: AskTimes) => void; parts: (pauses: readonly GcPause[]) => AskServerParts } => {
  const recording = { on: false };
  const pass: number[] = [];
  const publish: number[] = [];
  const stages: Record<string, number> = { decodeMs: 0, decideMs: 0, changesMs: 0, commitMs: 0 };
  let records = 0;
  const asks: AskTimes[] = [];
  const passes = new Map<bigint, { endAt: number; ms: number; outbox: string }>();
  const transactions = new Map<string, { endAt: number; ms: number }>();
  const observer: EngineObserver = {
    passed: (result, n) => {
      if (!recording.on) return;
      const s = result.stages;
      const ms = s.decodeMs + s.decideMs + s.changesMs + (s.commitMs ?? 0);
      passes.set(result.meta.id, { endAt: now(), ms, outbox: result.outbox.key });
      pass.push(ms);
      stages.decodeMs += s.decodeMs;
      stages.decideMs += s.decideMs;
      stages.changesMs += s.changesMs;
      stages.commitMs += s.commitMs ?? 0;
      records += n;
    },
    published: (keys, seconds) => {
      if (!recording.on) return;
      publish.push(seconds * 1000);
      for (const k of keys) transactions.set(k, { endAt: now(), ms: seconds * 1000 });
    },
    activated: () => undefined,
  };
  return {
    observer,
    recording,
    asked: (a) => {
      if (recording.on) asks.push(a);
    },
    parts: (pauses) => ({
      passes: pass.length,
      recordsPerPass: round(records / Math.max(1, pass.length)),
      passMs: spread(pass),
      stageMeanMs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round(v / Math.max(1, pass.length), 3)])),
      publications: publish.length,
      publishMs: spread(publish),
      askSplit: splitAsks(asks, passes, transactions),
      gc: gcDuring(asks, pauses),
    }),
  };
};

/** client.ask() against a coordinator started for this round (default batch size), mixing creates and gets. */
export const askRound = async (d: Deployment, n: number, o: RoundOptions): Promise<LatencyRound & { statuses: Record<string, number>; server: AskServerParts }> => {
  const statuses: Record<string, number> = {};
  const watch = partsObserver();
  const inst = await startInstance(d, { dataDir: o.dataDir, observer: watch.observer });
  const client = createClient({
    kafka: d.parts.kafka,
    codec: d.parts.codec,
    log,
    topicPrefix: d.config.topicPrefix,
    replyTopic: d.config.replyTopic,
    askTimeoutMs: 10_000,
  });
  try {
    await bounded('client start', 60_000, client.start());
    // Names of this round only, so creates stay creates in every round; a get may race the create it reads and answer NOT_FOUND, which is an answer too.
    const ask = async (i: number): Promise<number> => {
      const r = request(i);
      const name = `r${n}_${r.name}`;
      const value = r.type === 'coord.v1.CreateLogicalSource' ? { ...r.value, name } : { name };
      const t = now();
      const reply = await client.ask(r.type, value);
      const answeredAt = now();
      const ms = answeredAt - t;
      watch.asked({ sentAt: t, answeredAt, snapshotId: reply.snapshotId });
      statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
      return ms;
    };
    const warm = Math.round(o.rate * o.warmupSeconds);
    await openLoop(o.rate, o.warmupSeconds, (i) => ask(i));
    for (const k of Object.keys(statuses)) delete statuses[k];
    watch.recording.on = true;
    const gc = watchGc();
    const measured = await openLoop(o.rate, o.seconds, (i) => ask(warm + i)).finally(() => {
      gc.stop();
      watch.recording.on = false;
    });
    const pauses = gc.stop();
    if (measured.summary.failed > 0) log.warn('some asks failed', { failed: measured.summary.failed });
    return { ...measured, statuses: { ...statuses }, server: watch.parts(pauses) };
  } finally {
    await client.close();
    await inst.close();
  }
};

/**
 * The bare round trip, on topics of its own created for this round. With `transactional`, the
 * server wraps each answer batch in a Kafka transaction as the coordinator does with each
 * pass's outbox; that variant is evidence only, not the baseline of the ratio.
 */
export const echoRound = async (
  d: Deployment,
  n: number,
  o: RoundOptions & { transactional?: boolean },
): Promise<LatencyRound & { serverPublish: { batches: number; p50: number; p99: number; max: number }; gc: GcDuringRound }> => {
  const kafka = createKafka(d.config, 'bench-echo', benchLog('bench-echo'));
  const publishMs: number[] = [];
  const requests = `${d.config.topicPrefix}.echo${n}.requests`;
  const replies = `${d.config.topicPrefix}.echo${n}.replies`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [requests, replies].map((topic) => ({ topic, numPartitions: 1 })) });
  } finally {
    await admin.disconnect();
  }
  const fetchWait = Math.max(1, d.config.batchTimeoutMs);
  // The server answers like the coordinator publishes: an idempotent producer, one send per fetched batch, acks from all.
  const serverProducer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    ...(o.transactional === true ? { transactionalId: `${requests}-server`, transactionTimeout: 60_000 } : {}),
  });
  const server = kafka.consumer({ groupId: `${requests}-server`, maxWaitTimeInMs: fetchWait, allowAutoTopicCreation: false, sessionTimeout: 10_000 });
  // The client sends like client.ask(): the request producer, one send per request, acks from all.
  const clientProducer = requestProducer(kafka);
  const listener = kafka.consumer({ groupId: `${replies}-client`, maxWaitTimeInMs: fetchWait, allowAutoTopicCreation: false, sessionTimeout: 10_000 });
  const waiting = new Map<string, () => void>();
  const value = await d.parts.codec.encode(catalogTopic(d), 'coord.v1.GetLogicalSource', { name: 'src_0' });
  try {
    await Promise.all([serverProducer.connect(), clientProducer.connect(), server.connect(), listener.connect()]);
    await server.subscribe({ topics: [requests], fromBeginning: true });
    await listener.subscribe({ topics: [replies], fromBeginning: true });
    await bounded(
      'echo server start',
      60_000,
      server.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (batch.messages.length === 0) return;
          const answer = {
            topic: replies,
            acks: -1,
            messages: batch.messages.map((m) => ({ key: m.key, value: m.value, headers: { [H.correlationId]: readHeaders(m.headers)[H.correlationId] ?? '' } })),
          };
          const t = now();
          if (o.transactional !== true) await serverProducer.send(answer);
          else {
            const txn = await serverProducer.transaction();
            try {
              await txn.send(answer);
              await txn.commit();
            } catch (err) {
              await txn.abort().catch(() => undefined);
              throw err;
            }
          }
          publishMs.push(now() - t);
        },
      }),
    );
    await bounded(
      'echo listener start',
      60_000,
      listener.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          const id = readHeaders(message.headers)[H.correlationId];
          if (id === undefined) return;
          const w = waiting.get(id);
          waiting.delete(id);
          w?.();
        },
      }),
    );
    const trips: RoundTrip[] = [];
    const echo = async (i: number): Promise<number> => {
      const id = `echo${n}-${i}`;
      const t = now();
      const back = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`no echo of ${id} within 10 s`));
        }, 10_000);
        waiting.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await clientProducer.send({ topic: requests, acks: -1, messages: [{ key: id, value, headers: { [H.correlationId]: id, [H.replyTo]: replies } }] });
      await back;
      const answeredAt = now();
      trips.push({ sentAt: t, answeredAt });
      return answeredAt - t;
    };
    const warm = Math.round(o.rate * o.warmupSeconds);
    await openLoop(o.rate, o.warmupSeconds, (i) => echo(i));
    publishMs.length = 0;
    trips.length = 0;
    const gc = watchGc();
    const measured = await openLoop(o.rate, o.seconds, (i) => echo(warm + i)).finally(() => gc.stop());
    const sorted = [...publishMs].sort((a, b) => a - b);
    return {
      ...measured,
      gc: gcDuring(trips, gc.stop()),
      serverPublish: { batches: sorted.length, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1] ?? NaN) },
    };
  } finally {
    await Promise.allSettled([server.disconnect(), listener.disconnect()]);
    await Promise.allSettled([serverProducer.disconnect(), clientProducer.disconnect()]);
  }
};
