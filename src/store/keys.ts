/**
 * The key layout of a coordinator's RocksDB. One prefix per kind, so a scan of one kind
 * never meets another; each prefix says below what its entries hold.
 */

/** `s/<entity>/<key>`: the current image of an entity (JSON). */
export const STATE = 's/';
/** `h/<entity>/<key>/<ts>`: a versioned entity's image from snapshot ts on (JSON; null: deleted). */
export const HISTORY = 'h/';
/** `o/<topic>/<partition>`: the next input offset to read (decimal string). */
export const OFFSETS = 'o/';
/** `x/<snapshotId>`: a snapshot's outbox not yet published (src/store/outbox.ts; ids zero-padded to sort). */
export const OUTBOX = 'x/';
/** `d/<correlationId>`: the request decided under that id, its fingerprint and its reply once given (src/store/outbox.ts). */
export const DEDUPE = 'd/';
/** `t/<logTimeMs>/<correlationId>`: the same, indexed by log time, for expiry. */
export const DEDUPE_BY_TIME = 't/';
/** `e/<correlationId>`: what became of the request under that id, for explain (JSON; src/engine/explain.ts), expired with d/. */
export const EXPLAIN = 'e/';
/**
 * `r/<ts>/<entity>/<key>` (empty): a version of an entity read through the store was written
 * at ts, so from a frontier at ts on, compaction looks at that key.
 */
export const REMOVABLE = 'r/';

/** `m/<name>`: the store's facts about itself, one entry each. */
export const META = {
  /** The last committed snapshot: id, ts, log time, digest (JSON). */
  snapshot: 'm/snapshot',
  /** The last snapshot marker this store saw published, and its offset on the snapshots topic (JSON). */
  marker: 'm/marker',
  /** Written by a replay when it is done: the snapshot it stopped at and why (`coordctl inspect DIR describe` shows it). */
  replayStop: 'm/replay',
  /** Present once every r/ entry the history needs is there (a store written before r/ gets them at its next load). */
  historyIndexed: 'm/history-index',
  /** Why a check found the store's entries not summing to its snapshot's digest (text): the next start checks it whole and rebuilds it. */
  suspect: 'm/suspect',
} as const;

export const stateKey = (entity: string, key: string): string => `${STATE}${entity}/${key}`;

export const parseStateKey = (k: string): { entity: string; key: string } => {
  const rest = k.slice(STATE.length);
  const slash = rest.indexOf('/');
  return { entity: rest.slice(0, slash), key: rest.slice(slash + 1) };
};

export const offsetKey = (topic: string, partition: number): string => `${OFFSETS}${topic}/${partition}`;

export const parseOffsetKey = (k: string): { topic: string; partition: number } => {
  const rest = k.slice(OFFSETS.length);
  const slash = rest.lastIndexOf('/');
  return { topic: rest.slice(0, slash), partition: Number(rest.slice(slash + 1)) };
};

const pad = (n: bigint | number, width: number): string => n.toString().padStart(width, '0');

export const outboxKey = (snapshotId: bigint): string => `${OUTBOX}${pad(snapshotId, 20)}`;

export const dedupeKey = (correlationId: string): string => `${DEDUPE}${correlationId}`;

export const explainKey = (correlationId: string): string => `${EXPLAIN}${correlationId}`;

export const dedupeTimeKey = (logTimeMs: number, correlationId: string): string => `${DEDUPE_BY_TIME}${pad(logTimeMs, 15)}/${correlationId}`;

/** The log time and correlation id of a `t/` key. */
export const parseDedupeTimeKey = (k: string): { logTimeMs: number; correlationId: string } => {
  const rest = k.slice(DEDUPE_BY_TIME.length);
  const slash = rest.indexOf('/');
  return { logTimeMs: Number(rest.slice(0, slash)), correlationId: rest.slice(slash + 1) };
};

export const historyKey = (entity: string, key: string, ts: bigint): string => `${HISTORY}${entity}/${key}/${pad(ts, 20)}`;

export const parseHistoryKey = (k: string): { entity: string; key: string; ts: bigint } => {
  const rest = k.slice(HISTORY.length);
  const first = rest.indexOf('/');
  const last = rest.lastIndexOf('/');
  return { entity: rest.slice(0, first), key: rest.slice(first + 1, last), ts: BigInt(rest.slice(last + 1)) };
};

/** The prefix of every version of one entity's key, oldest first. */
export const historyPrefix = (entity: string, key?: string): string => (key === undefined ? `${HISTORY}${entity}/` : `${HISTORY}${entity}/${key}/`);

/** The prefix of one entity's current images. */
export const statePrefix = (entity: string): string => `${STATE}${entity}/`;

export const removableKey = (ts: bigint, entity: string, key: string): string => `${REMOVABLE}${pad(ts, 20)}/${entity}/${key}`;

/** The ts, entity and key of an `r/` key. */
export const parseRemovableKey = (k: string): { ts: bigint; entity: string; key: string } => {
  const rest = k.slice(REMOVABLE.length);
  const first = rest.indexOf('/');
  const second = rest.indexOf('/', first + 1);
  return { ts: BigInt(rest.slice(0, first)), entity: rest.slice(first + 1, second), key: rest.slice(second + 1) };
};
