/** The projections' state in memory, loaded from RocksDB at start and kept equal to it by every commit. */
import type { Change, Image, StateView } from '../../projections';
import { digestHex, EMPTY_DIGEST, parseDigest } from '../store/digest';
import { OFFSETS, parseOffsetKey, parseStateKey, SNAPSHOT_META, STATE } from '../store/keys';
import type { Store } from '../store/rocks';

export interface SnapshotMeta {
  readonly id: bigint;
  /** Hybrid timestamp: physical ms << 18 | logical. */
  readonly ts: bigint;
  /** The newest log time folded so far (ms). */
  readonly logTimeMs: number;
  /** Digest of the projections' state after this snapshot (src/store/digest.ts). */
  readonly digest: bigint;
}

export const GENESIS: SnapshotMeta = Object.freeze({ id: 0n, ts: 0n, logTimeMs: 0, digest: EMPTY_DIGEST });

export const LOGICAL_BITS = 18n;

/** The next hybrid timestamp: physical time from the log, logical counter when the log time stands still. */
export const nextHybrid = (prev: bigint, physicalMs: number): bigint => {
  const candidate = BigInt(physicalMs) << LOGICAL_BITS;
  return candidate > prev ? candidate : prev + 1n;
};

export const encodeMeta = (m: SnapshotMeta): Buffer =>
  Buffer.from(JSON.stringify({ id: m.id.toString(), ts: m.ts.toString(), logTimeMs: m.logTimeMs, digest: digestHex(m.digest) }));

const decodeMeta = (b: Buffer): SnapshotMeta => {
  const o = JSON.parse(b.toString()) as { id: string; ts: string; logTimeMs: number; digest: string };
  return { id: BigInt(o.id), ts: BigInt(o.ts), logTimeMs: o.logTimeMs, digest: parseDigest(o.digest) };
};

export class WorkingState implements StateView {
  private readonly entities = new Map<string, Map<string, Image>>();

  get(entity: string, key: string): Image | undefined {
    return this.entities.get(entity)?.get(key);
  }

  /** In key order, so a decider that walks a list decides the same after a restart as in a replay. */
  list(entity: string): Iterable<readonly [string, Image]> {
    const m = this.entities.get(entity);
    if (m === undefined) return [];
    return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  apply(change: Change): void {
    let m = this.entities.get(change.entity);
    if (m === undefined) {
      m = new Map();
      this.entities.set(change.entity, m);
    }
    if (change.image === null) m.delete(change.key);
    else m.set(change.key, change.image);
  }
}

export interface Loaded {
  readonly state: WorkingState;
  readonly offsets: Map<string, bigint>;
  readonly meta: SnapshotMeta;
}

export const tpKey = (topic: string, partition: number): string => `${topic}:${partition}`;

export const loadState = async (store: Store): Promise<Loaded> => {
  const state = new WorkingState();
  for await (const [k, v] of store.scan(STATE)) {
    const { entity, key } = parseStateKey(k);
    state.apply({ entity, key, image: JSON.parse(v.toString()) as Image });
  }
  const offsets = new Map<string, bigint>();
  for await (const [k, v] of store.scan(OFFSETS)) {
    const { topic, partition } = parseOffsetKey(k);
    offsets.set(tpKey(topic, partition), BigInt(v.toString()));
  }
  const raw = await store.get(SNAPSHOT_META);
  return { state, offsets, meta: raw === null ? GENESIS : decodeMeta(raw) };
};
