/**
 * Which snapshot markers a reader of `<prefix>.snapshots` trusts. Anyone who can write the
 * topic can append to it, so a record there is evidence, not truth: the markers the
 * coordinator published form one chain (ids one apart, generations never going down, input
 * ranges moving forward), and whatever does not continue it is skipped with a reason.
 * Pure: the records come in already read and decoded.
 */
import { errorMessage, isCoordError } from '../errors';
import type { Decoded } from '../messaging/codec';
import { H, type Headers } from '../messaging/headers';
import { tpKey } from './state';

export const MARKER_RECORD = 'coord.v1.SnapshotMarker';

export interface InputRange {
  readonly topic: string;
  readonly partition: number;
  /** First offset of the pass on this partition. */
  readonly fromOffset: bigint;
  /** Last offset of the pass on this partition (inclusive). */
  readonly toOffset: bigint;
}

export interface Marker {
  /** Where the marker sits on the snapshots topic. */
  readonly offset: bigint;
  /** The generation (activation) that published it, from its header; always positive on a trusted marker. */
  readonly generation: number;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  readonly digest: string;
  readonly inputs: readonly InputRange[];
  readonly records: number;
  /**
   * Inputs the pass refused before any decider saw them, with the code: a replay takes these
   * verdicts as they are. Undefined on a marker of a coordinator that did not record them.
   */
  readonly rejected: readonly RecordedVerdict[] | undefined;
  /** The version of the deciding logic that folded the snapshot (1 on markers written before it was recorded). */
  readonly logicVersion: number;
}

export interface RecordedVerdict {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly code: string;
}

/** One record of the snapshots topic as read: its value decoded, or the error decoding it gave. */
export type MarkerRecord = {
  readonly offset: bigint;
  readonly headers: Headers;
  /**
   * How it was written, from its record batch: the coordinator writes every marker in a
   * transaction, under one producer id per transactional id. Unknown when not read from Kafka.
   */
  readonly writer?: { readonly producerId: string; readonly inTransaction: boolean };
} & ({ readonly decoded: Decoded } | { readonly error: unknown });

/** What the reader knows before it reads. */
export interface ChainStart {
  /** The id of the last marker the reader trusts already (the one at the offset it reads from); the chain goes on from it. */
  readonly knownSnapshotId?: bigint;
  /** Whether the records begin at the very start of the topic: with nothing known, the chain must then begin at snapshot 1. */
  readonly fromBeginning: boolean;
}

export interface SkippedRecord {
  readonly offset: bigint;
  readonly reason: string;
}

export interface MarkerChain {
  /** The trusted markers in snapshot order, from the known one (when it was among the records) or the first after it. */
  readonly markers: readonly Marker[];
  /** Records that are not part of the chain, in offset order; duplicates of trusted markers are not among them. */
  readonly skipped: readonly SkippedRecord[];
  /**
   * Read from the topic's beginning, the first marker that would open the chain but is not
   * snapshot 1: the topic's start was deleted (retention), so no chain can begin here.
   */
  readonly opensPastStart?: { readonly offset: bigint; readonly snapshotId: bigint };
}

/**
 * A registry that does not answer says nothing about the record; skipping it would drop a
 * good marker, so this error must reach the reader's caller instead.
 */
export const isRegistryDown = (err: unknown): boolean => isCoordError(err, 'SCHEMA_REGISTRY');

/** Reasons quote what the record carried; a forged record must not make a log line unbounded. */
const clip = (s: string, max = 120): string => (s.length <= max ? s : `${s.slice(0, max)}…`);

type Verdict =
  | { readonly kind: 'trust'; readonly marker: Marker }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'skip'; readonly reason: string; readonly opens?: bigint };

const skip = (reason: string, opens?: bigint): Verdict => ({ kind: 'skip', reason, ...(opens === undefined ? {} : { opens }) });

const positiveSafeInteger = (raw: string): number | undefined => {
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
};

const asMarker = (offset: bigint, generation: number, v: Record<string, unknown>): Marker => ({
  offset,
  generation,
  snapshotId: v.snapshotId as bigint,
  snapshotTs: v.snapshotTs as bigint,
  digest: v.digest as string,
  inputs: (v.inputs as InputRange[]).map((r) => ({ topic: r.topic, partition: r.partition, fromOffset: r.fromOffset, toOffset: r.toOffset })),
  records: v.records as number,
  rejected: (v.rejected as { array: RecordedVerdict[] } | null | undefined)?.array.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset, code: r.code })),
  logicVersion: (v.logicVersion as number | undefined) ?? 1,
});

/** A marker's claims that no coordinator makes, whatever came before it. */
const malformed = (m: Marker): string | undefined => {
  if (m.snapshotId < 1n) return `snapshot id ${m.snapshotId} is not positive`;
  const seen = new Set<string>();
  for (const r of m.inputs) {
    const k = tpKey(r.topic, r.partition);
    if (seen.has(k)) return `input ${clip(r.topic)}[${r.partition}] is named twice`;
    seen.add(k);
    if (r.fromOffset < 0n || r.toOffset < r.fromOffset) return `input ${clip(r.topic)}[${r.partition}] has the range ${r.fromOffset}..${r.toOffset}`;
  }
  return undefined;
};

