/**
 * Folding one batch into the store: the pass, the expiry of remembered replies, and the
 * single atomic write. The live coordinator and replay share it, so both reach the same bytes.
 */
import { handlerTable, livenessFields, PROJECTIONS, versionedEntities, type Image, type Projection } from '../../projections';
import type { ChangelogTable } from '../messaging/changelog';
import type { Codec } from '../messaging/codec';
import { replyToProblem } from '../messaging/reply-to';
import { topicName, type TopicKind } from '../messaging/topics';
import { settingsOf } from '../../projections/model';
import { digestHex, TermCache } from '../store/digest';
import { decodeRemembered, dedupeKey, DEDUPE_BY_TIME, explainKey, parseDedupeTimeKey, META } from './layout';
import { checkDigest, LOGIC_VERSION, type DigestCheck } from './logic-version';
import { decodeExplainRecord } from './explain';
import type { Store, WriteOps } from '../store/rocks';
import type { RawRecord } from './decode';
import { runPass, type PassDeps, type PassResult } from './pass';
import { encodeMeta, type SnapshotMeta, type WorkingState } from './state';
import { createVerifier } from '../messaging/signing';

export interface FoldOptions {
  readonly topicPrefix: string;
  readonly kindOf: (topic: string) => TopicKind | undefined;
  readonly projections?: readonly Projection[];
  /** The logic version of `projections` (LOGIC_VERSION for the registry's own). */
  readonly logicVersion?: number;
  /** The changelog's tables by entity type (see messaging/changelog); none: only the legacy changelog. */
  readonly changelogTables?: ReadonlyMap<string, ChangelogTable>;
}

/** What only the live loop (holding unknown schemas) or a replay or follower (the recorded verdicts) adds. */
export interface FoldExtra extends Pick<PassDeps, 'recorded' | 'holdUnknownSchemas' | 'generation'> {
  /**
   * A snapshot some other run published already (a replay, a catch-up, a standby following the
   * log): its outbox is not kept, `alsoPut` goes in the same atomic write (where its marker
   * stands on the log), and its digest is checked against the marker's before the write.
   */
  readonly published?: {
    readonly alsoPut: ReadonlyArray<readonly [string, Buffer]>;
    readonly marker: { readonly digest: string; readonly logicVersion: number };
    /** Whether the state folded on is proven to be the log's (see checkDigest). */
    readonly baseProven: boolean;
    /** Throw rather than write a snapshot whose digest diverged from the marker's. */
    readonly refuseDiverged?: boolean;
  };
}

export interface FoldResult extends PassResult {
  /** With `published`: what the digest says about the marker's snapshot. */
  readonly check?: DigestCheck;
}

export type Fold = (records: readonly RawRecord[], state: WorkingState, prev: SnapshotMeta, extra?: FoldExtra) => Promise<FoldResult>;

/** `write`: how the pass's one batch is written; the live loop retries it through a full disk. */
/** What the store keeps under each of `correlationIds` (a remembered reply, an explain record), read in one multi-get, decoded; absent ids are left out. */
const readKept = async <T>(store: Store, correlationIds: readonly string[], keyOf: (id: string) => string, decode: (raw: Buffer) => T): Promise<Map<string, T>> => {
  const raws = await store.getMany(correlationIds.map(keyOf));
  const found = new Map<string, T>();
  raws.forEach((raw, i) => {
    if (raw !== null) found.set(correlationIds[i], decode(raw));
  });
  return found;
};

