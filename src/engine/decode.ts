/** Step 2 of the pass: raw Kafka records become typed messages, or rejections that say why. */
import { isCoordError, type ErrorCode } from '../errors';
import type { Codec, Decoded } from '../messaging/codec';
import { H, readHeaders, type Headers, type RawHeaders } from '../messaging/headers';
import { kindOfRecord } from '../messaging/protocol';
import { shown } from '../messaging/reply-to';
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
  /** Input values larger than this are refused (the setting in force, from the log). */
  readonly maxValueBytes: number;
  /** The protocol kind of each input topic. */
  readonly kindOf: (topic: string) => TopicKind | undefined;
  /** What is wrong with a reply going to this topic, or undefined when it may (src/messaging/reply-to.ts). */
  readonly replyToProblem: (topic: string) => string | undefined;
}

/** Timestamps past this (year 2527) would overflow hybrid timestamps; such a record is refused. */
export const MAX_TIMESTAMP_MS = 2 ** 44;

/** The longest correlation id answered: it becomes the reply's key and is remembered for retries. */
export const MAX_CORRELATION_ID = 255;

const isRequestKind = (kind: TopicKind | undefined): boolean => kind !== undefined && kind.startsWith('requests.');

/**
 * The sender's address as far as it can be trusted: a correlation id that is too long, or a
 * reply-to the rule refuses, cannot be answered, so it is left out of the rejection.
 */
const addressOf = (headers: Headers, ctx: DecodeContext): { correlationId: string | undefined; replyTo: string | undefined; problem?: { code: ErrorCode; reason: string } } => {
  const cid = headers[H.correlationId];
  const replyTo = headers[H.replyTo];
  if (cid !== undefined && cid.length > MAX_CORRELATION_ID)
    return { correlationId: undefined, replyTo: undefined, problem: { code: 'HEADER_INVALID', reason: `header '${H.correlationId}' has ${cid.length} characters, more than ${MAX_CORRELATION_ID}` } };
  const refused = replyTo === undefined || replyTo === '' ? undefined : ctx.replyToProblem(replyTo);
  if (refused !== undefined) return { correlationId: cid, replyTo: undefined, problem: { code: 'REPLY_TO_FORBIDDEN', reason: refused } };
  return { correlationId: cid === '' ? undefined : cid, replyTo: replyTo === '' ? undefined : replyTo };
};

/**
 * Input problems are rejections; a registry that does not answer is not the input's fault,
 * so that error propagates and the pass is retried.
 */
/** The input's own faults, as the codec reports them; anything else (a registry away) is not the record's. */
const INPUT_FAULTS: ReadonlySet<string> = new Set(['WIRE_MALFORMED', 'SCHEMA_UNKNOWN', 'SCHEMA_INVALID', 'DECODE_LIMIT', 'SCHEMA_SUBJECT_MISMATCH']);

/** A record refused before it reached a decider, with whatever of its address can be trusted. */
const rejection = (c: Common, code: ErrorCode, reason: string): Rejection => ({ raw: c.raw, headers: c.headers, correlationId: c.correlationId, replyTo: c.replyTo, timestampMs: c.timestampMs, ok: false, code, reason });

/** The codec's refusal of the input (its own fault) as a rejection; anything else (a registry away) is thrown for the pass to retry. */
const refusedBy = (c: Common, err: unknown): Rejection => {
  if (isCoordError(err) && INPUT_FAULTS.has(err.code)) return rejection(c, err.code, err.message);
  throw err;
};

/** A decoded value as the envelope of its record, or WRONG_TOPIC when its type belongs elsewhere. */
const typed = (c: Common, kind: TopicKind | undefined, deadlineMs: number | undefined, decoded: Decoded): Envelope | Rejection => {
  const expected = kindOfRecord(decoded.fullName);
  if (expected === undefined || expected !== kind)
    return rejection(
      c,
      'WRONG_TOPIC',
      expected === undefined ? `record type ${decoded.fullName} is not part of the protocol` : `record type ${decoded.fullName} belongs on ${expected}, not on ${c.raw.topic}`,
    );
  return { raw: c.raw, headers: c.headers, correlationId: c.correlationId, replyTo: c.replyTo, timestampMs: c.timestampMs, ok: true, type: decoded.fullName, value: decoded.value, deadlineMs };
};

/**
 * A decoded record, or the rejection that says why not. Synchronous when the codec knows
 * everything it needs already (the usual case: a promise a record costs more than the decode);
 * a promise only when the registry must be asked first. A record costs its address, its common
 * part and what it returns, and no closure on the usual path (a pass decodes thousands).
 */
export const decodeRecord = (raw: RawRecord, ctx: DecodeContext): Envelope | Rejection | Promise<Envelope | Rejection> => {
  const headers = readHeaders(raw.headers);
  const kind = ctx.kindOf(raw.topic);
  const address = addressOf(headers, ctx);
  const common: Common = { raw, headers, correlationId: address.correlationId, replyTo: address.replyTo, timestampMs: Number(raw.timestamp) };

  // A request's address must be good; an event's is only used to answer a rejection, and a bad one is dropped.
  if (address.problem !== undefined && (isRequestKind(kind) || address.problem.code === 'HEADER_INVALID')) return rejection(common, address.problem.code, address.problem.reason);

  if (raw.value !== null && raw.value.length > ctx.maxValueBytes)
    return rejection(common, 'VALUE_TOO_LARGE', `value has ${raw.value.length} bytes, more than maxValueBytes ${ctx.maxValueBytes}`);

  if (isRequestKind(kind)) {
    if (common.correlationId === undefined) return rejection(common, 'HEADER_MISSING', `a request needs a '${H.correlationId}' header`);
    if (common.replyTo === undefined) return rejection(common, 'HEADER_MISSING', `a request needs a '${H.replyTo}' header`);
  }
  if (!(common.timestampMs >= 0 && common.timestampMs < MAX_TIMESTAMP_MS)) {
    return rejection(common, 'WIRE_MALFORMED', `record timestamp ${shown(raw.timestamp)} is outside 0..${MAX_TIMESTAMP_MS}; inputs should be stamped by the broker (LogAppendTime)`);
  }
  let deadlineMs: number | undefined;
  const deadline = headers[H.deadlineMs];
  if (deadline !== undefined) {
    deadlineMs = /^\d{1,16}$/.test(deadline) ? Number(deadline) : NaN;
    if (!Number.isSafeInteger(deadlineMs)) return rejection(common, 'HEADER_INVALID', `header '${H.deadlineMs}' must be epoch milliseconds, got ${shown(deadline)}`);
  }

  let known: Decoded | undefined;
  try {
    known = ctx.codec.decodeKnown?.(raw.value, raw.topic);
  } catch (err) {
    return refusedBy(common, err);
  }
  if (known !== undefined) return typed(common, kind, deadlineMs, known);
  return ctx.codec.decode(raw.value, raw.topic).then(
    (decoded) => typed(common, kind, deadlineMs, decoded),
    (err: unknown) => refusedBy(common, err),
  );
};
