/**
 * What producers embed: `ask()` sends a request with a correlation id and a reply-to topic
 * and waits for its reply; replies nobody waits for are counted and dropped.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { CoordError, errorMessage } from '../errors';
import type { Logger } from '../log';
import type { Codec } from '../messaging/codec';
import { H, readHeaders } from '../messaging/headers';
import { requestProducer } from '../messaging/kafka';
import { RECORD_TOPICS } from '../messaging/protocol';
import { topicName } from '../messaging/topics';

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
  | 'INTERNAL';

export interface Reply {
  readonly correlationId: string;
  readonly status: ReplyStatus;
  readonly message: string;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  /** The payload's record name and value, or null. */
  readonly payload: { readonly type: string; readonly value: Record<string, unknown> } | null;
}

export interface AskOptions {
  readonly timeoutMs?: number;
  /** Reuse an id to retry a request without a second effect. */
  readonly correlationId?: string;
  readonly deadlineMs?: number;
  readonly key?: string;
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
  /** Most asks waiting at once; more wait for a free place. */
  readonly maxInFlight?: number;
}

export interface Client {
  start(): Promise<void>;
  ask(type: string, value: Record<string, unknown>, opts?: AskOptions): Promise<Reply>;
  readonly stats: { readonly dropped: number; readonly inFlight: number };
  /** Rejects what is pending and disconnects. */
  close(): Promise<void>;
}

interface Waiter {
  resolve(r: Reply): void;
  reject(e: Error): void;
}

export const createClient = (o: ClientOptions): Client => {
  const waiting = new Map<string, Waiter>();
  const maxInFlight = o.maxInFlight ?? 1_000;
  const slotWaiters: (() => void)[] = [];
  let dropped = 0;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  let closed = false;

  const onReply = async (value: Buffer | null, rawHeaders: Parameters<typeof readHeaders>[0]): Promise<void> => {
    const hinted = readHeaders(rawHeaders)[H.correlationId];
    if (hinted !== undefined && !waiting.has(hinted)) {
      dropped++;
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
      dropped++;
      return;
    }
    const w = waiting.get(reply.correlationId);
    if (w === undefined) {
      dropped++; // late, duplicate, or someone else's
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
    await consumer.subscribe({ topic: o.replyTopic, fromBeginning: false });
    const admin = o.kafka.admin();
    await admin.connect();
    let ends: { partition: number; offset: string }[];
    try {
      ends = await admin.fetchTopicOffsets(o.replyTopic);
    } finally {
      await admin.disconnect();
    }
    const c = consumer;
    // Start at the log end as it was before any ask, so no reply to us can be skipped.
    const joined = new Promise<void>((resolve) => {
      c.on(c.events.GROUP_JOIN, () => {
        for (const e of ends) c.seek({ topic: o.replyTopic, partition: e.partition, offset: e.offset });
        resolve();
      });
    });
    await c.run({ autoCommit: false, eachMessage: async ({ message }) => onReply(message.value, message.headers) });
    await joined;
  };

  const acquire = async (): Promise<void> => {
    while (waiting.size >= maxInFlight) await new Promise<void>((r) => slotWaiters.push(r));
  };
  const release = (): void => slotWaiters.shift()?.();

  const ask = async (type: string, value: Record<string, unknown>, opts: AskOptions = {}): Promise<Reply> => {
    if (closed || producer === undefined) throw new CoordError('CLIENT_CLOSED', 'the client is closed or not started; call start() first');
    const kind = RECORD_TOPICS[type];
    if (kind === undefined || !kind.startsWith('requests.')) throw new CoordError('WRONG_TOPIC', `${type} is not a request of the protocol`);
    const topic = topicName(o.topicPrefix, kind);
    const correlationId = opts.correlationId ?? randomUUID();
    const timeoutMs = opts.timeoutMs ?? o.askTimeoutMs;
    await acquire();
    const encoded = await o.codec.encode(topic, type, value);
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
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      waiting.set(correlationId, {
        resolve: (r) => {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    const headers: Record<string, string> = { [H.correlationId]: correlationId, [H.replyTo]: o.replyTopic };
    if (opts.deadlineMs !== undefined) headers[H.deadlineMs] = String(opts.deadlineMs);
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: opts.key ?? (typeof value.name === 'string' ? value.name : null), value: encoded, headers }] });
    } catch (err) {
      waiting.get(correlationId)?.reject(err as Error);
      waiting.delete(correlationId);
    }
    return result.finally(release);
  };

  return {
    start,
    ask,
    get stats() {
      return { dropped, inFlight: waiting.size };
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
