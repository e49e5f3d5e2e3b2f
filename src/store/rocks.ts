/**
 * The one adapter over the RocksDB binding (rocksdb-native). Every write is one atomic batch;
 * the rest of the code sees keys and byte values only.
 */
import { mkdirSync } from 'node:fs';
import RocksDB from 'rocksdb-native';
import { CoordError } from '../errors';

export interface WriteOps {
  readonly puts: ReadonlyArray<readonly [string, Buffer]>;
  readonly deletes?: readonly string[];
  /** Half-open key ranges [start, end) to delete. */
  readonly deleteRanges?: ReadonlyArray<readonly [string, string]>;
}

export interface Store {
  readonly dir: string;
  get(key: string): Promise<Buffer | null>;
  /** Several keys in one read: one trip to RocksDB's threads instead of one a key. */
  getMany(keys: readonly string[]): Promise<(Buffer | null)[]>;
  /** Entries whose key starts with `prefix`, in key order. */
  scan(prefix: string, opts?: { limit?: number; reverse?: boolean }): AsyncIterable<readonly [string, Buffer]>;
  /** Applies all of `ops` atomically, or none of them. */
  write(ops: WriteOps): Promise<void>;
  /** Waits for pending writes, then closes. */
  close(): Promise<void>;
}

/** The first key after every key that starts with `prefix`. */
export const prefixEnd = (prefix: string): string => {
  if (prefix === '') return '\uffff';
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
};

export const openStore = async (dir: string): Promise<Store> => {
  mkdirSync(dir, { recursive: true });
  const db = new RocksDB(dir);
  try {
    await db.ready();
  } catch (err) {
    const msg = (err as Error).message;
    throw new CoordError(
      'STORE_IO',
      /lock/i.test(msg)
        ? `RocksDB at ${dir} is in use by another process (another coordinator on the same dataDir?): ${msg}`
        : `cannot open RocksDB at ${dir}: ${msg}`,
      { cause: err },
    );
  }
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
    get: (key) => {
      open();
      return track(db.get(key));
    },
    getMany: (keys) => {
      open();
      if (keys.length === 0) return Promise.resolve([]);
      const batch = db.read({ autoDestroy: true });
      const values = keys.map((k) => batch.get(k));
      batch.tryFlush();
      return track(Promise.all(values));
    },
    scan: (prefix, opts = {}) => {
      open();
      const it = db.iterator({ gte: prefix, lt: prefixEnd(prefix), reverse: opts.reverse, limit: opts.limit }, { capacity: 256 });
      return {
        async *[Symbol.asyncIterator]() {
          for await (const e of it) yield [e.key.toString(), e.value] as const;
        },
      };
    },
    write: (ops) => {
      open();
      const batch = db.write({ autoDestroy: true });
      for (const [start, end] of ops.deleteRanges ?? []) batch.tryDeleteRange(start, end);
      for (const key of ops.deletes ?? []) batch.tryDelete(key);
      for (const [key, value] of ops.puts) batch.tryPut(key, value);
      return track(
        batch.flush().catch((err: unknown) => {
          throw new CoordError('STORE_IO', `RocksDB write to ${dir} failed: ${(err as Error).message}`, { cause: err });
        }),
      );
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...pending]);
      await db.close();
      clearInterval(keepAlive);
    },
  };
};
