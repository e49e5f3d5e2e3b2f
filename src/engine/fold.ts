/**
 * Folding one batch into the store: the pass, the expiry of remembered replies, and the
 * single atomic write. The live coordinator and replay share it, so both reach the same bytes.
 */
import { handlerTable, PROJECTIONS, versionedEntities, type Projection } from '../../projections';
import type { Codec } from '../messaging/codec';
import { topicName, type TopicKind } from '../messaging/topics';
import { dedupeKey, DEDUPE_BY_TIME, parseDedupeTimeKey } from '../store/keys';
import { decodeOutRecord, type OutRecord } from '../store/outbox';
import type { Store } from '../store/rocks';
import type { RawRecord } from './decode';
import { runPass, type PassDeps, type PassResult } from './pass';
import type { SnapshotMeta, WorkingState } from './state';

export interface FoldOptions {
  readonly topicPrefix: string;
  readonly maxValueBytes: number;
  readonly dedupeRetentionMs: number;
  readonly kindOf: (topic: string) => TopicKind | undefined;
  readonly projections?: readonly Projection[];
}

export type Fold = (records: readonly RawRecord[], state: WorkingState, prev: SnapshotMeta) => Promise<PassResult>;

/** Keys of replies remembered before `cutoffMs` of log time; at most 1 000 pairs a pass, so expiry never stalls one. */
const expiredReplies = async (store: Store, cutoffMs: number): Promise<string[]> => {
  if (cutoffMs <= 0) return [];
  const keys: string[] = [];
  for await (const [k] of store.scan(DEDUPE_BY_TIME, { limit: 1_000 })) {
    const { logTimeMs, correlationId } = parseDedupeTimeKey(k);
    if (logTimeMs >= cutoffMs) break;
    keys.push(k, dedupeKey(correlationId));
  }
  return keys;
};

export const createFold = (deps: { store: Store; codec: Codec; options: FoldOptions }): Fold => {
  const { store, codec, options } = deps;
  const passDeps: PassDeps = {
    codec,
    handlers: handlerTable(options.projections ?? PROJECTIONS),
    maxValueBytes: options.maxValueBytes,
    kindOf: options.kindOf,
    replyToAllowed: (topic) => !topic.startsWith(`${options.topicPrefix}.`) || topic === topicName(options.topicPrefix, 'replies'),
    topics: {
      replies: topicName(options.topicPrefix, 'replies'),
      dlq: topicName(options.topicPrefix, 'dlq'),
      snapshots: topicName(options.topicPrefix, 'snapshots'),
      changelog: topicName(options.topicPrefix, 'changelog'),
      commands: topicName(options.topicPrefix, 'worker-commands'),
    },
    versioned: versionedEntities(options.projections ?? PROJECTIONS),
    remembered: async (correlationIds) => {
      const raws = await store.getMany(correlationIds.map(dedupeKey));
      const found = new Map<string, OutRecord>();
      raws.forEach((raw, i) => {
        if (raw !== null) found.set(correlationIds[i], decodeOutRecord(raw));
      });
      return found;
    },
  };
  return async (records, state, prev) => {
    const result = await runPass(records, state, prev, passDeps);
    const expired = await expiredReplies(store, prev.logTimeMs - options.dedupeRetentionMs);
    await store.write({ ...result.ops, deletes: [...(result.ops.deletes ?? []), ...expired] });
    return result;
  };
};
