/**
 * The projections' state in memory, kept equal to RocksDB by every commit. The entities a
 * decider lists (workers, sessions, queries, ...) are held whole, loaded at start; the
 * entities only read by key (named in a projection's `onDemand`: logical sources, sinks) are
 * read through the store: a bounded cache of their images, and their history in RocksDB alone,
 * compacted through an index (`r/`), so start-up and memory do not grow with them.
 *
 * A read the cache cannot answer throws a `StateMiss`; the pass fetches what it names and
 * decides the message again. Deciders are pure, so the answer is the same whatever the cache
 * held: a replay, a restart and a standby decide byte for byte alike.
 */
import { type Change, type Entity, type Image, type StateView } from '../../projections';
import { LOGICAL_BITS, nextHybrid } from '../../projections/system/hybrid';
import { EMPTY_DIGEST } from '../store/digest';
import type { Store } from '../store/rocks';
import {
  firstRemovable,
  historyKey,
  readEntity,
  readEntityVersions,
  readImagesOf,
  removableUpTo,
  type SnapshotMeta,
} from './layout';

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

/** A read the state could not answer from memory: the image of `key` (all of the entity's without one), or with `history` its versions. */
export class StateMiss extends Error {
  constructor(
    readonly entity: string,
    readonly key: string | undefined,
    readonly history: boolean,
  ) {
    super(`${history ? 'the history of ' : ''}${entity}${key === undefined ? '' : `/${key}`} is not in memory`);
    this.name = 'StateMiss';
  }
}

