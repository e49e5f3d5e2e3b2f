import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { registerStoreGauges } from '../../src/metrics/store';
import { openStore, type CompactionDebt } from '../../src/store/rocks';

/** The RocksDB adapter on a real folder (no Kafka): how it is opened, and what it says when it cannot be. */
describe('the store: RocksDB opened with bounded memory', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens with no block cache, at most 64 tables open and two 16 MB memtables, so its memory does not grow with what it holds', async () => {
    const store = await openStore(join(dir, 's'));
    await store.write({ puts: [['s/x/1', Buffer.from('{}')]] });
    await store.close();
    const options = readdirSync(join(dir, 's')).filter((f) => f.startsWith('OPTIONS-')).sort().pop();
    assert.ok(options !== undefined, 'RocksDB wrote its options file');
    const text = readFileSync(join(dir, 's', options), 'utf8');
    assert.match(text, /^\s*no_block_cache=true$/m);
    assert.match(text, /^\s*cache_index_and_filter_blocks=false$/m);
    assert.match(text, /^\s*write_buffer_size=16777216$/m);
    assert.match(text, /^\s*max_write_buffer_number=2$/m);
    assert.match(text, /^\s*max_open_files=64$/m);
  });

  it('says a folder is in use when another opener holds its lock, and that a folder holds no store when it has none', async () => {
    const held = await openStore(join(dir, 's'));
    try {
      await assert.rejects(openStore(join(dir, 's')), (err: Error) => /is in use by another process/.test(err.message) && /LOCK/.test(err.message));
    } finally {
      await held.close();
    }
    await assert.rejects(openStore(join(dir, 'none'), { readOnly: true }), /holds no RocksDB store/);
  });

  it('says what compactions it owes: a burst of writes owes some, and once RocksDB has done them it owes none, on /metrics too', async function () {
    this.timeout(120_000);
    const store = await openStore(join(dir, 's'));
    const registry = new Registry();
    registerStoreGauges({ registry, store });
    const seen: CompactionDebt[] = [];
    try {
      assert.deepEqual(await store.compactionDebt(), { pendingBytes: 0, running: 0 }, 'a new store owes nothing');
      // 96 MB in 1 MB batches: six 16 MB memtables flushed, past the four level-0 files that start a compaction. Each batch
      // spreads over the whole key range, so the files overlap and must be merged (files that do not are only moved, at once).
      const value = Buffer.alloc(1024);
      for (let batch = 0; batch < 96; batch++) {
        const puts: [string, Buffer][] = [];
        for (let i = 0; i < 1024; i++) puts.push([`s/x/${String(i * 96 + batch).padStart(8, '0')}`, value]);
        await store.write({ puts });
        seen.push(await store.compactionDebt());
      }
      const owed = (d: CompactionDebt): boolean => d.pendingBytes > 0 || d.running > 0;
      const until = Date.now() + 90_000;
      while (owed(seen[seen.length - 1]) || !seen.some(owed)) {
        assert.ok(Date.now() < until, seen.some(owed) ? `RocksDB still owes compactions after 90 s: ${JSON.stringify(seen[seen.length - 1])}` : 'the burst never owed a compaction');
        await new Promise((resolve) => setTimeout(resolve, 20));
        seen.push(await store.compactionDebt());
      }
      assert.ok(seen.some((d) => d.running > 0 || d.pendingBytes > 0), 'the burst owed compactions while it was written');
      // 0 only from a read that succeeded: what the gauges could not read shows as NaN.
      const text = await registry.metrics();
      assert.match(text, /^coord_store_pending_compaction_bytes 0$/m);
      assert.match(text, /^coord_store_running_compactions 0$/m);
    } finally {
      await store.close();
    }
    await assert.rejects(store.compactionDebt(), /is closed/);
    await new Promise((resolve) => setTimeout(resolve, 300)); // past the one read a scrape shares
    const closed = await registry.metrics();
    assert.match(closed, /^coord_store_pending_compaction_bytes NaN$/im, `a closed store reports no number it no longer knows: ${closed}`);
    assert.match(closed, /^coord_store_running_compactions NaN$/im);
  });
});
