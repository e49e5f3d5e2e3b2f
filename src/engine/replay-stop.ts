/**
 * Where a replay stops: the point it is asked for (a snapshot id or a hybrid timestamp), the
 * markers up to that point, and the record a replayed folder keeps of where it stopped
 * (`m/replay`), which `coordctl inspect DIR describe` shows. Pure, but for the codec of the record.
 */
import type { InputRange, Marker } from './markers';

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

export interface ReplayStop {
  readonly target: ReplayTarget | undefined;
  readonly reason: StopReason;
  /** The last snapshot folded into the folder (0: none). */
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  readonly logTimeMs: number;
  /** The digest the replay reached after that snapshot (hex). */
  readonly digest: string;
  /** The input offset ranges that snapshot folded, as its marker recorded them. */
  readonly inputs: readonly InputRange[];
  /** The first snapshot the log holds past the stop, if any: where a point-in-time folder ends. */
  readonly next: { readonly snapshotId: bigint; readonly snapshotTs: bigint } | undefined;
  /** Whether every snapshot up to the stop was checked against its marker's digest (and all matched unless `mismatch`). */
  readonly verified: boolean;
  /** The logic version of the code that replayed (src/engine/logic-version.ts). */
  readonly logicVersion: number;
  /** Wall-clock time the replay ended, epoch ms: when the folder was written, not a time of the log. */
  readonly replayedAtMs: number;
}

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

const s = (n: bigint): string => n.toString();

export const encodeStop = (stop: ReplayStop): Buffer =>
  Buffer.from(
    JSON.stringify({
      target: stop.target === undefined ? null : stop.target.kind === 'snapshot' ? { kind: 'snapshot', snapshotId: s(stop.target.snapshotId) } : { kind: 'ts', ts: s(stop.target.ts) },
      reason: stop.reason,
      snapshotId: s(stop.snapshotId),
      snapshotTs: s(stop.snapshotTs),
      logTimeMs: stop.logTimeMs,
      digest: stop.digest,
      inputs: stop.inputs.map((r) => ({ topic: r.topic, partition: r.partition, fromOffset: s(r.fromOffset), toOffset: s(r.toOffset) })),
      next: stop.next === undefined ? null : { snapshotId: s(stop.next.snapshotId), snapshotTs: s(stop.next.snapshotTs) },
      verified: stop.verified,
      logicVersion: stop.logicVersion,
      replayedAtMs: stop.replayedAtMs,
    }),
  );

interface StopJson {
  target: { kind: 'snapshot'; snapshotId: string } | { kind: 'ts'; ts: string } | null;
  reason: StopReason;
  snapshotId: string;
  snapshotTs: string;
  logTimeMs: number;
  digest: string;
  inputs: { topic: string; partition: number; fromOffset: string; toOffset: string }[];
  next: { snapshotId: string; snapshotTs: string } | null;
  verified: boolean;
  logicVersion: number;
  replayedAtMs: number;
}

export const decodeStop = (b: Buffer): ReplayStop => {
  const o = JSON.parse(b.toString()) as StopJson;
  return {
    target: o.target === null ? undefined : o.target.kind === 'snapshot' ? { kind: 'snapshot', snapshotId: BigInt(o.target.snapshotId) } : { kind: 'ts', ts: BigInt(o.target.ts) },
    reason: o.reason,
    snapshotId: BigInt(o.snapshotId),
    snapshotTs: BigInt(o.snapshotTs),
    logTimeMs: o.logTimeMs,
    digest: o.digest,
    inputs: o.inputs.map((r) => ({ topic: r.topic, partition: r.partition, fromOffset: BigInt(r.fromOffset), toOffset: BigInt(r.toOffset) })),
    next: o.next === null ? undefined : { snapshotId: BigInt(o.next.snapshotId), snapshotTs: BigInt(o.next.snapshotTs) },
    verified: o.verified,
    logicVersion: o.logicVersion,
    replayedAtMs: o.replayedAtMs,
  };
};
