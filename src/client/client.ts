/**
 * What producers embed: `ask()` sends a request with a correlation id and a reply-to topic
 * and waits for its reply; replies nobody waits for are counted and dropped.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { Logger } from '../log';
import type { Codec } from '../messaging/codec';
import { requestFingerprint } from '../messaging/fingerprint';
import { H, readHeaders } from '../messaging/headers';
import { requestProducer } from '../messaging/kafka';
import { RECORD_TOPICS } from '../messaging/protocol';
import { topicName } from '../messaging/topics';
import { createClientMetrics } from '../metrics/client';

export type ReplyStatus =
  | 'OK'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'CONFLICT'
  | 'ABORTED'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL'
  | 'PERMISSION_DENIED';

export interface Reply {
  readonly correlationId: string;
  readonly status: ReplyStatus;
  readonly message: string;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  /** The payload's record name and value, or null. */
  readonly payload: { readonly type: string; readonly value: Record<string, unknown> } | null;
}

export interface AskOptions extends SendOptions {
  /** How long one attempt waits for its reply. */
  readonly timeoutMs?: number;
  /** Attempts after the first, each with the same correlation id, so a retry has no second effect. */
  readonly retries?: number;
  readonly signal?: AbortSignal;
}

export interface ClientOptions {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly log: Logger;
  readonly topicPrefix: string;
  /** The topic replies come back on; it must exist. */
  readonly replyTopic: string;
  readonly askTimeoutMs: number;
  /** Most asks and sends in flight at once; more wait for a free place (trySend refuses instead). */
  readonly maxInFlight?: number;
  /**
   * Backpressure on the coordinator: while the lag it publishes on its snapshot markers
   * (input records fetched-but-not-folded plus not yet fetched) is over this bound, sends wait.
   */
  readonly maxLag?: number;
  /**
   * Where the client's own metrics go (asks in flight, ask latency, replies dropped, backpressure
   * waits): the embedding application's registry, which it serves. `name` tells clients apart
   * in a shared registry (label `client`, default `default`).
   */
  readonly metrics?: { readonly registry: Registry; readonly name?: string };
}

export interface SendOptions {
  readonly correlationId?: string;
  readonly deadlineMs?: number;
  readonly key?: string;
}

export interface Outgoing {
  readonly type: string;
  readonly value: Record<string, unknown>;
  readonly opts?: SendOptions;
}

export interface Client {
  start(): Promise<void>;
  /** Sends a request and waits for its reply. */
  ask(type: string, value: Record<string, unknown>, opts?: AskOptions): Promise<Reply>;
  /** Sends a record of the protocol (an event, or a request whose reply nobody awaits); resolves on the broker's ack. */
  send(type: string, value: Record<string, unknown>, opts?: SendOptions): Promise<void>;
  /** Several records in one produce request. */
  sendMany(items: readonly Outgoing[]): Promise<void>;
  /** Like send, but returns false at once instead of waiting when the in-flight bound or the lag bound is reached. */
  trySend(type: string, value: Record<string, unknown>, opts?: SendOptions): boolean;
  readonly stats: { readonly dropped: number; readonly inFlight: number; readonly lag: number | undefined };
  /** Rejects what is pending and disconnects. */
  close(): Promise<void>;
}

interface Waiter {
  /** Of the request sent (src/messaging/fingerprint.ts): a reply that names another request is not this one's. */
  readonly fingerprint: string;
  /** The same without the type: what a reply to a request refused before decoding carries. */
  readonly rawFingerprint: string;
  resolve(r: Reply): void;
  reject(e: Error): void;
}

/** How an ask that got no reply ended, for the latency histogram. */
const outcomeOf = (err: unknown): string => (isCoordError(err, 'ASK_TIMEOUT') ? 'TIMEOUT' : isCoordError(err, 'CLIENT_CLOSED') ? 'CLOSED' : 'ERROR');

