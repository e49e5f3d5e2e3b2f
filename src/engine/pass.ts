/**
 * One pass = one snapshot: decode → order → decide and evolve → one write batch holding
 * state, consumed offsets, the snapshot marker, the replies kept for retries and the outbox.
 * Publishing the outbox is the caller's.
 */
import { oracleHighWater, STAGES, type Decision, type Handler, type Image, type Message, type PassContext, type ReplyDraft } from '../../projections';
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { Codec } from '../messaging/codec';
import { H } from '../messaging/headers';
import { digestHex, updateDigest } from '../store/digest';
import { dedupeKey, dedupeTimeKey, historyKey, offsetKey, outboxKey, SNAPSHOT_META, stateKey } from '../store/keys';
import { encodeOutRecord, type OutRecord } from '../store/outbox';
import type { WriteOps } from '../store/rocks';
import { decodeRecord, MAX_TIMESTAMP_MS, type DecodeContext, type Envelope, type RawRecord, type Rejection } from './decode';
import { encodeMeta, nextHybrid, tpKey, type SnapshotMeta, type WorkingState } from './state';

export interface PassDeps extends DecodeContext {
  readonly codec: Codec;
  readonly handlers: ReadonlyMap<string, Handler<never>>;
  readonly topics: { readonly replies: string; readonly dlq: string; readonly snapshots: string; readonly changelog: string; readonly commands: string };
  /** Entities whose versions go to the history, for reads `asOf`. */
  readonly versioned: ReadonlySet<string>;
  /** The replies these correlation ids already got, for those still remembered. */
  readonly remembered: (correlationIds: readonly string[]) => Promise<ReadonlyMap<string, OutRecord>>;
}

export interface OffsetRange {
  readonly topic: string;
  readonly partition: number;
  readonly fromOffset: bigint;
  readonly toOffset: bigint;
}