const sameSnapshot = (a: Marker, b: Marker): boolean =>
  a.digest === b.digest &&
  a.snapshotTs === b.snapshotTs &&
  a.inputs.length === b.inputs.length &&
  a.inputs.every((r, i) => r.topic === b.inputs[i].topic && r.partition === b.inputs[i].partition && r.fromOffset === b.inputs[i].fromOffset && r.toOffset === b.inputs[i].toOffset);

/** The chain as trusted so far: what a next marker must continue. */
interface Trusted {
  readonly markers: Marker[];
  /** The producer id of the last trusted marker's writer, when known. */
  producerId?: string;
  /** Per `topic:partition`, the last input offset a trusted marker folded. */
  readonly lastTo: Map<string, bigint>;
}

const judge = (r: MarkerRecord, chain: Trusted, start: ChainStart): Verdict => {
  if ('error' in r) {
    if (isRegistryDown(r.error)) throw r.error;
    const code = isCoordError(r.error) ? r.error.code : 'ERROR';
    return skip(`does not decode (${code}): ${clip(errorMessage(r.error), 200)}`);
  }
  if (r.decoded.fullName !== MARKER_RECORD) return skip(`is a ${clip(r.decoded.fullName)}, not a ${MARKER_RECORD}`);
  const rawGeneration = r.headers[H.generation];
  if (rawGeneration === undefined) return skip(`has no ${H.generation} header`);
  const generation = positiveSafeInteger(rawGeneration);
  if (generation === undefined) return skip(`has the ${H.generation} header "${clip(rawGeneration, 40)}", not a positive integer`);
  const m = asMarker(r.offset, generation, r.decoded.value);
  const bad = malformed(m);
  if (bad !== undefined) return skip(bad);
  if (r.writer !== undefined && !r.writer.inTransaction) return skip('was not written in a transaction, as every marker of the coordinator is');

  const last = chain.markers.at(-1);
  if (last === undefined) {
    const known = start.knownSnapshotId;
    if (known !== undefined) {
      if (m.snapshotId < known) return { kind: 'duplicate' };
      // The known marker itself heads the chain: the next one is checked against its ranges and generation.
      return m.snapshotId === known || m.snapshotId === known + 1n ? { kind: 'trust', marker: m } : skip(`snapshot ${m.snapshotId} does not follow the known snapshot ${known}`);
    }
    if (start.fromBeginning && m.snapshotId !== 1n) return skip(`snapshot ${m.snapshotId} opens the topic, where snapshot 1 must`, m.snapshotId);
    return { kind: 'trust', marker: m };
  }
  if (m.snapshotId <= last.snapshotId) {
    // An outbox published again after a crash: the same value. One that differs was never the coordinator's.
    const trusted = chain.markers.find((t) => t.snapshotId === m.snapshotId);
    return trusted === undefined || sameSnapshot(trusted, m) ? { kind: 'duplicate' } : skip(`snapshot ${m.snapshotId} differs from the trusted marker at offset ${trusted.offset}`);
  }
  if (m.snapshotId !== last.snapshotId + 1n) return skip(`snapshot ${m.snapshotId} does not follow snapshot ${last.snapshotId}`);
  if (m.generation < last.generation) return skip(`generation ${m.generation} is below generation ${last.generation} of snapshot ${last.snapshotId}`);
  // Another transactional producer than the chain's: only a new activation may bring one (a transactional id that expired).
  if (r.writer !== undefined && chain.producerId !== undefined && r.writer.producerId !== chain.producerId && m.generation === last.generation)
    return skip(`was written by producer ${clip(r.writer.producerId, 24)}, not by producer ${chain.producerId} of generation ${last.generation}`);
  for (const range of m.inputs) {
    const before = chain.lastTo.get(tpKey(range.topic, range.partition));
    if (before !== undefined && range.fromOffset <= before)
      return skip(`input ${clip(range.topic)}[${range.partition}] starts at ${range.fromOffset}, not past offset ${before} that an earlier snapshot folded`);
  }
  return { kind: 'trust', marker: m };
};

/**
 * The trusted chain among `records` (read from the snapshots topic in offset order) and the
 * records skipped, each with why. Never throws for a record's content; a decode error of a
 * registry that did not answer (`SCHEMA_REGISTRY`) is thrown, since it is not the record's fault.
 */
export const trustMarkers = (records: readonly MarkerRecord[], start: ChainStart): MarkerChain => {
  const chain: Trusted = { markers: [], lastTo: new Map() };
  const skipped: SkippedRecord[] = [];
  let opensPastStart: MarkerChain['opensPastStart'];
  for (const r of records) {
    const verdict = judge(r, chain, start);
    switch (verdict.kind) {
      case 'trust':
        chain.markers.push(verdict.marker);
        if (r.writer !== undefined) chain.producerId = r.writer.producerId;
        for (const range of verdict.marker.inputs) chain.lastTo.set(tpKey(range.topic, range.partition), range.toOffset);
        break;
      case 'duplicate':
        break;
      case 'skip':
        skipped.push({ offset: r.offset, reason: verdict.reason });
        if (verdict.opens !== undefined) opensPastStart ??= { offset: r.offset, snapshotId: verdict.opens };
        break;
      default: {
        const _: never = verdict;
        return _;
      }
    }
  }
  return { markers: chain.markers, skipped, ...(opensPastStart === undefined ? {} : { opensPastStart }) };
};
