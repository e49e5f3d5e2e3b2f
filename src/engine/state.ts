/** The projections' state in memory, loaded from RocksDB at start and kept equal to it by every commit. */
import { type Change, type Entity, type Image, type StateView } from '../../projections';
import { LOGICAL_BITS, nextHybrid } from '../../projections/system/hybrid';
import { DigestSum, EMPTY_DIGEST } from '../store/digest';
import type { Store } from '../store/rocks';
import { historyKey, readImages, readVersions, storedMeta, storedOffsets, type SnapshotMeta } from './layout';

export const GENESIS: SnapshotMeta = Object.freeze({ id: 0n, ts: 0n, logTimeMs: 0, digest: EMPTY_DIGEST });

export { LOGICAL_BITS, nextHybrid };
// The meta and its encoding are the layout's (src/engine/layout.ts); named here too, where the engine imports them from.
export { encodeMeta, readLineage, type SnapshotMeta } from './layout';

/** One version of a versioned entity: its image from snapshot `ts` on (null: deleted then). */
interface Version {
  readonly ts: bigint;
  readonly image: Image | null;
}

const byKey = ([a]: readonly [string, unknown], [b]: readonly [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);

export class WorkingState implements StateView {
  private readonly entities = new Map<string, Map<string, Image>>();
  /**
   * Each entity's keys in order, once a list has asked, until a key comes or goes: a heartbeat
   * changes an image, not the keys, so a Tick's walk over 10 000 workers sorts nothing.
   */
  private readonly sortedKeys = new Map<string, string[]>();
  /** Versions per entity and key, oldest first. */
  private readonly history = new Map<string, Map<string, Version[]>>();
  /** The lowest frontier at which compaction would remove anything, so a tick with nothing to do costs nothing. */
  private nextRemovableAt: bigint | undefined;

  private removableAt(ts: bigint): void {
    if (this.nextRemovableAt === undefined || ts < this.nextRemovableAt) this.nextRemovableAt = ts;
  }

  // The store keeps images untyped; read through an entity's name, they are that entity's images (projections/model.ts).
  getAt<I extends Image>(entity: Entity<I>, key: string, ts: bigint): I | undefined {
    const versions = this.history.get(entity)?.get(key);
    if (versions === undefined) return undefined;
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i].ts <= ts) return (versions[i].image ?? undefined) as I | undefined;
    return undefined;
  }

  listAt<I extends Image>(entity: Entity<I>, ts: bigint): Iterable<readonly [string, I]> {
    const keys = this.history.get(entity);
    if (keys === undefined) return [];
    const out: [string, I][] = [];
    for (const key of keys.keys()) {
      const image = this.getAt(entity, key, ts);
      if (image !== undefined) out.push([key, image]);
    }
    return out.sort(byKey);
  }

  /** Records the image an entity has from snapshot `ts` on; versions arrive in ts order. */
  addVersion(entity: string, key: string, ts: bigint, image: Image | null): void {
    let keys = this.history.get(entity);
    if (keys === undefined) {
      keys = new Map();
      this.history.set(entity, keys);
    }
    const versions = keys.get(key);
    if (versions === undefined) keys.set(key, [{ ts, image }]);
    else versions.push({ ts, image });
    // The version this one supersedes can go once the frontier reaches it; so can a deletion.
    if (versions !== undefined || image === null) this.removableAt(ts);
  }

  /**
   * Forgets the versions no read at or after `frontier` can reach: all but the newest at or
   * before it, and that one too when it is a deletion. Returns the store entries removed.
   */
  compact(frontier: bigint): [string, Buffer][] {
    const removed: [string, Buffer][] = [];
    if (this.nextRemovableAt === undefined || this.nextRemovableAt > frontier) return removed;
    this.nextRemovableAt = undefined;
    for (const [entity, keys] of this.history) {
      for (const [key, versions] of keys) {
        let keep = 0;
        while (keep + 1 < versions.length && versions[keep + 1].ts <= frontier) keep++;
        if (versions[keep].ts > frontier) continue;
        const drop = versions[keep].image === null ? keep + 1 : keep;
        if (drop === 0) continue;
        for (const v of versions.slice(0, drop)) removed.push([historyKey(entity, key, v.ts), Buffer.from(JSON.stringify(v.image))]);
        if (drop === versions.length) keys.delete(key);
        else keys.set(key, versions.slice(drop));
      }
      for (const versions of keys.values()) {
        if (versions.length > 1) this.removableAt(versions[1].ts);
        const last = versions[versions.length - 1];
        if (last.image === null) this.removableAt(last.ts);
      }
    }
    return removed.sort(byKey);
  }

  get<I extends Image>(entity: Entity<I>, key: string): I | undefined {
    return this.entities.get(entity)?.get(key) as I | undefined;
  }

  /** In key order, so a decider that walks a list decides the same after a restart as in a replay. */
  list<I extends Image>(entity: Entity<I>): Iterable<readonly [string, I]> {
    const m = this.entities.get(entity);
    if (m === undefined) return [];
    let keys = this.sortedKeys.get(entity);
    if (keys === undefined) {
      keys = [...m.keys()].sort();
      this.sortedKeys.set(entity, keys);
    }
    return keys.map((k) => [k, m.get(k) as I] as const);
  }

  apply(change: Change): void {
    let m = this.entities.get(change.entity);
    if (m === undefined) {
      m = new Map();
      this.entities.set(change.entity, m);
    }
    if (change.image === null) {
      if (m.delete(change.key)) this.sortedKeys.delete(change.entity);
    } else {
      if (!m.has(change.key)) this.sortedKeys.delete(change.entity);
      m.set(change.key, change.image);
    }
  }
}

export interface Loaded {
  readonly state: WorkingState;
  readonly offsets: Map<string, bigint>;
  readonly meta: SnapshotMeta;
  /** The digest of what was read, to hold against the one the last snapshot recorded: a corrupt store shows here. */
  readonly digest: bigint;
}

export const tpKey = (topic: string, partition: number): string => `${topic}:${partition}`;

export const loadState = async (store: Store): Promise<Loaded> => {
  const state = new WorkingState();
  const digest = new DigestSum();
  await readImages(store, (k, v, entity, key) => {
    state.apply({ entity, key, image: JSON.parse(v.toString()) as Image });
    digest.add(k, v);
  });
  // Versions arrive oldest first.
  await readVersions(store, (k, v, entity, key, ts) => {
    state.addVersion(entity, key, ts, JSON.parse(v.toString()) as Image | null);
    digest.add(k, v);
  });
  const offsets = new Map<string, bigint>();
  for (const { topic, partition, next } of await storedOffsets(store)) offsets.set(tpKey(topic, partition), next);
  return { state, offsets, meta: (await storedMeta(store)) ?? GENESIS, digest: digest.value };
};