export interface PassResult {
  readonly meta: SnapshotMeta;
  readonly ops: WriteOps;
  readonly outbox: readonly (readonly [string, OutRecord])[];
  readonly inputs: readonly OffsetRange[];
  /** Entities whose image changed, after cancel-outs inside the pass. */
  readonly changed: number;
  readonly applied: number;
  readonly rejected: number;
  readonly retried: number;
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

/** The offset range each partition contributed, in a stable order. */
export const inputRanges = (records: readonly RawRecord[]): OffsetRange[] => {
  const ranges = new Map<string, { topic: string; partition: number; fromOffset: bigint; toOffset: bigint }>();
  for (const r of records) {
    const k = tpKey(r.topic, r.partition);
    const o = BigInt(r.offset);
    const cur = ranges.get(k);
    if (cur === undefined) ranges.set(k, { topic: r.topic, partition: r.partition, fromOffset: o, toOffset: o });
    else {
      if (o < cur.fromOffset) cur.fromOffset = o;
      if (o > cur.toOffset) cur.toOffset = o;
    }
  }
  return [...ranges.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
};

const serialize = (image: Image | undefined): Buffer | undefined => (image === undefined ? undefined : Buffer.from(JSON.stringify(image)));

export const runPass = async (records: readonly RawRecord[], state: WorkingState, prev: SnapshotMeta, deps: PassDeps): Promise<PassResult> => {
  const decoded = await Promise.all(records.map((r) => decodeRecord(r, deps)));
  const logTimeMs = decoded.reduce((t, d) => (d.timestampMs >= 0 && d.timestampMs < MAX_TIMESTAMP_MS ? Math.max(t, d.timestampMs) : t), prev.logTimeMs);
  const id = prev.id + 1n;
  // One oracle: after every snapshot and every timestamp handed out before it.
  const high = oracleHighWater(state);
  const ts = nextHybrid(high > prev.ts ? high : prev.ts, logTimeMs);
  const ctx: PassContext = { snapshotId: id, snapshotTs: ts, logTimeMs };

  const out: OutRecord[] = [];
  const outputHeaders = (): Record<string, string> => ({ [H.snapshotId]: id.toString(), [H.seq]: String(out.length) });
  /** Replies given in this pass, for retries inside the same pass. */
  const given = new Map<string, OutRecord>();
  const dedupePuts: [string, Buffer][] = [];

  const sendReply = async (to: { correlationId: string | undefined; replyTo: string | undefined }, draft: ReplyDraft, remember: boolean): Promise<void> => {
    if (to.correlationId === undefined || to.replyTo === undefined) return;
    const value = await deps.codec.encode(deps.topics.replies, 'coord.v1.Reply', {
      correlationId: to.correlationId,
      status: draft.status,
      message: draft.message,
      snapshotId: id,
      snapshotTs: ts,
      payload: draft.payload === null ? null : { [draft.payload.type]: draft.payload.value },
    });
    const record: OutRecord = { topic: to.replyTo, key: to.correlationId, value, headers: { ...outputHeaders(), [H.correlationId]: to.correlationId } };
    out.push(record);
    if (remember) {
      given.set(to.correlationId, record);
      dedupePuts.push([dedupeKey(to.correlationId), encodeOutRecord(record)], [dedupeTimeKey(logTimeMs, to.correlationId), Buffer.alloc(0)]);
    }
  };

  /** The DLQ copy of a record, and for input we could not read, an INVALID_ARGUMENT reply where it can be addressed. */
  const toDlq = async (r: Rejection, answer = true): Promise<void> => {
    const raw = r.raw;
    out.push({
      topic: deps.topics.dlq,
      key: raw.key === null ? null : raw.key.toString(),
      value: raw.value === null ? Buffer.alloc(0) : raw.value.subarray(0, deps.maxValueBytes),
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
    if (answer) await sendReply(r, { status: 'INVALID_ARGUMENT', message: r.reason, payload: null }, false);
  };

  let rejected = 0;
  let applied = 0;
  let retried = 0;
  const good: Envelope[] = [];
  for (const d of decoded) {
    if (d.ok) good.push(d);
    else {
      rejected++;
      await toDlq(d);
    }
  }

  // From here on the working state changes: a failure can no longer be retried in place.
  try {
    return await decideAndCommit();
  } catch (err) {
    if (isCoordError(err, 'SCHEMA_REGISTRY')) throw new CoordError('STORE_IO', `the pass failed after it began to change state: ${err.message}`, { cause: err });
    throw err;
  }

  async function decideAndCommit(): Promise<PassResult> {
    // One read for every request's earlier reply, rather than one a request.
    const earlierReplies = await deps.remembered([...new Set(good.flatMap((e) => (e.correlationId === undefined ? [] : [e.correlationId])))]);

    // Images before the pass of every entity it touches: net changes and the digest come from them.
    const before = new Map<string, { entity: string; key: string; image: Image | undefined }>();
    let compactTo: bigint | undefined;

    for (const e of orderEnvelopes(deps.handlers, good)) {
      const handler = deps.handlers.get(e.type);
      if (handler === undefined) {
        rejected++;
        await toDlq({ ...e, ok: false, code: 'WRONG_TOPIC', reason: `no projection decides ${e.type}` });
        continue;
      }
      if (e.correlationId !== undefined) {
        // A retry: the same reply, byte for byte, and no second effect.
        const earlier = given.get(e.correlationId) ?? earlierReplies.get(e.correlationId);
        if (earlier !== undefined) {
          // The same bytes, to wherever the retry asks: a client that restarted may listen elsewhere now.
          out.push({ ...earlier, topic: e.replyTo ?? earlier.topic });
          retried++;
          continue;
        }
      }
      const msg: Message<never> = {
        type: e.type,
        value: e.value as never,
        key: e.raw.key === null ? null : e.raw.key.toString(),
        correlationId: e.correlationId,
        replyTo: e.replyTo,
        deadlineMs: e.deadlineMs,
        timestampMs: e.timestampMs,
      };
      if (e.deadlineMs !== undefined && e.deadlineMs < logTimeMs && handler.waiting?.(msg, state) !== true) {
        await sendReply(e, { status: 'DEADLINE_EXCEEDED', message: `deadline ${e.deadlineMs} passed before the request was applied at log time ${logTimeMs}`, payload: null }, true);
        continue;
      }
      let decision: Decision;
      try {
        decision = handler.decide(msg, state, ctx);
      } catch (err) {
        // A decider that throws fails its own message only; the rest of the batch commits.
        rejected++;
        await toDlq({ ...e, ok: false, code: 'DECIDER_FAILED', reason: `${e.type} made its decider throw: ${errorMessage(err)}` }, false);
        await sendReply(e, { status: 'INTERNAL', message: `the coordinator failed on this request: ${errorMessage(err)}`, payload: null }, true);
        continue;
      }
      for (const c of decision.changes) {
        const k = stateKey(c.entity, c.key);
        if (!before.has(k)) before.set(k, { entity: c.entity, key: c.key, image: state.get(c.entity, c.key) });
        state.apply(c);
      }
      applied++;
      if (decision.reply !== null) await sendReply(e, decision.reply, true);
      for (const a of decision.answers ?? []) await sendReply(a, a.reply, true);
      for (const c of decision.commands ?? []) {
        const value = await deps.codec.encode(deps.topics.commands, c.type, c.value);
        out.push({ topic: deps.topics.commands, key: c.workerId, value, headers: outputHeaders() });
      }
      if (decision.compactTo !== undefined && (compactTo === undefined || decision.compactTo > compactTo)) compactTo = decision.compactTo;
    }

    // Net changes: an entity created and dropped in one pass leaves no trace.
    let digest = prev.digest;
    const statePuts: [string, Buffer][] = [];
    const stateDeletes: string[] = [];
    for (const [k, b] of before) {
      const was = serialize(b.image);
      const image = state.get(b.entity, b.key);
      const now = serialize(image);
      if (was === undefined ? now === undefined : now !== undefined && was.equals(now)) continue;
      digest = updateDigest(digest, k, was, now);
      if (now === undefined) stateDeletes.push(k);
      else statePuts.push([k, now]);
      if (deps.versioned.has(b.entity)) {
        const hk = historyKey(b.entity, b.key, ts);
        const version = now ?? Buffer.from('null');
        state.addVersion(b.entity, b.key, ts, image ?? null);
        digest = updateDigest(digest, hk, undefined, version);
        statePuts.push([hk, version]);
      }
      // The changelog: one record per entity changed in the snapshot, its last image.
      const value = await deps.codec.encode(deps.topics.changelog, 'coord.v1.ChangelogRecord', {
        entityType: b.entity,
        key: b.key,
        snapshotId: id,
        snapshotTs: ts,
        op: image === undefined ? 'DELETE' : 'UPSERT',
        image: image === undefined ? null : { string: now?.toString() },
      });
      out.push({ topic: deps.topics.changelog, key: `${b.entity}/${b.key}`, value, headers: outputHeaders() });
    }
    // Never at or above this snapshot: its own new versions are written in this very batch.
    if (compactTo !== undefined)
      for (const [hk, version] of state.compact(compactTo < ts ? compactTo : ts - 1n)) {
        digest = updateDigest(digest, hk, version, undefined);
        stateDeletes.push(hk);
      }

    const inputs = inputRanges(records);
    const meta: SnapshotMeta = { id, ts, logTimeMs, digest };
    const marker = await deps.codec.encode(deps.topics.snapshots, 'coord.v1.SnapshotMarker', {
      snapshotId: id,
      snapshotTs: ts,
      logTimeMs: BigInt(logTimeMs),
      digest: digestHex(digest),
      inputs,
      records: records.length,
      changes: statePuts.length + stateDeletes.length,
    });
    out.push({ topic: deps.topics.snapshots, key: id.toString(), value: marker, headers: outputHeaders() });

    const outbox = out.map((r, seq) => [outboxKey(id, seq), r] as const);
    const ops: WriteOps = {
      puts: [
        ...statePuts,
        ...inputs.map((r) => [offsetKey(r.topic, r.partition), Buffer.from((r.toOffset + 1n).toString())] as const),
        [SNAPSHOT_META, encodeMeta(meta)],
        ...dedupePuts,
        ...outbox.map(([k, r]) => [k, encodeOutRecord(r)] as const),
      ],
      deletes: stateDeletes,
    };
    return { meta, ops, outbox, inputs, changed: statePuts.length + stateDeletes.length, applied, rejected, retried };
  }
};
