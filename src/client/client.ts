/**
 * What producers embed: `ask()` sends a request with a correlation id and a reply-to topic
 * and waits for its reply; replies nobody waits for are counted and dropped.
 */
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Status } from '../../projections/types';
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { Logger } from '../log';
import type { Codec } from '../messaging/codec';
import { requestFingerprint } from '../messaging/fingerprint';
import { H, readHeaders } from '../messaging/headers';
import type { Kafka, Producer } from '../messaging/clients';
import { requestProducer } from '../messaging/kafka';
import { RECORD_TOPICS } from '../messaging/protocol';
import { signed, type Signer } from '../messaging/signing';
import { topicName } from '../messaging/topics';
import { createClientMetrics } from '../metrics/client';
import { createPendingTable } from './pending';
import { createReplyReader } from './replies';

/** The reply statuses are the protocol's, declared once with the domain's vocabulary. */
export type ReplyStatus = Status;

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
  /** Signs every record sent (src/messaging/signing.ts), for a deployment that requires signatures; none: unsigned. */
  readonly signer?: Signer;
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
  /** `renewals`: reply consumers made anew after kafkajs gave one up for good. */
  readonly stats: { readonly dropped: number; readonly inFlight: number; readonly lag: number | undefined; readonly renewals: number };
  /** Rejects what is pending and disconnects. */
  close(): Promise<void>;
}

/** How an ask that got no reply ended, for the latency histogram. */
const OUTCOMES: Partial<Record<string, string>> = { ASK_TIMEOUT: 'TIMEOUT', CLIENT_CLOSED: 'CLOSED', BACKPRESSURE: 'BACKPRESSURE', ASK_ABORTED: 'ABORTED' };
const outcomeOf = (err: unknown): string => (isCoordError(err) ? (OUTCOMES[err.code] ?? 'ERROR') : 'ERROR');

/** A decoded Reply record as the client hands it out: the payload union's one branch, named. */
const replyOf = (decoded: unknown): Reply => {
  const v = decoded as Record<string, unknown> & { payload: Record<string, Record<string, unknown>> | null };
  const branch = v.payload === null ? null : Object.entries(v.payload)[0];
  return {
    correlationId: v.correlationId as string,
    status: v.status as ReplyStatus,
    message: v.message as string,
    snapshotId: v.snapshotId as bigint,
    snapshotTs: v.snapshotTs as bigint,
    payload: branch === null || branch === undefined ? null : { type: branch[0], value: branch[1] },
  };
};

export const createClient = (o: ClientOptions): Client => {
  const metrics = o.metrics === undefined ? undefined : createClientMetrics(o.metrics.registry, o.metrics.name ?? 'default');
  const pending = createPendingTable<Reply>({ maxInFlight: o.maxInFlight ?? 1_000, maxLag: o.maxLag, metrics });
  let producer: Producer | undefined;
  let closed = false;

  const onReply = async (value: Buffer | null, rawHeaders: Parameters<typeof readHeaders>[0]): Promise<void> => {
    const headers = readHeaders(rawHeaders);
    const hinted = headers[H.correlationId];
    if (hinted !== undefined && !pending.isWaiting(hinted)) {
      pending.drop();
      return;
    }
    let reply: Reply;
    try {
      reply = replyOf((await o.codec.decode(value)).value);
    } catch (err) {
      o.log.warn('dropping a reply that does not decode', { error: errorMessage(err) });
      pending.drop();
      return;
    }
    pending.settle(reply, headers[H.fingerprint]);
  };

  const snapshots = topicName(o.topicPrefix, 'snapshots');
  const replies = createReplyReader({
    kafka: o.kafka,
    topics: o.maxLag === undefined ? [o.replyTopic] : [o.replyTopic, snapshots],
    log: o.log,
    onRenewed: () => metrics?.renewed(),
    onMessage: async ({ topic, message }) => {
      if (topic !== snapshots) return onReply(message.value, message.headers);
      // Only a marker the coordinator wrote (in a transaction, as every one of its markers) says the lag:
      // a record anyone appended there must not hold this client back.
      const written = (message as { batchContext?: { inTransaction?: unknown } }).batchContext;
      if (written !== undefined && written.inTransaction !== true) return;
      const published = Number(readHeaders(message.headers)[H.lag]);
      if (Number.isSafeInteger(published) && published >= 0) pending.setLag(published);
    },
  });

  const start = async (): Promise<void> => {
    const p = requestProducer(o.kafka);
    producer = p;
    try {
      await p.connect();
      // A consumer that failed to join is disconnected by the reader: a later start() tries again.
      await replies.start();
    } catch (err) {
      await p.disconnect().catch(() => undefined);
      throw err;
    }
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
    return { topic, message: signed(o.signer, RECORD_TOPICS[type] as string, { key, value: await o.codec.encode(topic, type, value), headers }) };
  };

  const isRequest = (type: string): boolean => RECORD_TOPICS[type]?.startsWith('requests.') === true;

  const ready = (): Producer => {
    if (closed || producer === undefined) throw new CoordError('CLIENT_CLOSED', 'the client is closed or not started; call start() first');
    return producer;
  };

  const sendMany = async (items: readonly Outgoing[]): Promise<void> => {
    const p = ready();
    await pending.acquire(Date.now() + o.askTimeoutMs);
    try {
      const built = await Promise.all(items.map((it) => message(it.type, it.value, it.opts ?? {}, isRequest(it.type) ? (it.opts?.correlationId ?? randomUUID()) : undefined)));
      const byTopic = new Map<string, (typeof built)[number]['message'][]>();
      for (const b of built) byTopic.set(b.topic, [...(byTopic.get(b.topic) ?? []), b.message]);
      await p.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    } finally {
      pending.release();
    }
  };

  const attempt = async (type: string, value: Record<string, unknown>, opts: AskOptions, correlationId: string, timeoutMs: number): Promise<Reply> => {
    const p = ready();
    const { topic, message: msg } = await message(type, value, opts, correlationId);
    const fingerprint = requestFingerprint(type, msg.key, msg.value);
    const rawFingerprint = requestFingerprint('', msg.key, msg.value);
    // close() may have come while the value was being encoded: it rejects only what it can see waiting.
    ready();
    const expected = pending.expect(correlationId, type, { fingerprint, rawFingerprint }, timeoutMs, opts.signal);
    try {
      await p.send({ topic, acks: -1, messages: [msg] });
    } catch (err) {
      expected.fail(err as Error);
    }
    return expected.reply;
  };

  const ask = async (type: string, value: Record<string, unknown>, opts: AskOptions = {}): Promise<Reply> => {
    ready();
    if (!isRequest(type)) throw new CoordError('WRONG_TOPIC', `${type} is not a request of the protocol`);
    const correlationId = opts.correlationId ?? randomUUID();
    const timeoutMs = opts.timeoutMs ?? o.askTimeoutMs;
    const timing = metrics?.askStarted();
    try {
      await pending.acquire(Date.now() + timeoutMs);
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
      pending.release();
    }
  };

  return {
    start,
    ask,
    send: (type, value, opts = {}) => sendMany([{ type, value, opts }]),
    sendMany,
    trySend: (type, value, opts = {}) => {
      if (closed || producer === undefined || !pending.hasRoom()) return false;
      void sendMany([{ type, value, opts }]).catch((err) => o.log.warn('trySend failed', { type, error: errorMessage(err) }));
      return true;
    },
    get stats() {
      const { dropped, inFlight, lag } = pending.stats;
      return { dropped, inFlight, lag, renewals: replies.renewals };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      pending.close();
      await replies.close();
      await producer?.disconnect().catch(() => undefined);
    },
  };
};
