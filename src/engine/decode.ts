/** Step 2 of the pass: raw Kafka records become typed messages, or rejections that say why. */
import { isCoordError, type ErrorCode } from '../errors';
import type { Codec } from '../messaging/codec';
import { H, readHeaders, type Headers, type RawHeaders } from '../messaging/headers';
import { kindOfRecord } from '../messaging/protocol';
import type { TopicKind } from '../messaging/topics';

export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: RawHeaders;
  /** Log time, ms since the epoch, as kafkajs gives it. */
  readonly timestamp: string;
}

interface Common {
  readonly raw: RawRecord;
  readonly headers: Headers;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
  readonly timestampMs: number;
}

export interface Envelope extends Common {
  readonly ok: true;
  readonly type: string;
  readonly value: Record<string, unknown>;
  readonly deadlineMs: number | undefined;
}

export interface Rejection extends Common {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly reason: string;
}

export interface DecodeContext {
  readonly codec: Codec;
  readonly maxValueBytes: number;
  /** The protocol kind of each input topic. */
  readonly kindOf: (topic: string) => TopicKind | undefined;
  /** Whether replies may go to this topic: not one of the deployment's own, but for its replies topic. */
  readonly replyToAllowed: (topic: string) => boolean;
}

/** Timestamps past this (year 2527) would overflow hybrid timestamps; such a record is refused. */
export const MAX_TIMESTAMP_MS = 2 ** 44;

const isRequestKind = (kind: TopicKind | undefined): boolean => kind !== undefined && kind.startsWith('requests.');

/**
 * Input problems are rejections; a registry that does not answer is not the input's fault,
 * so that error propagates and the pass is retried.
 */
export const decodeRecord = async (raw: RawRecord, ctx: DecodeContext): Promise<Envelope | Rejection> => {
  const headers = readHeaders(raw.headers);
  const common: Common = {
    raw,
    headers,
    correlationId: headers[H.correlationId],
    replyTo: headers[H.replyTo],
    timestampMs: Number(raw.timestamp),
  };
  const reject = (code: ErrorCode, reason: string): Rejection => ({ ...common, ok: false, code, reason });

  if (raw.value !== null && raw.value.length > ctx.maxValueBytes)
    return reject('VALUE_TOO_LARGE', `value has ${raw.value.length} bytes, more than maxValueBytes ${ctx.maxValueBytes}`);

  const kind = ctx.kindOf(raw.topic);
  if (isRequestKind(kind)) {
    if (common.correlationId === undefined || common.correlationId === '')
      return reject('HEADER_MISSING', `a request needs a '${H.correlationId}' header`);
    if (common.replyTo === undefined || common.replyTo === '') return reject('HEADER_MISSING', `a request needs a '${H.replyTo}' header`);
    if (!ctx.replyToAllowed(common.replyTo))
      // Not answerable there either: a reply must never land on the deployment's own topics.
      return { ...reject('HEADER_MISSING', `'${H.replyTo}' names ${common.replyTo}, one of the coordinator's own topics; use the replies topic or one of your own`), replyTo: undefined };
  }
  if (!(common.timestampMs >= 0 && common.timestampMs < MAX_TIMESTAMP_MS)) {
    return reject('WIRE_MALFORMED', `record timestamp ${raw.timestamp} is outside 0..${MAX_TIMESTAMP_MS}; inputs should be stamped by the broker (LogAppendTime)`);
  }
  let deadlineMs: number | undefined;
  const deadline = headers[H.deadlineMs];
  if (deadline !== undefined) {
    deadlineMs = Number(deadline);
    if (!Number.isSafeInteger(deadlineMs)) return reject('HEADER_MISSING', `header '${H.deadlineMs}' must be epoch milliseconds, got ${JSON.stringify(deadline)}`);
  }

  let decoded;
  try {
    decoded = await ctx.codec.decode(raw.value);
  } catch (err) {
    if (isCoordError(err, 'WIRE_MALFORMED') || isCoordError(err, 'SCHEMA_UNKNOWN') || isCoordError(err, 'SCHEMA_INVALID'))
      return reject(err.code, err.message);
    throw err;
  }
  const expected = kindOfRecord(decoded.fullName);
  if (expected === undefined || expected !== kind)
    return reject(
      'WRONG_TOPIC',
      expected === undefined
        ? `record type ${decoded.fullName} is not part of the protocol`
        : `record type ${decoded.fullName} belongs on ${expected}, not on ${raw.topic}`,
    );
  return { ...common, ok: true, type: decoded.fullName, value: decoded.value, deadlineMs };
};

