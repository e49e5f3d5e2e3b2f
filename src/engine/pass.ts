/**
 * One pass = one snapshot: decode → order → decide and evolve → one write batch holding
 * state, consumed offsets, the snapshot marker, the replies kept for retries and the outbox.
 * Publishing the outbox is the caller's.
 */
import { oracleHighWater, STAGES, type Change, type Command, type Decision, type Handler, type Image, type Message, type PassContext, type ReplyDraft } from '../../projections';
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { Codec } from '../messaging/codec';
import { settingsOf } from '../../projections/model';
import { requestFingerprint } from '../messaging/fingerprint';
import { changelogTopic, envelopeValue, type ChangelogTable } from '../messaging/changelog';
import { H } from '../messaging/headers';
import { digestHex, entryHash, updateDigest, updateDigestTerms, type TermCache } from '../store/digest';
import { dedupeKey, dedupeTimeKey, encodeOutbox, encodeRemembered, historyIndexedEntry, historyKey, META, offsetKey, outboxKey, removableKey, type OutRecord, type RememberedRequest } from './layout';
import type { WriteOps } from '../store/rocks';
import { shown } from '../messaging/reply-to';
import type { ErrorCode } from '../errors';
import { decodeRecord, MAX_TIMESTAMP_MS, type DecodeContext, type Envelope, type RawRecord, type Rejection } from './decode';
import { applyDecision, compactionFrontier, recordVersion, type Touched } from './apply';
import { ExplainBook, type Loader } from './explain';
import { explainOverlay, positionOf } from './explain-view';
import type { LogPosition } from '../../projections/system/explain';
import { encodeMeta, nextHybrid, readThrough, StateMiss, tpKey, type SnapshotMeta, type WorkingState } from './state';
import { LOGIC_VERSION } from './logic-version';
import { createVerifier, type Verifier } from '../messaging/signing';
import { preverify, verifySender } from './signatures';

export interface PassDeps extends Omit<DecodeContext, 'maxValueBytes'> {
  readonly codec: Codec;
  readonly handlers: ReadonlyMap<string, Handler<never>>;
  readonly topics: { readonly replies: string; readonly dlq: string; readonly snapshots: string; readonly changelog: string; readonly commands: string };
  /** Entities whose versions go to the history, for reads `asOf`. */
  readonly versioned: ReadonlySet<string>;
  /**
   * Each image's digest term from the pass that wrote it (see TermCache), for the entities the
   * state keeps whole in memory (an image read through the store may be evicted: the cache would
   * keep it alive); none: every pass computes them.
   */
  readonly terms?: TermCache<Image>;
  /** Per entity, the fields that only say it is alive: a change of only these goes to the tables, not to the legacy changelog. */
  readonly liveness?: ReadonlyMap<string, ReadonlySet<string>>;
  /** What is remembered of the requests decided under these correlation ids (those not expired). */
  readonly remembered: (correlationIds: readonly string[]) => Promise<ReadonlyMap<string, Remembered>>;
  /**
   * Replay: the verdicts the live pass recorded on its marker for records it refused before
   * deciding, keyed `topic:partition:offset`. They are taken as they are, so a registry that
   * learned or forgot a schema since cannot change them.
   */
  readonly recorded?: ReadonlyMap<string, string>;
  /**
   * Live: asked with the schema ids no registry knew in this batch; true to hold the batch and
   * ask the registry again (a registry catching up), false to refuse the records now.
   */
  readonly holdUnknownSchemas?: (schemaIds: readonly number[]) => boolean;
  /** The version of the deciding logic the handlers are (LOGIC_VERSION unless a test folds with other deciders); the marker records it. */
  readonly logicVersion?: number;
  /** The explain records kept of these correlation ids (none: the pass keeps no records, as in a spec's in-memory pass). */
  readonly explained?: Loader;
  /** The changelog's tables (one compacted topic per entity type, typed images); without them only the legacy changelog is written. */
  readonly changelog?: { readonly prefix: string; readonly tables: ReadonlyMap<string, ChangelogTable> };
  /** The activation deciding the pass, for the changelog's `source.generation` (0 in a replay, which publishes nothing). */
  readonly generation?: number;
  /**
   * The snapshot was published by another run (a replay, a standby following the log): the pass
   * builds no output that is not also state. Replies kept for retries are still encoded, with the
   * `seq` they had in the published outbox, so the store is byte for byte the live one's.
   */
  readonly published?: boolean;
  /** Checks signatures while the settings require them (src/engine/signatures.ts); one per fold keeps its keys across passes. */
  readonly verifier?: Verifier;
}

