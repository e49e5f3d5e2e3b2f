/**
 * The records `coordctl explain` answers from: one per request a pass met under a correlation
 * id (decided, refused, or sent to the DLQ), kept in the store beside the remembered replies
 * (`e/<correlationId>`) and expired with them through the same log-time index after
 * dedupeRetentionMs. Everything in a record comes from the log (positions, log times, the
 * snapshot, the decision), never from the wall clock, so a replay writes the same records.
 */
import * as avro from 'avsc';
import type { Change, Command, Image } from '../../projections';
import type { ExplainedChange, ExplainRecord, LogPosition } from '../../projections/system/explain';
import { dedupeTimeKey, explainKey, stateKey } from './layout';

/** Bounds of one record: a cascade or a large plan must not make it unbounded. */
export const EXPLAIN_LIMITS = Object.freeze({ changes: 32, imageChars: 2_048, retries: 16, commands: 64, messageChars: 1_024 });

const EMPTY = Buffer.alloc(0);

const clip = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max)}… (${s.length} characters)`);

const imageText = (image: Image | null | undefined): string | null => (image === null || image === undefined ? null : clip(JSON.stringify(image), EXPLAIN_LIMITS.imageChars));

/**
 * The stored form of a record: one version byte, then Avro binary (no JSON text to escape the
 * images into, and one encoder compiled once). The schema is the engine's own, not a protocol
 * contract: nothing outside the store reads it. Records written as JSON text by earlier releases
 * (they begin with `{`) are still read.
 */
const STORED_VERSION = 1;
const nullable = (type: unknown): unknown[] => ['null', type];
const POSITION = { type: 'record', name: 'Position', fields: [
  { name: 'topic', type: 'string' },
  { name: 'partition', type: 'int' },
  { name: 'offset', type: 'string' },
  { name: 'logTimeMs', type: 'double' },
  { name: 'snapshotId', type: 'string' },
] };
const STORED = avro.Type.forSchema({
  type: 'record',
  name: 'StoredExplainRecord',
  fields: [
    { name: 'correlationId', type: 'string' },
    { name: 'requestType', type: 'string' },
    { name: 'key', type: nullable('string') },
    { name: 'position', type: POSITION },
    { name: 'snapshotTs', type: 'string' },
    { name: 'stage', type: nullable('string') },
    { name: 'orderInStage', type: 'int' },
    { name: 'retries', type: { type: 'array', items: 'Position' } },
    { name: 'replyStatus', type: nullable('string') },
    { name: 'replyMessage', type: nullable('string') },
    { name: 'deferred', type: 'boolean' },
    { name: 'answeredBy', type: nullable({ type: 'record', name: 'AnsweredBy', fields: [{ name: 'position', type: 'Position' }, { name: 'recordType', type: 'string' }] }) },
    {
      name: 'changes',
      type: { type: 'array', items: { type: 'record', name: 'Change', fields: [
        { name: 'entity', type: 'string' },
        { name: 'key', type: 'string' },
        { name: 'before', type: nullable('string') },
        { name: 'after', type: nullable('string') },
        { name: 'net', type: 'boolean' },
      ] } },
    },
    { name: 'changesOmitted', type: 'int' },
    { name: 'commands', type: { type: 'array', items: { type: 'record', name: 'Command', fields: [{ name: 'workerId', type: 'string' }, { name: 'recordType', type: 'string' }, { name: 'fragmentId', type: 'string' }] } } },
    { name: 'dlqCode', type: nullable('string') },
    { name: 'dlqReason', type: nullable('string') },
  ],
} as avro.Schema, { omitRecordMethods: true });

/** A record as the store keeps it. */
export const encodeExplainRecord = (r: ExplainRecord): Buffer => {
  const body = STORED.toBuffer(r);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = STORED_VERSION;
  body.copy(out, 1);
  return out;
};

/** Plain objects and arrays, as JSON would give them: what reads a record compares and spreads it. */
const plainOf = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(plainOf);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = plainOf((v as Record<string, unknown>)[k]);
  return out;
};

/** A stored record, in either form. */
export const decodeExplainRecord = (raw: Buffer): ExplainRecord => {
  if (raw[0] === 0x7b) return JSON.parse(raw.toString()) as ExplainRecord;
  if (raw[0] !== STORED_VERSION) throw new Error(`an explain record in an unknown form (version byte ${raw[0]})`);
  return plainOf(STORED.fromBuffer(raw.subarray(1))) as ExplainRecord;
};

export type Loader = (correlationIds: readonly string[]) => Promise<ReadonlyMap<string, ExplainRecord>>;

/** What one request came to, as the pass knows it when it is done with the request. */
export interface Outcome extends Pick<ExplainRecord, 'correlationId' | 'requestType' | 'key' | 'position' | 'stage' | 'orderInStage'> {
  readonly snapshotTs: bigint;
  readonly reply: { readonly status: string; readonly message: string } | null;
  readonly changes?: readonly { readonly change: Change; readonly before: Image | undefined }[];
  readonly commands?: readonly Command[];
  readonly dlq?: { readonly code: string; readonly reason: string };
}

/** The records one pass writes: new ones, and older ones it adds a retry or a deferred answer to. */
export class ExplainBook {
  private readonly touched = new Map<string, ExplainRecord>();
  private readonly fresh = new Set<string>();

  constructor(private readonly load: Loader) {}

  /** Whether the pass adds entries to the log-time index (so the fold knows its oldest entry may be this pass's). */
  get wrote(): boolean {
    return this.fresh.size > 0;
  }

  record(o: Outcome): void {
    const changes = o.changes ?? [];
    const kept: ExplainedChange[] = changes
      .slice(0, EXPLAIN_LIMITS.changes)
      .map(({ change, before }) => ({ entity: change.entity, key: change.key, before: imageText(before), after: imageText(change.image), net: true }));
    this.touched.set(o.correlationId, {
      correlationId: o.correlationId,
      requestType: o.requestType,
      key: o.key === null ? null : clip(o.key, 255),
      position: o.position,
      snapshotTs: o.snapshotTs.toString(),
      stage: o.stage,
      orderInStage: o.orderInStage,
      retries: [],
      replyStatus: o.reply?.status ?? null,
      replyMessage: o.reply === null ? null : clip(o.reply.message, EXPLAIN_LIMITS.messageChars),
      deferred: o.reply === null && o.dlq === undefined,
      answeredBy: null,
      changes: kept,
      changesOmitted: changes.length - kept.length,
      commands: (o.commands ?? []).slice(0, EXPLAIN_LIMITS.commands).map((c) => ({ workerId: c.workerId, recordType: c.type, fragmentId: String(c.value.fragmentId ?? '') })),
      dlqCode: o.dlq?.code ?? null,
      dlqReason: o.dlq === undefined ? null : clip(o.dlq.reason, EXPLAIN_LIMITS.messageChars),
    });
    this.fresh.add(o.correlationId);
  }

  /** A retry of an earlier request: answered with its reply, no effect. */
  async retried(correlationId: string, at: LogPosition): Promise<void> {
    await this.update(correlationId, (r) => (r.retries.length >= EXPLAIN_LIMITS.retries ? r : { ...r, retries: [...r.retries, at] }));
  }

  /** A deferred reply sent now, by the decision of the record at `by`. */
  async answered(correlationId: string, reply: { readonly status: string; readonly message: string }, by: { readonly position: LogPosition; readonly recordType: string }): Promise<void> {
    await this.update(correlationId, (r) => ({ ...r, replyStatus: reply.status, replyMessage: clip(reply.message, EXPLAIN_LIMITS.messageChars), answeredBy: by }));
  }

  /** After the pass: a change whose entity has no net change was cancelled out within the snapshot. */
  settle(netChanged: ReadonlySet<string>): void {
    for (const id of this.fresh) {
      const r = this.touched.get(id) as ExplainRecord;
      if (r.changes.some((c) => !netChanged.has(stateKey(c.entity, c.key))))
        this.touched.set(id, { ...r, changes: r.changes.map((c) => ({ ...c, net: netChanged.has(stateKey(c.entity, c.key)) })) });
    }
  }

  /** What is known of these ids so far in the pass, or in the store. */
  async lookup(correlationIds: readonly string[]): Promise<Map<string, ExplainRecord>> {
    const out = new Map<string, ExplainRecord>();
    const missing = correlationIds.filter((id) => !this.touched.has(id));
    const loaded = missing.length === 0 ? new Map<string, ExplainRecord>() : await this.load(missing);
    for (const id of correlationIds) {
      const r = this.touched.get(id) ?? loaded.get(id);
      if (r !== undefined) out.set(id, r);
    }
    return out;
  }

  /**
   * Store puts: every record touched, and the log-time index entry of each new one (the expiry of
   * remembered replies) unless `indexed` says the pass writes that entry already.
   */
  puts(logTimeMs: number, indexed: (correlationId: string) => boolean = () => false): [string, Buffer][] {
    const out: [string, Buffer][] = [];
    for (const [id, r] of this.touched) {
      out.push([explainKey(id), encodeExplainRecord(r)]);
      if (this.fresh.has(id) && !indexed(id)) out.push([dedupeTimeKey(logTimeMs, id), EMPTY]);
    }
    return out;
  }

  private async update(correlationId: string, f: (r: ExplainRecord) => ExplainRecord): Promise<void> {
    const r = (await this.lookup([correlationId])).get(correlationId);
    if (r !== undefined) this.touched.set(correlationId, f(r));
  }
}
