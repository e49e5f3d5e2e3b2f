/**
 * The records `coordctl explain` answers from: one per request a pass met under a correlation
 * id (decided, refused, or sent to the DLQ), kept in the store beside the remembered replies
 * (`e/<correlationId>`) and expired with them through the same log-time index after
 * dedupeRetentionMs. Everything in a record comes from the log (positions, log times, the
 * snapshot, the decision), never from the wall clock, so a replay writes the same records.
 */
import type { Change, Command, Image } from '../../projections';
import type { ExplainedChange, ExplainRecord, LogPosition } from '../../projections/system/explain';
import { dedupeTimeKey, explainKey, stateKey } from './layout';

/** Bounds of one record: a cascade or a large plan must not make it unbounded. */
export const EXPLAIN_LIMITS = Object.freeze({ changes: 32, imageChars: 2_048, retries: 16, commands: 64, messageChars: 1_024 });

const EMPTY = Buffer.alloc(0);

const clip = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max)}… (${s.length} characters)`);

const imageText = (image: Image | null | undefined): string | null => (image === null || image === undefined ? null : clip(JSON.stringify(image), EXPLAIN_LIMITS.imageChars));

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

  /** Store puts: every record touched, and the log-time index entry of each new one (the expiry of remembered replies). */
  puts(logTimeMs: number): [string, Buffer][] {
    const out: [string, Buffer][] = [];
    for (const [id, r] of this.touched) {
      out.push([explainKey(id), Buffer.from(JSON.stringify(r))]);
      if (this.fresh.has(id)) out.push([dedupeTimeKey(logTimeMs, id), EMPTY]);
    }
    return out;
  }

  private async update(correlationId: string, f: (r: ExplainRecord) => ExplainRecord): Promise<void> {
    const r = (await this.lookup([correlationId])).get(correlationId);
    if (r !== undefined) this.touched.set(correlationId, f(r));
  }
}