/** A request decided earlier under a correlation id: its fingerprint, and its reply once given. */
export type Remembered = RememberedRequest;

/** Decode verdicts that depend on what the Schema Registry holds, not on the record alone. */
const REGISTRY_VERDICTS: ReadonlySet<string> = new Set(['SCHEMA_UNKNOWN', 'SCHEMA_INVALID', 'SCHEMA_SUBJECT_MISMATCH', 'DECODE_LIMIT', 'WRONG_TOPIC']);

/** Original headers copied to a DLQ record: only these many, and only this small, so a hostile header cannot make it unpublishable. */
const DLQ_HEADERS = { count: 32, nameChars: 255, valueChars: 1_024 } as const;
/** The longest reason written in a DLQ header or an error reply. */
const MAX_REASON_CHARS = 1_024;

const EMPTY = Buffer.alloc(0);

const bounded = (reason: string): string => (reason.length <= MAX_REASON_CHARS ? reason : `${reason.slice(0, MAX_REASON_CHARS)}… (${reason.length} characters)`);

export const recordId = (r: { readonly topic: string; readonly partition: number; readonly offset: string | bigint }): string => `${r.topic}:${r.partition}:${r.offset}`;

/** The schema id of a Confluent-framed value, or undefined. */
const schemaIdOf = (value: Buffer | null): number | undefined => (value !== null && value.length >= 5 && value[0] === 0 ? value.readUInt32BE(1) : undefined);

export interface OffsetRange {
  readonly topic: string;
  readonly partition: number;
  readonly fromOffset: bigint;
  readonly toOffset: bigint;
}

export interface PassResult {
  readonly meta: SnapshotMeta;
  readonly ops: WriteOps;
  /** The snapshot's outputs in publication order, and the key they wait under in the store. */
  readonly outbox: { readonly key: string; readonly records: readonly OutRecord[] };
  readonly inputs: readonly OffsetRange[];
  /** Entities whose image changed, after cancel-outs inside the pass. */
  readonly changed: number;
  readonly applied: number;
  readonly rejected: number;
  readonly retried: number;
  /** DLQ records of the pass by their code. */
  readonly dlq: Readonly<Record<string, number>>;
  /** Requests that reused a correlation id for another request. */
  readonly conflicts: number;
  /** Replies too large to publish, answered RESOURCE_EXHAUSTED instead. */
  readonly tooLarge: number;
  /** Whether the pass remembered a request for retries (at its log time). */
  readonly remembers: boolean;
  /**
   * Where the pass's time went, ms of engine time (for /metrics): decoding its records,
   * deciding them in stage order, and turning the net changes into state, history, changelog
   * and marker. The fold adds the store write (`commitMs`).
   */
  readonly stages: { readonly decodeMs: number; readonly decideMs: number; readonly changesMs: number; readonly commitMs?: number };
}

const stageIndex = (handlers: PassDeps['handlers'], e: Envelope): number => {
  const h = handlers.get(e.type);
  return h === undefined ? STAGES.length : STAGES.indexOf(h.stage);
};

/** Offsets as Kafka gives them, decimal without leading zeros: the shorter is the smaller, then the text decides. */
const compareOffsets = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/** The pass's order: by stage (infrastructure and ticks, sessions, catalog, queries, system), then topic, partition, offset. */
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
  const found = new Map<string, { topic: string; partition: number; from: string; to: string }>();
  // A batch holds runs of one partition's records: its entry is looked up when the run changes, not for every record.
  let cur: { topic: string; partition: number; from: string; to: string } | undefined;
  for (const r of records) {
    if (cur === undefined || r.partition !== cur.partition || r.topic !== cur.topic) {
      const k = tpKey(r.topic, r.partition);
      cur = found.get(k);
      if (cur === undefined) {
        found.set(k, (cur = { topic: r.topic, partition: r.partition, from: r.offset, to: r.offset }));
        continue;
      }
    }
    if (compareOffsets(r.offset, cur.from) < 0) cur.from = r.offset;
    if (compareOffsets(r.offset, cur.to) > 0) cur.to = r.offset;
  }
  for (const [k, f] of found) ranges.set(k, { topic: f.topic, partition: f.partition, fromOffset: BigInt(f.from), toOffset: BigInt(f.to) });
  return [...ranges.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
};

