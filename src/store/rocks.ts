/**
 * The one adapter over the RocksDB binding (rocksdb-native). Every write is one atomic batch;
 * the rest of the code sees keys and byte values only.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import RocksDB from 'rocksdb-native';
import { CoordError } from '../errors';

export interface WriteOps {
  readonly puts: ReadonlyArray<readonly [string, Buffer]>;
  readonly deletes?: readonly string[];
  /** Half-open key ranges [start, end) to delete. */
  readonly deleteRanges?: ReadonlyArray<readonly [string, string]>;
}

/** A read-only view of the store as it stood at one instant, whatever is written after: RocksDB's snapshot. */
export interface StoreSnapshot {
  get(key: string): Promise<Buffer | null>;
  scan(prefix: string): AsyncIterable<readonly [string, Buffer]>;
  /** Releases the snapshot, so RocksDB may drop what only it still kept. */
  close(): Promise<void>;
}

export interface Store {
  readonly dir: string;
  get(key: string): Promise<Buffer | null>;
  /** Several keys in one read: one trip to RocksDB's threads instead of one a key. */
  getMany(keys: readonly string[]): Promise<(Buffer | null)[]>;
  /** Entries whose key starts with `prefix`, in key order. */
  scan(prefix: string, opts?: { limit?: number }): AsyncIterable<readonly [string, Buffer]>;
  /** Applies all of `ops` atomically, or none of them. */
  write(ops: WriteOps): Promise<void>;
  /** Reads of one consistent instant, however long they take while writes go on. */
  snapshot(): Promise<StoreSnapshot>;
  /**
   * What RocksDB's background compactions still owe: the bytes it estimates they must rewrite
   * before every level is within its target, and how many are running now. Both 0: the store
   * is settled. A store closed while they ran owes them again at its next open, and they then
   * take a core beside whatever the process does.
   */
  compactionDebt(): Promise<CompactionDebt>;
  /** Waits for pending writes, then closes. */
  close(): Promise<void>;
}

export interface CompactionDebt {
  readonly pendingBytes: number;
  readonly running: number;
}

/** The first key after every key that starts with `prefix`. */
export const prefixEnd = (prefix: string): string => {
  if (prefix === '') return '\uffff';
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
};

/** How a store is opened; the default creates the folder and writes. */
export interface OpenOptions {
  /**
   * Opens an existing store with RocksDB's read-only mode (OpenForReadOnly): it takes no lock,
   * never writes, compacts or flushes a file, and every `write` is refused. A coordinator may
   * be running on the same folder; what is read is then the store as of the open.
   */
  readonly readOnly?: boolean;
}

/**
 * RocksDB's own memory, bounded whatever the store holds:
 * - no block cache: a read the coordinator's image cache misses reads its 8 kB block through
 *   the operating system's page cache, as Kafka's own log does, so a store's size never shows
 *   in the process's resident set (RocksDB's default 32 MB cache filled as the background check
 *   read the whole store, and held index and filter blocks pinned there on top);
 * - index and filter blocks held by each open table, a few bytes a key, in at most 64 open
 *   tables (about 4 GB of store at RocksDB's 64 MB a file): a table is opened when a read first
 *   needs it, so opening a store reads nothing of its tables and takes no longer for a large one
 *   (RocksDB's default, -1, opens every table and reads its index and filter at start-up);
 * - memtables of 16 MB, at most two (RocksDB's default is 64 MB each): what a restart replays
 *   from the write-ahead log, and what a burst of writes holds before a flush.
 */
const STORE_OPTIONS = {
  blockCache: false,
  tableCacheIndexAndFilterBlocks: false,
  maxOpenFiles: 64,
  writeBufferSize: 16 * 1024 * 1024,
  maxWriteBufferNumber: 2,
};

const openDb = async (dir: string, readOnly = false): Promise<RocksDB> => {
  const db = new RocksDB(dir, { ...STORE_OPTIONS, ...(readOnly ? { readOnly: true, createIfMissing: false } : {}) });
  try {
    await db.ready();
    return db;
  } catch (err) {
    const msg = (err as Error).message;
    throw new CoordError(
      'STORE_IO',
      /While lock file|lock hold by current process/.test(msg)
        ? `RocksDB at ${dir} is in use by another process (another coordinator on the same dataDir?): ${msg}`
        : `cannot open RocksDB at ${dir}: ${msg}`,
      { cause: err },
    );
  }
};

