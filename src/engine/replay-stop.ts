/**
 * Where a replay stops: the point it is asked for (a snapshot id or a hybrid timestamp), the
 * markers up to that point, and the record a replayed folder keeps of where it stopped
 * (`m/replay`), which `coordctl inspect DIR describe` shows. Pure, but for the codec of the record.
 */
import type { Marker } from './markers';

/** A point in the log's history: the snapshot with this id, or the last snapshot taken at or before this hybrid timestamp. */
export type ReplayTarget = { readonly kind: 'snapshot'; readonly snapshotId: bigint } | { readonly kind: 'ts'; readonly ts: bigint };

/** Why a replay ended where it did. */
export type StopReason =
  /** The next snapshot on the log lies past the point asked for. */
  | 'until'
  /** The log has no snapshot after the last one replayed (no point was asked for, or it lies beyond the log's end). */
  | 'log-end'
  /** Verifying, a snapshot's digest differed from the one its marker recorded: the folder holds that snapshot's state. */
  | 'mismatch';

/**
 * The stop's fields, with its 64-bit numbers as `L` and an absent target or next as `A`: bigint
 * and undefined in memory, decimal strings and null in the stored JSON (which holds neither).
 */
interface StopFields<L, A extends null | undefined> {
  readonly target: { readonly kind: 'snapshot'; readonly snapshotId: L } | { readonly kind: 'ts'; readonly ts: L } | A;
  readonly reason: StopReason;
  /** The last snapshot folded into the folder (0: none). */
  readonly snapshotId: L;
  readonly snapshotTs: L;
  readonly logTimeMs: number;
  /** The digest the replay reached after that snapshot (hex). */
  readonly digest: string;
  /** The input offset ranges that snapshot folded, as its marker recorded them. */
  readonly inputs: readonly { readonly topic: string; readonly partition: number; readonly fromOffset: L; readonly toOffset: L }[];
  /** The first snapshot the log holds past the stop, if any: where a point-in-time folder ends. */
  readonly next: { readonly snapshotId: L; readonly snapshotTs: L } | A;
  /** Whether every snapshot up to the stop was checked against its marker's digest (and all matched unless `mismatch`). */
  readonly verified: boolean;
  /** The logic version of the code that replayed (src/engine/logic-version.ts). */
  readonly logicVersion: number;
  /** Wall-clock time the replay ended, epoch ms: when the folder was written, not a time of the log. */
  readonly replayedAtMs: number;
}

export type ReplayStop = StopFields<bigint, undefined>;
type StoredStop = StopFields<string, null>;

const inTarget = (m: Marker, t: ReplayTarget): boolean => (t.kind === 'snapshot' ? m.snapshotId <= t.snapshotId : m.snapshotTs <= t.ts);

/**
 * The markers a replay to `target` folds (all of them without one), in snapshot order, and
 * the first marker past it. Snapshot ids and timestamps both only grow along the chain, so
 * the markers in the target are a prefix of it.
 */
export const markersUntil = (markers: readonly Marker[], target: ReplayTarget | undefined): { within: readonly Marker[]; next: Marker | undefined } => {
  if (target === undefined) return { within: markers, next: undefined };
  const cut = markers.findIndex((m) => !inTarget(m, target));
  return cut < 0 ? { within: markers, next: undefined } : { within: markers.slice(0, cut), next: markers[cut] };
};

/** The target in words, for messages and `describe`. */
export const targetText = (t: ReplayTarget): string => (t.kind === 'snapshot' ? `snapshot ${t.snapshotId}` : `hybrid timestamp ${t.ts}`);

/** The one field table of the record, read in either direction: `long` converts each 64-bit number, `absent` stands for a missing target or next. */
const convert = <L1, L2, A1 extends null | undefined, A2 extends null | undefined>(o: StopFields<L1, A1>, long: (n: L1) => L2, absent: A2): StopFields<L2, A2> => {
  const target = o.target ?? undefined;
  const next = o.next ?? undefined;
  return {
    target: target === undefined ? absent : target.kind === 'snapshot' ? { kind: 'snapshot', snapshotId: long(target.snapshotId) } : { kind: 'ts', ts: long(target.ts) },
    reason: o.reason,
    snapshotId: long(o.snapshotId),
    snapshotTs: long(o.snapshotTs),
    logTimeMs: o.logTimeMs,
    digest: o.digest,
    inputs: o.inputs.map((r) => ({ topic: r.topic, partition: r.partition, fromOffset: long(r.fromOffset), toOffset: long(r.toOffset) })),
    next: next === undefined ? absent : { snapshotId: long(next.snapshotId), snapshotTs: long(next.snapshotTs) },
    verified: o.verified,
    logicVersion: o.logicVersion,
    replayedAtMs: o.replayedAtMs,
  };
};

export const encodeStop = (stop: ReplayStop): Buffer => Buffer.from(JSON.stringify(convert(stop, (n) => n.toString(), null)));

export const decodeStop = (b: Buffer): ReplayStop => convert(JSON.parse(b.toString()) as StoredStop, BigInt, undefined);