/** Where a state reads the entities it holds only in part. */
export interface Backing {
  readonly store: Pick<Store, 'get' | 'getMany' | 'scan'>;
  /** The entities read through the store. */
  readonly onDemand: ReadonlySet<string>;
  /** Most images of those entities kept in memory between passes. */
  readonly cacheEntries: number;
}

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
  /** Read-through entities every key of which is in memory (one was listed), until an eviction. */
  private readonly complete = new Set<string>();
  /** Read-through keys known to have no image. */
  private readonly absent = new Map<string, Set<string>>();
  /** Read-through keys (and whole entities) whose versions are in memory, until the pass ends. */
  private readonly versionsHeld = new Map<string, Set<string>>();
  private readonly versionsComplete = new Set<string>();
  /** The ts of the oldest `r/` entry in the store: null none, undefined not known yet. */
  private storedRemovableAt: bigint | null | undefined;
  /** The ts of the oldest `r/` entry this pass writes (in the store once its write is done: see `evict`). */
  private addedRemovableAt: bigint | undefined;

  constructor(private readonly backing?: Backing) {}

  /** Whether some entities are read through the store: the pass then keeps their history's index (r/). */
  get readsThrough(): boolean {
    return this.backing !== undefined && this.backing.onDemand.size > 0;
  }

  /** Whether `entity` is read through the store. */
  onDemand(entity: string): boolean {
    return this.backing?.onDemand.has(entity) === true;
  }

  /** Whether a read of this key would go to the store. */
  unread(entity: string, key: string): boolean {
    return this.onDemand(entity) && this.entities.get(entity)?.has(key) !== true && this.missing(entity, key);
  }

  private missing(entity: string, key: string): boolean {
    return this.onDemand(entity) && !this.complete.has(entity) && this.absent.get(entity)?.has(key) !== true;
  }

  private versionsMissing(entity: string, key: string | undefined): boolean {
    if (!this.onDemand(entity) || this.versionsComplete.has(entity)) return false;
    return key === undefined || this.versionsHeld.get(entity)?.has(key) !== true;
  }

  private removableAt(ts: bigint): void {
    if (this.nextRemovableAt === undefined || ts < this.nextRemovableAt) this.nextRemovableAt = ts;
  }

  // The store keeps images untyped; read through an entity's name, they are that entity's images (projections/model.ts).
  getAt<I extends Image>(entity: Entity<I>, key: string, ts: bigint): I | undefined {
    if (this.versionsMissing(entity, key)) throw new StateMiss(entity, key, true);
    const versions = this.history.get(entity)?.get(key);
    if (versions === undefined) return undefined;
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i].ts <= ts) return (versions[i].image ?? undefined) as I | undefined;
    return undefined;
  }

  listAt<I extends Image>(entity: Entity<I>, ts: bigint): Iterable<readonly [string, I]> {
    if (this.versionsMissing(entity, undefined)) throw new StateMiss(entity, undefined, true);
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
    if (this.onDemand(entity)) {
      // In RocksDB only (the pass writes it, with its r/ entry); in memory only where the versions are.
      if (this.addedRemovableAt === undefined || ts < this.addedRemovableAt) this.addedRemovableAt = ts;
      if (!this.versionsComplete.has(entity) && this.versionsHeld.get(entity)?.has(key) !== true) return;
      this.versionsHeld.get(entity)?.add(key);
      this.pushVersion(entity, key, ts, image);
      return;
    }
    const versions = this.pushVersion(entity, key, ts, image);
    // The version this one supersedes can go once the frontier reaches it; so can a deletion.
    if (versions !== undefined || image === null) this.removableAt(ts);
  }

  /** Appends a version; returns the versions the key had before, if any. */
  private pushVersion(entity: string, key: string, ts: bigint, image: Image | null): Version[] | undefined {
    let keys = this.history.get(entity);
    if (keys === undefined) {
      keys = new Map();
      this.history.set(entity, keys);
    }
    const versions = keys.get(key);
    if (versions === undefined) keys.set(key, [{ ts, image }]);
    else versions.push({ ts, image });
    return versions;
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
      // A read-through entity's versions are compacted in RocksDB (compactStored).
      if (this.onDemand(entity)) continue;
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

  /**
   * Compacts the read-through entities' history in RocksDB as `compact` does the rest in
   * memory: every key with an `r/` entry at or below `frontier` keeps its newest version at or
   * below it (none, when that is a deletion) and loses the older ones. Returns the versions
   * removed, with their stored bytes (the digest subtracts them), and the `r/` entries used.
   */
  async compactStored(frontier: bigint): Promise<{ removed: [string, Buffer][]; used: string[] }> {
    const none = { removed: [], used: [] };
    if (this.backing === undefined || this.backing.onDemand.size === 0) return none;
    if (this.storedRemovableAt === undefined) this.storedRemovableAt = await firstRemovable(this.backing.store);
    if (this.storedRemovableAt === null || this.storedRemovableAt > frontier) return none;
    const { entries, next } = await removableUpTo(this.backing.store, frontier);
    const removed: [string, Buffer][] = [];
    const looked = new Set<string>();
    for (const { entity, key } of entries) {
      const id = `${entity}/${key}`;
      if (looked.has(id)) continue;
      looked.add(id);
      const versions: { k: string; v: Buffer; ts: bigint }[] = [];
      await readEntityVersions(this.backing.store, entity, key, (k, v, _key, ts) => versions.push({ k, v, ts }));
      let keep = -1;
      while (keep + 1 < versions.length && versions[keep + 1].ts <= frontier) keep++;
      if (keep < 0) continue;
      const drop = versions[keep].v.toString() === 'null' ? keep + 1 : keep;
      for (const v of versions.slice(0, drop)) removed.push([v.k, v.v]);
    }
    // The entries used are deleted by this pass's write; this pass's own (above the frontier) join at `evict`.
    this.storedRemovableAt = next;
    this.dropVersions();
    return { removed: removed.sort(byKey), used: entries.map((e) => e.k) };
  }

  get<I extends Image>(entity: Entity<I>, key: string): I | undefined {
    const image = this.entities.get(entity)?.get(key) as I | undefined;
    if (image === undefined && this.missing(entity, key)) throw new StateMiss(entity, key, false);
    return image;
  }

  /** In key order, so a decider that walks a list decides the same after a restart as in a replay. */
  list<I extends Image>(entity: Entity<I>): Iterable<readonly [string, I]> {
    if (this.onDemand(entity) && !this.complete.has(entity)) throw new StateMiss(entity, undefined, false);
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
    if (this.onDemand(change.entity)) this.knowAbsent(change.entity, change.key, change.image === null);
  }

  private knowAbsent(entity: string, key: string, absent: boolean): void {
    let keys = this.absent.get(entity);
    if (absent) {
      if (keys === undefined) this.absent.set(entity, (keys = new Set()));
      keys.add(key);
    } else keys?.delete(key);
  }

  /** Reads from the store what `miss` names. */
  async fetch(miss: StateMiss): Promise<void> {
    const backing = this.backing;
    if (backing === undefined) throw miss;
    if (miss.history) {
      await readEntityVersions(backing.store, miss.entity, miss.key, (_k, v, key, ts) => {
        // Versions arrive oldest first; a key already held is not read twice.
        if (miss.key === undefined && this.versionsHeld.get(miss.entity)?.has(key) === true) return;
        this.pushVersion(miss.entity, key, ts, JSON.parse(v.toString()) as Image | null);
      });
      if (miss.key === undefined) this.versionsComplete.add(miss.entity);
      else {
        let held = this.versionsHeld.get(miss.entity);
        if (held === undefined) this.versionsHeld.set(miss.entity, (held = new Set()));
        held.add(miss.key);
      }
      return;
    }
    if (miss.key !== undefined) return this.prefetch([[miss.entity, miss.key]]);
    const m = this.entityMap(miss.entity);
    const gone = this.absent.get(miss.entity);
    await readEntity(backing.store, miss.entity, (key, v) => {
      // The store is at the last commit: an image this pass wrote, or a key it deleted, is newer than what it holds.
      if (!m.has(key) && gone?.has(key) !== true) m.set(key, JSON.parse(v.toString()) as Image);
    });
    this.sortedKeys.delete(miss.entity);
    this.complete.add(miss.entity);
    this.absent.delete(miss.entity);
  }

  /** Reads the images of these keys of read-through entities not in memory yet, one multi-get per entity. */
  async prefetch(wanted: Iterable<readonly [string, string]>): Promise<void> {
    const backing = this.backing;
    if (backing === undefined) return;
    const byEntity = new Map<string, Set<string>>();
    for (const [entity, key] of wanted) {
      if (!this.onDemand(entity) || this.entities.get(entity)?.has(key) === true || !this.missing(entity, key)) continue;
      let keys = byEntity.get(entity);
      if (keys === undefined) byEntity.set(entity, (keys = new Set()));
      keys.add(key);
    }
    for (const [entity, keySet] of byEntity) {
      const keys = [...keySet];
      const raws = await readImagesOf(backing.store, entity, keys);
      const m = this.entityMap(entity);
      raws.forEach((raw, i) => {
        if (raw === null) this.knowAbsent(entity, keys[i], true);
        else {
          if (!m.has(keys[i])) this.sortedKeys.delete(entity);
          m.set(keys[i], JSON.parse(raw.toString()) as Image);
        }
      });
    }
  }

  /**
   * Forgets read-through images past the cache's bound (the oldest read first), every
   * read-through version, and what it knew absent. Only once memory equals the store: after
   * the pass's write.
   */
  evict(): void {
    const backing = this.backing;
    if (backing === undefined) return;
    // The pass's r/ entries are in the store now.
    const added = this.addedRemovableAt;
    if (added !== undefined && this.storedRemovableAt !== undefined && (this.storedRemovableAt === null || added < this.storedRemovableAt)) this.storedRemovableAt = added;
    this.addedRemovableAt = undefined;
    this.dropVersions();
    let held = 0;
    for (const entity of backing.onDemand) held += this.entities.get(entity)?.size ?? 0;
    for (const entity of backing.onDemand) {
      const m = this.entities.get(entity);
      if (m === undefined) continue;
      if ((this.absent.get(entity)?.size ?? 0) > backing.cacheEntries) this.absent.delete(entity);
      if (held <= backing.cacheEntries) continue;
      this.complete.delete(entity);
      for (const key of m.keys()) {
        if (held <= backing.cacheEntries) break;
        m.delete(key);
        held--;
      }
      this.sortedKeys.delete(entity);
    }
  }

  /** How many read-through images are in memory. */
  get cached(): number {
    let n = 0;
    for (const entity of this.backing?.onDemand ?? []) n += this.entities.get(entity)?.size ?? 0;
    return n;
  }

  private dropVersions(): void {
    if (this.backing === undefined) return;
    for (const entity of this.backing.onDemand) this.history.delete(entity);
    this.versionsHeld.clear();
    this.versionsComplete.clear();
  }

  private entityMap(entity: string): Map<string, Image> {
    let m = this.entities.get(entity);
    if (m === undefined) this.entities.set(entity, (m = new Map()));
    return m;
  }
}

/**
 * Runs a read of the state (a decider, say) until the state holds what it reads: each
 * `StateMiss` is read from the store, and the read runs again from the start. Pure reads see
 * the same state either way, so they answer the same.
 */
export const readThrough = async <T>(state: WorkingState, read: () => T): Promise<T> => {
  for (;;) {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof StateMiss)) throw err;
      await state.fetch(err);
    }
  }
};

export const tpKey = (topic: string, partition: number): string => `${topic}:${partition}`;