export const createFold = (deps: { store: Store; codec: Codec; options: FoldOptions; write?: (ops: WriteOps) => Promise<void>; terms?: TermCache<Image> }): Fold => {
  const { store, codec, options } = deps;
  const write = deps.write ?? ((ops: WriteOps) => store.write(ops));

  /**
   * The log time of the oldest reply still remembered, once a scan has told it (undefined: not
   * known yet). A pass looks for expired replies only when the cutoff has reached it, so the
   * usual pass opens no iterator; it deletes exactly what a scan every pass would.
   */
  let oldestMs: number | undefined;
  /** Keys of replies remembered before `cutoffMs` of log time; at most 1 000 a pass, so expiry never stalls one. */
  const expiredReplies = async (cutoffMs: number): Promise<string[]> => {
    if (cutoffMs <= 0 || (oldestMs !== undefined && cutoffMs <= oldestMs)) return [];
    const keys: string[] = [];
    let seen = 0;
    let next = Number.POSITIVE_INFINITY;
    for await (const [k] of store.scan(DEDUPE_BY_TIME, { limit: 1_000 })) {
      seen++;
      const { logTimeMs, correlationId } = parseDedupeTimeKey(k);
      if (logTimeMs >= cutoffMs) {
        next = logTimeMs;
        break;
      }
      keys.push(k, dedupeKey(correlationId), explainKey(correlationId));
    }
    // A full page of expired replies: there may be more, so the next pass looks again.
    oldestMs = seen >= 1_000 && next === Number.POSITIVE_INFINITY ? undefined : next;
    return keys;
  };
  const passDeps: PassDeps = {
    codec,
    handlers: handlerTable(options.projections ?? PROJECTIONS),
    kindOf: options.kindOf,
    replyToProblem: (topic) => replyToProblem(options.topicPrefix, topic),
    topics: {
      replies: topicName(options.topicPrefix, 'replies'),
      dlq: topicName(options.topicPrefix, 'dlq'),
      snapshots: topicName(options.topicPrefix, 'snapshots'),
      changelog: topicName(options.topicPrefix, 'changelog'),
      commands: topicName(options.topicPrefix, 'worker-commands'),
    },
    versioned: versionedEntities(options.projections ?? PROJECTIONS),
    liveness: livenessFields(options.projections ?? PROJECTIONS),
    terms: deps.terms ?? new TermCache(),
    verifier: createVerifier(),
    logicVersion: options.logicVersion,
    changelog: options.changelogTables === undefined ? undefined : { prefix: options.topicPrefix, tables: options.changelogTables },
    remembered: (correlationIds) => readKept(store, correlationIds, dedupeKey, decodeRemembered),
    explained: (correlationIds) => readKept(store, correlationIds, explainKey, decodeExplainRecord),
  };
  return async (records, state, prev, extra) => {
    // The retention in force before the pass, from the log, as the pass's own settings.
    const { dedupeRetentionMs } = settingsOf(state);
    const result = await runPass(records, state, prev, { ...passDeps, recorded: extra?.recorded, holdUnknownSchemas: extra?.holdUnknownSchemas, generation: extra?.generation, published: extra?.published !== undefined });
    const expired = await expiredReplies(prev.logTimeMs - dedupeRetentionMs);
    if (result.remembers && oldestMs !== undefined && result.meta.logTimeMs < oldestMs) oldestMs = result.meta.logTimeMs;
    const writeFrom = performance.now();
    const published = extra?.published;
    let puts = result.ops.puts;
    let check: DigestCheck | undefined;
    if (published !== undefined) {
      const version = options.logicVersion ?? LOGIC_VERSION;
      check = checkDigest(published.marker, digestHex(result.meta.digest), version, published.baseProven);
      if (check === 'diverged' && published.refuseDiverged === true)
        throw new Error(`snapshot ${result.meta.id} folded to digest ${digestHex(result.meta.digest)}, but the log recorded ${published.marker.digest}`);
      const lineage = encodeMeta(result.meta, { logicVersion: version, proven: check === 'proven' });
      puts = [...puts.filter(([k]) => k !== result.outbox.key && k !== META.snapshot), [META.snapshot, lineage], ...published.alsoPut];
    }
    await write({ ...result.ops, puts, deletes: [...(result.ops.deletes ?? []), ...expired] });
    // Memory equals the store again: what is read through it may be forgotten.
    state.evict();
    return { ...result, check, stages: { ...result.stages, commitMs: performance.now() - writeFrom } };
  };
};
