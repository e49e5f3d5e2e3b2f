/**
 * ExplainRequest: what the coordinator did with a request, from the records the engine keeps
 * of every request it met (src/engine/explain.ts). Those records are not state: they sit beside
 * the remembered replies, expire with them after dedupeRetentionMs of log time, and are shown
 * to this decider under the read-only pseudo-entity EXPLANATION for the ids a pass asks about.
 */
import { settingsOf, shown } from '../model';
import type { ExplainRequest, Explanation, LogPosition as PositionPayload } from '../protocol.gen';
import { accept, entity, reject, reply, wrap, type Entity, type Handler, type Image } from '../types';

/** Read-only, and not state: the engine shows a pass the records it asks about under this name. */
export const EXPLANATION: Entity<ExplainRecord> = entity('explanation');

export interface LogPosition extends Image {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly logTimeMs: number;
  readonly snapshotId: string;
}

export interface ExplainedChange extends Image {
  readonly entity: string;
  readonly key: string;
  /** JSON images, bounded; null: absent. */
  readonly before: string | null;
  readonly after: string | null;
  /** False when the snapshot cancelled it out (no state change, no changelog record). */
  readonly net: boolean;
}

/** The record of one request, derived from the log alone: replay writes the same. */
export interface ExplainRecord extends Image {
  readonly correlationId: string;
  /** Full record name; '' when it could not be decoded. */
  readonly requestType: string;
  readonly key: string | null;
  readonly position: LogPosition;
  readonly snapshotTs: string;
  readonly stage: string | null;
  readonly orderInStage: number;
  readonly retries: readonly LogPosition[];
  readonly replyStatus: string | null;
  readonly replyMessage: string | null;
  readonly deferred: boolean;
  readonly answeredBy: { readonly position: LogPosition; readonly recordType: string } | null;
  readonly changes: readonly ExplainedChange[];
  readonly changesOmitted: number;
  readonly commands: readonly { readonly workerId: string; readonly recordType: string; readonly fragmentId: string }[];
  readonly dlqCode: string | null;
  readonly dlqReason: string | null;
}

const position = (p: LogPosition): PositionPayload => ({ topic: p.topic, partition: p.partition, offset: BigInt(p.offset), logTimeMs: BigInt(p.logTimeMs), snapshotId: BigInt(p.snapshotId) });

export const explanationPayload = (r: ExplainRecord, retentionMs: number): Explanation => ({
  correlationId: r.correlationId,
  requestType: r.requestType,
  key: wrap('string', r.key),
  position: position(r.position),
  snapshotTs: BigInt(r.snapshotTs),
  stage: wrap('string', r.stage),
  orderInStage: r.orderInStage,
  retries: r.retries.map(position),
  replyStatus: wrap('string', r.replyStatus),
  replyMessage: wrap('string', r.replyMessage),
  deferred: r.deferred,
  answeredBy: r.answeredBy === null ? null : { 'coord.v1.DeferredAnswer': { position: position(r.answeredBy.position), recordType: r.answeredBy.recordType } },
  changes: r.changes.map((c) => ({ entity: c.entity, key: c.key, before: wrap('string', c.before), after: wrap('string', c.after), net: c.net })),
  changesOmitted: r.changesOmitted,
  commands: r.commands.map((c) => ({ workerId: c.workerId, recordType: c.recordType, fragmentId: c.fragmentId })),
  dlqCode: wrap('string', r.dlqCode),
  dlqReason: wrap('string', r.dlqReason),
  keptUntilLogTimeMs: BigInt(r.position.logTimeMs + retentionMs),
});

export const explainRequest: Handler<ExplainRequest> = {
  stage: 'system',
  decide: (msg, state, ctx) => {
    const { dedupeRetentionMs } = settingsOf(state);
    const found = state.get(EXPLANATION, msg.value.correlationId);
    if (found === undefined) {
      const since = ctx.logTimeMs - dedupeRetentionMs;
      return reject(
        'NOT_FOUND',
        `no record of a request under correlation id ${shown(msg.value.correlationId)}: records are kept for dedupeRetentionMs (${dedupeRetentionMs} ms of log time), ` +
          `so one applied before log time ${since} (${new Date(Math.max(0, since)).toISOString()}) is gone; or no request under that id has reached the coordinator`,
      );
    }
    const what = found.dlqCode !== null ? `sent to the DLQ (${found.dlqCode})` : found.replyStatus === null ? 'deferred, not answered yet' : `answered ${found.replyStatus}`;
    return accept([], reply('OK', `${found.requestType === '' ? 'undecodable record' : found.requestType} ${what}`, { type: 'coord.v1.Explanation', value: explanationPayload(found, dedupeRetentionMs) }));
  },
};