export const createClient = (o: ClientOptions): Client => {
  const waiting = new Map<string, Waiter>();
  const maxInFlight = o.maxInFlight ?? 1_000;
  const slotWaiters: (() => void)[] = [];
  let dropped = 0;
  const metrics = o.metrics === undefined ? undefined : createClientMetrics(o.metrics.registry, o.metrics.name ?? 'default');
  const drop = (): void => {
    dropped++;
    metrics?.dropped();
  };
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  let closed = false;
  /** The coordinator's lag as its latest snapshot marker said, when maxLag is set. */
  let lag: number | undefined;

  const onReply = async (value: Buffer | null, rawHeaders: Parameters<typeof readHeaders>[0]): Promise<void> => {
    const hinted = readHeaders(rawHeaders)[H.correlationId];
    if (hinted !== undefined && !waiting.has(hinted)) {
      drop();
      return;
    }
    let reply: Reply;
    try {
      const d = await o.codec.decode(value);
      const v = d.value as Record<string, unknown> & { payload: Record<string, Record<string, unknown>> | null };
      const branch = v.payload === null ? null : Object.entries(v.payload)[0];
      reply = {
        correlationId: v.correlationId as string,
        status: v.status as ReplyStatus,
        message: v.message as string,
        snapshotId: v.snapshotId as bigint,
        snapshotTs: v.snapshotTs as bigint,
        payload: branch === null || branch === undefined ? null : { type: branch[0], value: branch[1] },
      };
    } catch (err) {
      o.log.warn('dropping a reply that does not decode', { error: errorMessage(err) });
      drop();
      return;
    }
    const w = waiting.get(reply.correlationId);
    // Another client's request under the same id is answered under that id too (CONFLICT, or its own reply): not ours.
    const answered = readHeaders(rawHeaders)[H.fingerprint];
    if (w === undefined || (answered !== undefined && answered !== w.fingerprint && answered !== w.rawFingerprint)) {
      drop(); // late, duplicate, or someone else's
      return;
    }
    waiting.delete(reply.correlationId);
    w.resolve(reply);
  };

  const start = async (): Promise<void> => {
    producer = requestProducer(o.kafka);
    await producer.connect();
    consumer = o.kafka.consumer({ groupId: `coord-client-${randomUUID()}`, maxWaitTimeInMs: 20, allowAutoTopicCreation: false, sessionTimeout: 10_000 });
    await consumer.connect();
    const snapshots = topicName(o.topicPrefix, 'snapshots');
    const topics = o.maxLag === undefined ? [o.replyTopic] : [o.replyTopic, snapshots];
    await consumer.subscribe({ topics, fromBeginning: false });
    const admin = o.kafka.admin();
    await admin.connect();
    const ends: { topic: string; partition: number; offset: string }[] = [];
    try {
      for (const topic of topics) for (const e of await admin.fetchTopicOffsets(topic)) ends.push({ topic, partition: e.partition, offset: e.offset });
    } finally {
      await admin.disconnect();
    }
    const c = consumer;
    // Start at the log end as it was before any ask, so no reply to us can be skipped.
    const joined = new Promise<void>((resolve) => {
      c.on(c.events.GROUP_JOIN, () => {
        for (const e of ends) c.seek({ topic: e.topic, partition: e.partition, offset: e.offset });
        resolve();
      });
    });
    await c.run({
      autoCommit: false,
      eachMessage: async ({ topic, message }) => {
        if (topic !== snapshots) return onReply(message.value, message.headers);
        // Only a marker the coordinator wrote (in a transaction, as every one of its markers) says the lag:
        // a record anyone appended there must not hold this client back.
        const written = (message as { batchContext?: { inTransaction?: unknown } }).batchContext;
        if (written !== undefined && written.inTransaction !== true) return;
        const published = Number(readHeaders(message.headers)[H.lag]);
        if (Number.isSafeInteger(published) && published >= 0) {
          lag = published;
          if (!overLag()) for (const wake of slotWaiters.splice(0)) wake();
        }
      },
    });
    await joined;
  };

  /** Places taken by asks and sends; taken synchronously, so no burst slips past the bound. */
  let reserved = 0;
  const inFlight = (): number => reserved;
  const overLag = (): boolean => o.maxLag !== undefined && lag !== undefined && lag > o.maxLag;

  /** Takes a place once one is free (and the coordinator's lag is under the bound), waiting at most until `deadline`. */
  const acquire = async (deadline: number): Promise<void> => {
    const waitedFrom = reserved >= maxInFlight || overLag() ? { at: performance.now(), reason: overLag() ? ('lag' as const) : ('in_flight' as const) } : undefined;
    try {
      while (reserved >= maxInFlight || overLag()) {
        if (closed) throw new CoordError('CLIENT_CLOSED', 'the client closed');
        const left = deadline - Date.now();
        if (left <= 0)
          throw new CoordError('ASK_TIMEOUT', overLag() ? `the coordinator is ${lag} records behind (maxLag ${o.maxLag}); try again later` : `${inFlight()} requests are in flight (maxInFlight ${maxInFlight})`, {
            retriable: true,
          });
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.min(left, overLag() ? 100 : 1_000));
          slotWaiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    } finally {
      if (waitedFrom !== undefined) metrics?.waited(waitedFrom.reason, (performance.now() - waitedFrom.at) / 1_000);
    }
    reserved++;
    metrics?.places(reserved);
  };
  const release = (): void => {
    reserved--;
    metrics?.places(reserved);
    slotWaiters.shift()?.();
  };

  const topicOf = (type: string): string => {
    const kind = RECORD_TOPICS[type];
    if (kind === undefined || !(kind.startsWith('requests.') || kind.startsWith('events.')))
      throw new CoordError('WRONG_TOPIC', `${type} is not a request or an event of the protocol`);
    return topicName(o.topicPrefix, kind);
  };

  const message = async (type: string, value: Record<string, unknown>, opts: SendOptions, correlationId: string | undefined) => {
    const topic = topicOf(type);
    const headers: Record<string, string> = {};
    if (correlationId !== undefined) {
      headers[H.correlationId] = correlationId;
      headers[H.replyTo] = o.replyTopic;
    }
    if (opts.deadlineMs !== undefined) headers[H.deadlineMs] = String(opts.deadlineMs);
    const key = opts.key ?? (typeof value.name === 'string' ? value.name : null);
    return { topic, message: { key, value: await o.codec.encode(topic, type, value), headers } };
  };

  const isRequest = (type: string): boolean => RECORD_TOPICS[type]?.startsWith('requests.') === true;

  const ready = (): Producer => {
    if (closed || producer === undefined) throw new CoordError('CLIENT_CLOSED', 'the client is closed or not started; call start() first');
    return producer;
  };

  const sendMany = async (items: readonly Outgoing[]): Promise<void> => {
    const p = ready();
    await acquire(Date.now() + o.askTimeoutMs);
    try {
      const built = await Promise.all(items.map((it) => message(it.type, it.value, it.opts ?? {}, isRequest(it.type) ? (it.opts?.correlationId ?? randomUUID()) : undefined)));
      const byTopic = new Map<string, (typeof built)[number]['message'][]>();
      for (const b of built) byTopic.set(b.topic, [...(byTopic.get(b.topic) ?? []), b.message]);
      await p.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    } finally {
      release();
    }
  };

  const attempt = async (type: string, value: Record<string, unknown>, opts: AskOptions, correlationId: string, timeoutMs: number): Promise<Reply> => {
    const p = ready();
    const { topic, message: msg } = await message(type, value, opts, correlationId);
    const fingerprint = requestFingerprint(type, msg.key, msg.value);
    const rawFingerprint = requestFingerprint('', msg.key, msg.value);
    // close() may have come while the value was being encoded: it rejects only what it can see waiting.
    ready();
    const result = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(correlationId);
        reject(new CoordError('ASK_TIMEOUT', `no reply to ${type} (correlation id ${correlationId}) within ${timeoutMs} ms; retry with the same correlation id`, { retriable: true }));
      }, timeoutMs);
      const onAbort = (): void => {
        waiting.delete(correlationId);
        clearTimeout(timer);
        reject(new CoordError('ASK_TIMEOUT', `ask ${correlationId} was aborted`));
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      waiting.set(correlationId, {
        fingerprint,
        rawFingerprint,
        resolve: (r) => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
    });
    // It may settle (abort, close) while the send is still out; it is awaited below.
    result.catch(() => undefined);
    try {
      await p.send({ topic, acks: -1, messages: [msg] });
    } catch (err) {
      waiting.get(correlationId)?.reject(err as Error);
      waiting.delete(correlationId);
    }
    return result;
  };

  const ask = async (type: string, value: Record<string, unknown>, opts: AskOptions = {}): Promise<Reply> => {
    ready();
    if (!isRequest(type)) throw new CoordError('WRONG_TOPIC', `${type} is not a request of the protocol`);
    const correlationId = opts.correlationId ?? randomUUID();
    const timeoutMs = opts.timeoutMs ?? o.askTimeoutMs;
    const timing = metrics?.askStarted();
    try {
      await acquire(Date.now() + timeoutMs);
    } catch (err) {
      timing?.ended(outcomeOf(err));
      throw err;
    }
    try {
      for (let n = 0; ; n++) {
        try {
          const reply = await attempt(type, value, opts, correlationId, timeoutMs);
          timing?.ended(reply.status);
          return reply;
        } catch (err) {
          if (!isCoordError(err, 'ASK_TIMEOUT') || n >= (opts.retries ?? 0) || opts.signal?.aborted || closed) {
            timing?.ended(outcomeOf(err));
            throw err;
          }
        }
      }
    } finally {
      release();
    }
  };

  return {
    start,
    ask,
    send: (type, value, opts = {}) => sendMany([{ type, value, opts }]),
    sendMany,
    trySend: (type, value, opts = {}) => {
      if (closed || producer === undefined || reserved >= maxInFlight || overLag()) return false;
      void sendMany([{ type, value, opts }]).catch((err) => o.log.warn('trySend failed', { type, error: errorMessage(err) }));
      return true;
    },
    get stats() {
      return { dropped, inFlight: inFlight(), lag };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const [id, w] of waiting) w.reject(new CoordError('CLIENT_CLOSED', `the client closed while ask ${id} was waiting`));
      waiting.clear();
      for (const wake of slotWaiters.splice(0)) wake();
      await consumer?.disconnect().catch(() => undefined);
      await producer?.disconnect().catch(() => undefined);
    },
  };
};