export const openStore = async (dir: string, options: OpenOptions = {}): Promise<Store> => {
  const readOnly = options.readOnly === true;
  if (readOnly && !existsSync(join(dir, 'CURRENT')))
    throw new CoordError('STORE_IO', `${dir} holds no RocksDB store (no CURRENT file); give a folder written by coordctl replay --to, or a coordinator's dataDir`);
  if (!readOnly) mkdirSync(dir, { recursive: true });
  let db = await openDb(dir, readOnly);
  /**
   * After a failed write (a full disk) RocksDB stays read-only until it is opened again: the
   * next operation reopens it first. Nothing of the failed batch was applied, so the store is
   * as the last good write left it.
   */
  let failed = false;
  let reopening: Promise<void> | undefined;
  const usable = async (): Promise<RocksDB> => {
    if (failed) {
      reopening ??= (async () => {
        await Promise.allSettled([...pending]);
        await db.close().catch(() => undefined);
        db = await openDb(dir, readOnly);
        failed = false;
      })().finally(() => (reopening = undefined));
      await reopening;
    }
    return db;
  };
  // rocksdb-native's native requests hold no reference on Node's event loop; an open store keeps the process alive until close().
  const keepAlive = setInterval(() => undefined, 60_000);
  const pending = new Set<Promise<unknown>>();
  let closed = false;
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };
  const open = (): void => {
    if (closed) throw new CoordError('STORE_CLOSED', `store ${dir} is closed`);
  };
  return {
    dir,
    get: async (key) => {
      open();
      const d = await usable();
      return track(d.get(key));
    },
    getMany: async (keys) => {
      open();
      if (keys.length === 0) return [];
      const d = await usable();
      const batch = d.read({ autoDestroy: true });
      const values = keys.map((k) => batch.get(k));
      batch.tryFlush();
      return track(Promise.all(values));
    },
    scan: (prefix, opts = {}) => {
      open();
      return {
        async *[Symbol.asyncIterator]() {
          const d = await usable();
          const it = d.iterator({ gte: prefix, lt: prefixEnd(prefix), limit: opts.limit }, { capacity: 256 });
          for await (const e of it) yield [e.key.toString(), e.value] as const;
        },
      };
    },
    snapshot: async () => {
      open();
      const session = (await usable()).snapshot();
      return {
        get: (key) => track(session.get(key)),
        scan: (prefix) => ({
          async *[Symbol.asyncIterator]() {
            const it = session.iterator({ gte: prefix, lt: prefixEnd(prefix) }, { capacity: 256 });
            for await (const e of it) yield [e.key.toString(), e.value] as const;
          },
        }),
        close: () => session.close(),
      };
    },
    write: async (ops) => {
      open();
      if (readOnly) throw new CoordError('STORE_IO', `store ${dir} is open read-only; nothing may be written to it`);
      const d = await usable();
      const batch = d.write({ autoDestroy: true });
      for (const [start, end] of ops.deleteRanges ?? []) batch.tryDeleteRange(start, end);
      for (const key of ops.deletes ?? []) batch.tryDelete(key);
      for (const [key, value] of ops.puts) batch.tryPut(key, value);
      return track(
        batch.flush().catch((err: unknown) => {
          failed = true;
          throw new CoordError('STORE_IO', `RocksDB write to ${dir} failed (a full disk?): ${(err as Error).message}`, { retriable: true, cause: err });
        }),
      );
    },
    compactionDebt: async () => {
      open();
      // A question about the store never reopens it after a failed write: that is the next write's (or read's) to do.
      if (failed) throw new CoordError('STORE_IO', `store ${dir} failed a write and is not open again yet`, { retriable: true });
      const [pendingBytes, running] = await Promise.all([db.getProperty('rocksdb.estimate-pending-compaction-bytes'), db.getProperty('rocksdb.num-running-compactions')].map((p) => track(p)));
      if (pendingBytes === undefined || running === undefined) throw new CoordError('STORE_IO', `RocksDB at ${dir} does not report its compactions`);
      return { pendingBytes: Number(pendingBytes), running: Number(running) };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await reopening?.catch(() => undefined);
      await Promise.allSettled([...pending]);
      await db.close();
      clearInterval(keepAlive);
    },
  };
};
