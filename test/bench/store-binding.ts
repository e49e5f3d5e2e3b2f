/**
 * The measurement behind the RocksDB binding choice: the same pass-shaped write batches
 * through rocksdb-native and through rocksdb (with and without sync), side by side in one
 * run, alternating so a noisy neighbour hits both alike. `npx tsx test/bench/store-binding.ts [batches]`
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import RocksDB from 'rocksdb-native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const leveldown = require('rocksdb') as (dir: string) => {
  open(cb: (e?: Error) => void): void;
  batch(ops: { type: 'put'; key: string; value: Buffer }[], opts: { sync: boolean }, cb: (e?: Error) => void): void;
  close(cb: (e?: Error) => void): void;
};

const BATCHES = Number(process.argv[2] ?? 2000);
const PUTS = 100;
const VALUE = Buffer.alloc(200, 7);

const native = async (dir: string): Promise<number> => {
  const db = new RocksDB(dir);
  await db.ready();
  const t = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) {
    const w = db.write({ autoDestroy: true });
    for (let i = 0; i < PUTS; i++) w.tryPut(`s/x/${b}/${i}`, VALUE);
    w.tryPut('o/t/0', Buffer.from(String(b)));
    await w.flush();
  }
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  await db.close();
  return (BATCHES / ms) * 1000;
};

const archived = async (dir: string, sync: boolean): Promise<number> => {
  const db = leveldown(dir);
  await new Promise<void>((res, rej) => db.open((e) => (e ? rej(e) : res())));
  const t = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) {
    const ops = Array.from({ length: PUTS }, (_, i) => ({ type: 'put' as const, key: `s/x/${b}/${i}`, value: VALUE }));
    ops.push({ type: 'put', key: 'o/t/0', value: Buffer.from(String(b)) });
    await new Promise<void>((res, rej) => db.batch(ops, { sync }, (e) => (e ? rej(e) : res())));
  }
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  await new Promise<void>((res) => db.close(() => res()));
  return (BATCHES / ms) * 1000;
};

const main = async (): Promise<void> => {
  const keepAlive = setInterval(() => undefined, 1000);
  const root = mkdtempSync(join(tmpdir(), 'store-bench-'));
  const rounds: Record<string, number>[] = [];
  for (let round = 0; round < 2; round++) {
    const dir = (name: string): string => {
      const d = join(root, `${name}-${round}`);
      mkdirSync(d);
      return d;
    };
    rounds.push({
      rocksdbNative: Math.round(await native(dir('native'))),
      rocksdbAsync: Math.round(await archived(dir('async'), false)),
      rocksdbSync: Math.round(await archived(dir('sync'), true)),
    });
  }
  rmSync(root, { recursive: true, force: true });
  const result = { batches: BATCHES, putsPerBatch: PUTS, valueBytes: VALUE.length, batchesPerSecond: rounds, nativeOverAsync: rounds.map((r) => +(r.rocksdbNative / r.rocksdbAsync).toFixed(2)) };
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results', 'store-binding.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
  clearInterval(keepAlive);
};

void main();
