import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/rocks';

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
});
