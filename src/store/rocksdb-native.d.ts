// The part of rocksdb-native's API that the store adapter uses; the package ships no types.
declare module 'rocksdb-native' {
  interface WriteBatch {
    tryPut(key: Buffer | string, value: Buffer | string): void;
    tryDelete(key: Buffer | string): void;
    tryDeleteRange(start: Buffer | string, end: Buffer | string): void;
    flush(): Promise<void>;
    destroy(): void;
  }
  interface ReadBatch {
    get(key: Buffer | string): Promise<Buffer | null>;
    tryFlush(): void;
    flush(): Promise<void>;
    destroy(): void;
  }
  interface Entry {
    key: Buffer;
    value: Buffer;
  }
  interface IteratorOptions {
    gt?: Buffer | string;
    gte?: Buffer | string;
    lt?: Buffer | string;
    lte?: Buffer | string;
    reverse?: boolean;
    limit?: number;
  }
  class RocksDB {
    constructor(path: string, opts?: Record<string, unknown>);
    ready(): Promise<void>;
    close(): Promise<void>;
    get(key: Buffer | string): Promise<Buffer | null>;
    write(opts?: { autoDestroy?: boolean }): WriteBatch;
    read(opts?: { autoDestroy?: boolean }): ReadBatch;
    iterator(range: IteratorOptions, opts?: { capacity?: number }): AsyncIterable<Entry>;
    /** One of RocksDB's properties (`rocksdb.num-running-compactions`, …), as text; undefined for a name it does not know. */
    getProperty(name: string): Promise<string | undefined>;
    /** A session that reads the database as it stood when it was made; close() releases it. */
    snapshot(): RocksDB;
  }
  export = RocksDB;
}
