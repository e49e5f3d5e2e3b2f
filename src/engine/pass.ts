/**
 * One pass = one snapshot: decode → order → decide and evolve → one write batch holding
 * state, consumed offsets, the snapshot marker and the outbox. Publishing is the caller's.
 */
import { STAGES, type Change, type Decision, type Handler, type Message, type PassContext, type ReplyDraft } from '../../projections';
import { errorMessage } from '../errors';
import type { Codec } from '../messaging/codec';
import { H } from '../messaging/headers';
import { offsetKey, outboxKey, SNAPSHOT_META } from '../store/keys';
import { encodeOutRecord, type OutRecord } from '../store/outbox';
import type { WriteOps } from '../store/rocks';
import { decodeRecord, type DecodeContext, type Envelope, type RawRecord, type Rejection } from './decode';
import { encodeMeta, nextHybrid, tpKey, WorkingState, type SnapshotMeta } from './state';

export interface PassDeps extends DecodeContext {
  readonly codec: Codec;
  readonly handlers: ReadonlyMap<string, Handler<never>>;
  readonly topics: { readonly replies: string; readonly dlq: string };
}

export interface PassResult {
  readonly meta: SnapshotMeta;
  readonly ops: WriteOps;
  readonly outbox: readonly (readonly [string, OutRecord])[];
  /** Next offset to read, per `topic:partition`, after this pass. */
  readonly offsets: ReadonlyMap<string, bigint>;
  readonly applied: number;
  readonly rejected: number;
}

const stageIndex = (handlers: PassDeps['handlers'], e: Envelope): number => {
  const h = handlers.get(e.type);
  return h === undefined ? STAGES.length : STAGES.indexOf(h.stage);
};

const compareOffsets = (a: string, b: string): number => {
  const x = BigInt(a);
  const y = BigInt(b);
  return x === y ? 0 : x < y ? -1 : 1;
};

/** DESIGN §4 step 3: by stage, then topic, partition, offset. */
export const orderEnvelopes = (handlers: PassDeps['handlers'], envelopes: readonly Envelope[]): Envelope[] =>
  [...envelopes].sort(
    (a, b) =>
      stageIndex(handlers, a) - stageIndex(handlers, b) ||
      (a.raw.topic < b.raw.topic ? -1 : a.raw.topic > b.raw.topic ? 1 : 0) ||
      a.raw.partition - b.raw.partition ||
      compareOffsets(a.raw.offset, b.raw.offset),
  );

export const runPass = async (
  records: readonly RawRecord[],
  state: WorkingState,
  prev: SnapshotMeta,
  deps: PassDeps,
): Promise<PassResult> => {
  const decoded = await Promise.all(records.map((r) => decodeRecord(r, deps)));
  const logTimeMs = decoded.reduce((t, d) => Math.max(t, Number.isFinite(d.timestampMs) ? d.timestampMs : 0), prev.logTimeMs);
  const meta: SnapshotMeta = { id: prev.id + 1n, ts: nextHybrid(prev.ts, logTimeMs), logTimeMs };
  const ctx: PassContext = { snapshotId: meta.id, snapshotTs: meta.ts, logTimeMs };

  const out: OutRecord[] = [];
  const outputHeaders = (): Record<string, string> => ({ [H.snapshotId]: meta.id.toString(), [H.seq]: String(out.length) });

  const sendReply = async (to: { correlationId: string | undefined; replyTo: string | undefined }, draft: ReplyDraft): Promise<void> => {
    if (to.correlationId === undefined || to.replyTo === undefined) return;
    const value = await deps.codec.encode(deps.topics.replies, 'coord.v1.Reply', {
      correlationId: to.correlationId,
      status: draft.status,
      message: draft.message,
      snapshotId: meta.id,
      snapshotTs: meta.ts,
      payload: draft.payload === null ? null : { [draft.payload.type]: draft.payload.value },
    });
    out.push({ topic: to.replyTo, key: to.correlationId, value, headers: { ...outputHeaders(), [H.correlationId]: to.correlationId } });
  };

  const toDlq = async (r: Rejection): Promise<void> => {
    const raw = r.raw;
    const value = raw.value === null ? Buffer.alloc(0) : raw.value.subarray(0, deps.maxValueBytes);
    out.push({
      topic: deps.topics.dlq,
      key: raw.key === null ? null : raw.key.toString(),
      value,
      headers: {
        ...r.headers,
        ...outputHeaders(),
        [H.dlqCode]: r.code,
        [H.dlqReason]: r.reason,
        [H.dlqTopic]: raw.topic,
        [H.dlqPartition]: String(raw.partition),
        [H.dlqOffset]: raw.offset,
      },
    });
    await sendReply(r, { status: 'INVALID_ARGUMENT', message: r.reason, payload: null });
  };

  const changes: Change[] = [];
  let rejected = 0;
  let applied = 0;
  const good: Envelope[] = [];
  for (const d of decoded) {
    if (d.ok) good.push(d);
    else {
      rejected++;
      await toDlq(d);
    }
  }

  for (const e of orderEnvelopes(deps.handlers, good)) {
    const handler = deps.handlers.get(e.type);
    if (handler === undefined) {
      rejected++;
      await toDlq({ ...e, ok: false, code: 'WRONG_TOPIC', reason: `no projection decides ${e.type}` });
      continue;
    }
    if (e.deadlineMs !== undefined && e.deadlineMs < logTimeMs) {
      await sendReply(e, { status: 'DEADLINE_EXCEEDED', message: `deadline ${e.deadlineMs} passed before the request was applied at log time ${logTimeMs}`, payload: null });
      continue;
    }
    const msg: Message<never> = {
      type: e.type,
      value: e.value as never,
      key: e.raw.key === null ? null : e.raw.key.toString(),
      correlationId: e.correlationId,
      timestampMs: e.timestampMs,
    };
    let decision: Decision;
    try {
      decision = handler.decide(msg, state, ctx);
    } catch (err) {
      // A decider that throws fails its own message only; the rest of the batch commits.
      await sendReply(e, { status: 'INTERNAL', message: `the coordinator failed on this request: ${errorMessage(err)}`, payload: null });
      continue;
    }
    for (const c of decision.changes) {
      state.apply(c);
      changes.push(c);
    }
    applied++;
    if (decision.reply !== null) await sendReply(e, decision.reply);
  }

  const offsets = new Map<string, bigint>();
  const offsetPuts = new Map<string, readonly [string, Buffer]>();
  for (const r of records) {
    const k = tpKey(r.topic, r.partition);
    const next = BigInt(r.offset) + 1n;
    if ((offsets.get(k) ?? -1n) < next) {
      offsets.set(k, next);
      offsetPuts.set(k, [offsetKey(r.topic, r.partition), Buffer.from(next.toString())]);
    }
  }

  const persisted = WorkingState.persist(changes);
  const outbox = out.map((r, seq) => [outboxKey(meta.id, seq), r] as const);
  const ops: WriteOps = {
    puts: [
      ...persisted.puts,
      ...offsetPuts.values(),
      [SNAPSHOT_META, encodeMeta(meta)],
      ...outbox.map(([k, r]) => [k, encodeOutRecord(r)] as const),
    ],
    deletes: persisted.deletes,
  };
  return { meta, ops, outbox, offsets, applied, rejected };
};