/** Whether two images differ in `fields` alone (compared shallowly: a nested value rebuilt counts as a change). */
export const differsOnlyIn = (a: Image, b: Image, fields: ReadonlySet<string>): boolean => {
  for (const k in a) if (a[k] !== b[k] && !fields.has(k)) return false;
  for (const k in b) if (!(k in a) && !fields.has(k)) return false;
  return true;
};

const serialize = (image: Image | undefined): Buffer | undefined => (image === undefined ? undefined : Buffer.from(JSON.stringify(image)));

export const runPass = async (records: readonly RawRecord[], state: WorkingState, prev: SnapshotMeta, deps: PassDeps): Promise<PassResult> => {
  // The settings in force before the pass, from the log: a replay decides with the same ones.
  const settings = settingsOf(state);
  const isRequest = (topic: string): boolean => deps.kindOf(topic)?.startsWith('requests.') === true;
  const decodeCtx: DecodeContext = { ...deps, maxValueBytes: settings.maxValueBytes };
  // Engine time, for /metrics only: nothing the pass decides reads it.
  const startedAt = performance.now();
  const decoding = records.map((r): Envelope | Rejection | Promise<Envelope | Rejection> => {
    const verdict = deps.recorded?.get(recordId(r));
    if (verdict === undefined) return decodeRecord(r, decodeCtx);
    // Replay publishes nothing, so only the verdict and the record's log time matter here.
    return { raw: r, headers: {}, correlationId: undefined, replyTo: undefined, timestampMs: Number(r.timestamp), ok: false, code: verdict as ErrorCode, reason: `refused with ${verdict} when first folded` };
  });
  // Only records whose schema the codec has not seen yet wait on the registry.
  const decoded = decoding.some((d) => d instanceof Promise) ? await Promise.all(decoding) : (decoding as (Envelope | Rejection)[]);
  if (deps.recorded !== undefined) {
    // Replay: a registry verdict the live pass did not reach means the registry lost what it knew then.
    const lost = decoded.find((d) => !d.ok && REGISTRY_VERDICTS.has(d.code) && !deps.recorded?.has(recordId(d.raw)));
    if (lost !== undefined && !lost.ok)
      throw new CoordError('SCHEMA_REGISTRY', `replay cannot read ${recordId(lost.raw)}, which was folded when it was live: ${lost.reason}`, { retriable: true });
  } else if (deps.holdUnknownSchemas !== undefined) {
    const unknown = [...new Set(decoded.flatMap((d) => (!d.ok && d.code === 'SCHEMA_UNKNOWN' ? [schemaIdOf(d.raw.value) ?? -1] : [])))];
    if (unknown.length > 0 && deps.holdUnknownSchemas(unknown))
      throw new CoordError('SCHEMA_REGISTRY', `the schema registry does not know schema ids ${unknown.slice(0, 5).join(', ')} yet; asking again`, { retriable: true });
  }
  const logTimeMs = decoded.reduce((t, d) => (d.timestampMs >= 0 && d.timestampMs < MAX_TIMESTAMP_MS ? Math.max(t, d.timestampMs) : t), prev.logTimeMs);
  const id = prev.id + 1n;
  // One oracle: after every snapshot and every timestamp handed out before it.
  const high = oracleHighWater(state);
  const ts = nextHybrid(high > prev.ts ? high : prev.ts, logTimeMs);
  const ctx: PassContext = { snapshotId: id, snapshotTs: ts, logTimeMs };
  const book = deps.explained === undefined ? undefined : new ExplainBook(deps.explained);
  const verifier = deps.verifier ?? createVerifier();

  const out: OutRecord[] = [];
  /** Outputs built only when this run publishes them; each still takes its `seq`, so remembered replies keep theirs. */
  const publishes = deps.published !== true;
  let seq = 0;
  const emit = (record: OutRecord): void => {
    if (publishes) out.push(record);
    seq++;
  };
  const idText = id.toString();
  const outputHeaders = (): Record<string, string> => ({ [H.snapshotId]: idText, [H.seq]: String(seq) });
  /** What this pass decided per correlation id, for retries inside the same pass. */
  const given = new Map<string, Remembered>();
  const dedupePuts: [string, Buffer][] = [];
  const dlqCounts: Record<string, number> = {};
  let tooLarge = 0;
  let conflicts = 0;

  /** An output's value at once, when its schema's id is known (as it is after the first pass); undefined: ask `deps.codec.encode`. */
  const encodeNow = (topic: string, fullName: string, value: unknown): Buffer | undefined => deps.codec.encodeKnown?.(topic, fullName, value);
  const encodeReply = async (correlationId: string, draft: ReplyDraft): Promise<Buffer> => {
    const reply = {
      correlationId,
      status: draft.status,
      message: draft.message,
      snapshotId: id,
      snapshotTs: ts,
      payload: draft.payload === null ? null : { [draft.payload.type]: draft.payload.value },
    };
    return encodeNow(deps.topics.replies, 'coord.v1.Reply', reply) ?? deps.codec.encode(deps.topics.replies, 'coord.v1.Reply', reply);
  };

  /** Remembers that a request was decided under its correlation id, before or without its reply. */
  const rememberRequest = (correlationId: string, fingerprint: string): void => {
    given.set(correlationId, { fingerprint });
    dedupePuts.push([dedupeKey(correlationId), encodeRemembered({ fingerprint })], [dedupeTimeKey(logTimeMs, correlationId), EMPTY]);
  };

  const sendReply = async (
    to: { correlationId: string | undefined; replyTo: string | undefined },
    draft: ReplyDraft,
    remember: boolean,
    fingerprint?: string,
  ): Promise<void> => {
    if (to.correlationId === undefined || to.replyTo === undefined) return;
    if (!remember && !publishes) {
      seq++;
      return;
    }
    let value = await encodeReply(to.correlationId, draft);
    // What can never be published becomes a short error, decided here so a replay decides the same.
    if (value.length > settings.maxValueBytes) {
      tooLarge++;
      value = await encodeReply(to.correlationId, {
        status: 'RESOURCE_EXHAUSTED',
        message: `reply too large: ${value.length} bytes, more than maxValueBytes ${settings.maxValueBytes}; ask for less (a narrower list, a filter)`,
        payload: null,
      });
    }
    const headers = outputHeaders();
    headers[H.correlationId] = to.correlationId;
    if (fingerprint !== undefined) headers[H.fingerprint] = fingerprint;
    const record: OutRecord = { topic: to.replyTo, key: to.correlationId, value, headers };
    emit(record);
    if (remember) {
      given.set(to.correlationId, { fingerprint, reply: record });
      dedupePuts.push([dedupeKey(to.correlationId), encodeRemembered({ fingerprint, reply: record })], [dedupeTimeKey(logTimeMs, to.correlationId), EMPTY]);
    }
  };

  /** The DLQ copy of a record, and for input we could not read, an INVALID_ARGUMENT reply where it can be addressed. */
  const toDlq = async (r: Rejection, answer = true): Promise<void> => {
    const raw = r.raw;
    const kept = Object.entries(r.headers).filter(([name, value]) => name.length <= DLQ_HEADERS.nameChars && value.length <= DLQ_HEADERS.valueChars).slice(0, DLQ_HEADERS.count);
    const dropped = Object.keys(r.headers).length - kept.length;
    const reason = bounded(r.reason);
    dlqCounts[r.code] = (dlqCounts[r.code] ?? 0) + 1;
    emit({
      topic: deps.topics.dlq,
      key: raw.key === null ? null : raw.key.subarray(0, DLQ_HEADERS.valueChars).toString(),
      value: raw.value === null ? Buffer.alloc(0) : raw.value.subarray(0, settings.maxValueBytes),
      headers: {
        ...Object.fromEntries(kept),
        ...(dropped > 0 ? { [H.dlqHeadersDropped]: String(dropped) } : {}),
        ...outputHeaders(),
        [H.dlqCode]: r.code,
        [H.dlqReason]: reason,
        [H.dlqTopic]: raw.topic,
        [H.dlqPartition]: String(raw.partition),
        [H.dlqOffset]: raw.offset,
      },
    });
    // Its type may be unknowable, so the fingerprint is of the raw record: a client matches it as well as the typed one.
    if (answer) await sendReply(r, { status: 'INVALID_ARGUMENT', message: reason, payload: null }, false, requestFingerprint('', raw.key, raw.value));
  };

  /** A sender refused: its record to the DLQ with `code`, and where a signature failed, a PERMISSION_DENIED reply not remembered (a correctly signed retry is decided). */
  const refuseSender = async (e: Envelope, code: 'SIGNATURE_REFUSED' | 'PERMISSION_DENIED', reason: string, fingerprint?: string): Promise<void> => {
    await toDlq({ ...e, ok: false, code, reason }, false);
    if (code === 'SIGNATURE_REFUSED') await sendReply(e, { status: 'PERMISSION_DENIED', message: bounded(reason), payload: null }, false, fingerprint);
  };

  let rejected = 0;
  let applied = 0;
  let retried = 0;
  const good: Envelope[] = [];
  /** Refused before any decider: recorded on the marker, for a replay to reach the same verdicts. */
  const refused: { topic: string; partition: number; offset: bigint; code: string }[] = [];
  for (const d of decoded) {
    if (d.ok) good.push(d);
    else {
      rejected++;
      refused.push({ topic: d.raw.topic, partition: d.raw.partition, offset: BigInt(d.raw.offset), code: d.code });
      await toDlq(d);
      if (d.correlationId !== undefined && isRequest(d.raw.topic))
        book?.record({
          correlationId: d.correlationId,
          requestType: '',
          key: d.raw.key === null ? null : d.raw.key.toString(),
          position: positionOf(d.raw, d.timestampMs, id),
          snapshotTs: ts,
          stage: null,
          orderInStage: -1,
          reply: d.replyTo === undefined ? null : { status: 'INVALID_ARGUMENT', message: d.reason },
          dlq: { code: d.code, reason: d.reason },
        });
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
    const decidedFrom = performance.now();
    // Signatures are checked on the thread pool while the store is read (src/engine/signatures.ts).
    const verifying = preverify(good, deps.kindOf, state, verifier);
    // What the messages say they will read of the entities read through the store, in one multi-get.
    const wanted: (readonly [string, string])[] = [];
    for (const e of good) for (const r of deps.handlers.get(e.type)?.reads?.(e.value as never) ?? []) wanted.push(r);
    // The store's reads go to RocksDB's threads side by side, each a wait of 65-150 µs here, which a pass of one ask pays in
    // full: one read for every request's earlier reply (rather than one a request), the records ExplainRequests read, the
    // prefetch. The prefetch only fills the read-through cache with what the store holds, so no decision depends on its order.
    const [earlierReplies, view, ahead] = await Promise.all([
      deps.remembered([...new Set(good.flatMap((e) => (e.correlationId === undefined ? [] : [e.correlationId])))]),
      explainOverlay(state, good, book),
      verifying,
      wanted.length > 0 ? state.prefetch(wanted) : undefined,
    ]);
    let stage: string | undefined;
    let orderInStage = 0;

    // Images before the pass of every entity it touches: net changes and the digest come from them.
    const before = new Map<string, Touched>();
    let compactTo: bigint | undefined;

    for (const e of orderEnvelopes(deps.handlers, good)) {
      const handler = deps.handlers.get(e.type);
      const here = handler?.stage ?? null;
      orderInStage = here === stage ? orderInStage + 1 : 0;
      stage = here ?? undefined;
      // Only a request is retried under its correlation id; an event's id (a tracing id, say) means nothing here.
      const fingerprint = e.correlationId === undefined || !isRequest(e.raw.topic) ? undefined : requestFingerprint(e.type, e.raw.key, e.raw.value);
      // Only a request's explain record, a retry or a deferred answer says where a record was: an event costs no position.
      const explains = book !== undefined && fingerprint !== undefined && e.correlationId !== undefined;
      let position: LogPosition | undefined;
      const where = (): LogPosition => (position ??= positionOf(e.raw, e.timestampMs, id));
      const explain = (reply: ReplyDraft | null, more: { changes?: { change: Change; before: Image | undefined }[]; commands?: readonly Command[]; dlq?: { code: string; reason: string } } = {}): void => {
        if (explains && e.correlationId !== undefined)
          book?.record({ correlationId: e.correlationId, requestType: e.type, key: e.raw.key === null ? null : e.raw.key.toString(), position: where(), snapshotTs: ts, stage: here, orderInStage, reply, changes: more.changes, commands: more.commands, dlq: more.dlq });
      };
      if (handler === undefined) {
        rejected++;
        const reason = `no projection decides ${e.type}`;
        await toDlq({ ...e, ok: false, code: 'WRONG_TOPIC', reason });
        explain(e.replyTo === undefined ? null : { status: 'INVALID_ARGUMENT', message: reason, payload: null }, { dlq: { code: 'WRONG_TOPIC', reason } });
        continue;
      }
      // Who sent it, before anything answers it (a retry's reply included): a forged sender gets nothing but the refusal.
      const sender = verifySender(e, deps.kindOf(e.raw.topic), view, verifier, ahead);
      if (!sender.ok) {
        rejected++;
        await refuseSender(e, 'SIGNATURE_REFUSED', sender.reason, fingerprint);
        explain(e.replyTo === undefined ? null : { status: 'PERMISSION_DENIED', message: sender.reason, payload: null }, { dlq: { code: 'SIGNATURE_REFUSED', reason: sender.reason } });
        continue;
      }
      if (e.correlationId !== undefined && fingerprint !== undefined) {
        const earlier = given.get(e.correlationId) ?? earlierReplies.get(e.correlationId);
        if (earlier?.fingerprint !== undefined && earlier.fingerprint !== fingerprint) {
          // Another request under an id already used: refused, and never shown the first request's reply.
          conflicts++;
          await sendReply(
            e,
            { status: 'CONFLICT', message: `correlation id ${shown(e.correlationId)} was already used by another request; use a new id for a new request`, payload: null },
            false,
            fingerprint,
          );
          continue;
        }
        if (earlier?.reply !== undefined) {
          // A retry: the same reply, byte for byte, and no second effect, to wherever the retry asks
          // (a client that restarted may listen elsewhere now).
          emit({ ...earlier.reply, topic: e.replyTo ?? earlier.reply.topic });
          retried++;
          await book?.retried(e.correlationId, where());
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
        principal: sender.principal,
      };
      const waiting = handler.waiting;
      if (e.deadlineMs !== undefined && e.deadlineMs < logTimeMs && (waiting === undefined || !(await readThrough(state, () => waiting(msg, state))))) {
        const late: ReplyDraft = { status: 'DEADLINE_EXCEEDED', message: `deadline ${e.deadlineMs} passed before the request was applied at log time ${logTimeMs}`, payload: null };
        await sendReply(e, late, true, fingerprint);
        explain(late);
        continue;
      }
      let decision: Decision | undefined;
      let thrown: unknown;
      for (;;) {
        let miss: StateMiss | undefined;
        try {
          decision = handler.decide(msg, view, ctx);
        } catch (err) {
          if (err instanceof StateMiss) miss = err;
          else thrown = err;
        }
        if (miss === undefined) break;
        // Read from the store outside the decider's failure: a store that fails fails the pass, never the message.
        await state.fetch(miss);
      }
      if (decision === undefined) {
        const err = thrown;
        // A decider that throws fails its own message only; the rest of the batch commits.
        rejected++;
        const reason = `${e.type} made its decider throw: ${errorMessage(err)}`;
        await toDlq({ ...e, ok: false, code: 'DECIDER_FAILED', reason }, false);
        const failed: ReplyDraft = { status: 'INTERNAL', message: bounded(`the coordinator failed on this request: ${errorMessage(err)}`), payload: null };
        await sendReply(e, failed, true, fingerprint);
        explain(failed, { dlq: { code: 'DECIDER_FAILED', reason } });
        continue;
      }
      const changed: { change: Change; before: Image | undefined }[] | undefined = explains ? [] : undefined;
      // The images the changes replace, where the decider wrote without reading.
      if (decision.changes.some((c) => state.unread(c.entity, c.key))) await state.prefetch(decision.changes.map((c) => [c.entity, c.key] as const));
      applyDecision(state, decision.changes, before, changed === undefined ? undefined : (change, was) => changed.push({ change, before: was }));
      // A refused owner or role check is also a DLQ record, events' included (they have no reply).
      const denied = decision.reply?.status === 'PERMISSION_DENIED' ? { code: 'PERMISSION_DENIED', reason: decision.reply.message } : undefined;
      if (denied !== undefined) await refuseSender(e, 'PERMISSION_DENIED', denied.reason);
      if (explains) explain(decision.reply, { changes: changed, commands: decision.commands, ...(denied === undefined ? {} : { dlq: denied }) });
      applied++;
      if (decision.reply !== null) await sendReply(e, decision.reply, true, fingerprint);
      else if (e.correlationId !== undefined && fingerprint !== undefined) rememberRequest(e.correlationId, fingerprint);
      for (const a of decision.answers ?? []) {
        // A deferred reply carries the fingerprint of the request it answers, remembered when it was decided.
        const asked = given.get(a.correlationId)?.fingerprint ?? (await deps.remembered([a.correlationId])).get(a.correlationId)?.fingerprint;
        await sendReply(a, a.reply, true, asked);
        await book?.answered(a.correlationId, a.reply, { position: where(), recordType: e.type });
      }
      for (const c of decision.commands ?? []) {
        if (!publishes) seq++;
        else emit({ topic: deps.topics.commands, key: c.workerId, value: await deps.codec.encode(deps.topics.commands, c.type, c.value), headers: outputHeaders() });
      }
      if (decision.compactTo !== undefined && (compactTo === undefined || decision.compactTo > compactTo)) compactTo = decision.compactTo;
    }

    const netFrom = performance.now();
    // Net changes: an entity created and dropped in one pass leaves no trace.
    let digest = prev.digest;
    const netChanged = new Set<string>();
    const statePuts: [string, Buffer][] = [];
    const stateDeletes: string[] = [];
    /** The `r/` entries of versions read through the store: written and used up beside the state, never in its digest or its count. */
    const indexPuts: [string, Buffer][] = [];
    const indexDeletes: string[] = [];
    const termOf = (k: string, image: Image | undefined, terms: TermCache<Image> | undefined, bytes?: Buffer): bigint | undefined => {
      if (image === undefined) return undefined;
      const known = terms?.get(k, image);
      if (known !== undefined) return known;
      const term = entryHash(k, bytes ?? Buffer.from(JSON.stringify(image)));
      terms?.set(k, image, term);
      return term;
    };
    deps.terms?.follow(state);
    for (const [k, b] of before) {
      const image = state.get(b.entity, b.key);
      const now = serialize(image);
      const terms = state.onDemand(b.entity) ? undefined : deps.terms;
      const [termWas, termNow] = [termOf(k, b.image, terms), termOf(k, image, terms, now)];
      // Equal terms, equal images (the key is the same): nothing changed.
      if (termWas === termNow) continue;
      digest = updateDigestTerms(digest, termWas, termNow);
      netChanged.add(k);
      if (now === undefined) {
        stateDeletes.push(k);
        deps.terms?.delete(k);
      } else statePuts.push([k, now]);
      if (recordVersion(state, deps.versioned, b, ts)) {
        const hk = historyKey(b.entity, b.key, ts);
        const version = now ?? Buffer.from('null');
        digest = updateDigest(digest, hk, undefined, version);
        statePuts.push([hk, version]);
        if (state.onDemand(b.entity)) indexPuts.push([removableKey(ts, b.entity, b.key), EMPTY]);
      }
      // The changelog: one record per entity changed in the snapshot, its last image.
      const table = deps.changelog?.tables.get(b.entity);
      if (!publishes) {
        // Published already: nothing after the replies reads `seq`, so the records are not even counted.
        continue;
      }
      // A heartbeat alone (a worker or session only more recently alive) goes to its table, not to the deprecated JSON changelog.
      const lively = deps.liveness?.get(b.entity);
      if (lively === undefined || b.image === undefined || image === undefined || !differsOnlyIn(b.image, image, lively)) {
        const record = { entityType: b.entity, key: b.key, snapshotId: id, snapshotTs: ts, op: image === undefined ? 'DELETE' : 'UPSERT', image: image === undefined ? null : { string: now?.toString() } };
        const value = encodeNow(deps.topics.changelog, 'coord.v1.ChangelogRecord', record) ?? (await deps.codec.encode(deps.topics.changelog, 'coord.v1.ChangelogRecord', record));
        emit({ topic: deps.topics.changelog, key: `${b.entity}/${b.key}`, value, headers: outputHeaders() });
      }
      if (deps.changelog !== undefined && table !== undefined) {
        // The table's record, typed, in Debezium's envelope; after a delete a tombstone, so compaction forgets the key.
        const topic = changelogTopic(deps.changelog.prefix, b.entity);
        const source = { version: 'coord.v1', connector: 'coord', name: deps.changelog.prefix, ts_ms: BigInt(logTimeMs), snapshot_id: id, snapshot_ts: ts, generation: deps.generation ?? 0, seq };
        const envelope = envelopeValue(table, b.image, image, source);
        emit({ topic, key: b.key, value: encodeNow(topic, table.envelopeName, envelope) ?? (await deps.codec.encode(topic, table.envelopeName, envelope)), headers: outputHeaders() });
        // The tombstone says its snapshot's time in a header, so a reader as of a time can place it once compaction has left it alone.
        if (image === undefined) emit({ topic, key: b.key, value: null, headers: { ...outputHeaders(), [H.snapshotTs]: String(ts) } });
      }
    }
    // Never at or above this snapshot: its own new versions are written in this very batch.
    if (compactTo !== undefined) {
      const frontier = compactionFrontier(compactTo, ts);
      const stored = await state.compactStored(frontier);
      for (const [hk, version] of [...state.compact(frontier), ...stored.removed]) {
        digest = updateDigest(digest, hk, version, undefined);
        stateDeletes.push(hk);
      }
      indexDeletes.push(...stored.used);
    }

    book?.settle(netChanged);
    const inputs = inputRanges(records);
    const meta: SnapshotMeta = { id, ts, logTimeMs, digest };
    const outbox = { key: outboxKey(id), records: out };
    if (publishes) {
      const marker = await deps.codec.encode(deps.topics.snapshots, 'coord.v1.SnapshotMarker', {
        snapshotId: id,
        snapshotTs: ts,
        logTimeMs: BigInt(logTimeMs),
        digest: digestHex(digest),
        inputs,
        records: records.length,
        changes: statePuts.length + stateDeletes.length,
        rejected: { array: refused },
        logicVersion: deps.logicVersion ?? LOGIC_VERSION,
      });
      emit({ topic: deps.topics.snapshots, key: id.toString(), value: marker, headers: outputHeaders() });
    }

    const ops: WriteOps = {
      puts: [
        ...statePuts,
        ...indexPuts,
        ...(state.readsThrough ? [historyIndexedEntry(id)] : []),
        ...inputs.map((r) => [offsetKey(r.topic, r.partition), Buffer.from((r.toOffset + 1n).toString())] as const),
        [META.snapshot, encodeMeta(meta, { logicVersion: deps.logicVersion ?? LOGIC_VERSION, proven: true })],
        ...dedupePuts,
        // A request remembered in this pass has its log-time index entry in dedupePuts already.
        ...(book?.puts(logTimeMs, (correlationId) => given.has(correlationId)) ?? []),
        // Published already: no outbox to keep.
        ...(publishes ? [[outbox.key, encodeOutbox(out)] as const] : []),
      ],
      deletes: indexDeletes.length === 0 ? stateDeletes : [...stateDeletes, ...indexDeletes],
    };
    const stages = { decodeMs: decidedFrom - startedAt, decideMs: netFrom - decidedFrom, changesMs: performance.now() - netFrom };
    return { meta, ops, outbox, inputs, changed: statePuts.length + stateDeletes.length, applied, rejected, retried, dlq: dlqCounts, conflicts, tooLarge, remembers: dedupePuts.length > 0 || book?.wrote === true, stages };
  }
};
