/**
 * What start-up reads of a store, measured apart: `npx tsx test/bench/state-load.ts [N]` folds N
 * creates of logical sources (the real fold and RocksDB, an in-memory codec) and times
 * `loadState` as the coordinator loads (logical sources and sinks read through the store) and as
 * an inspection does (everything, with the digest), three times each. The first read-through load
 * of a store folded without the index builds it (once).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFold } from '../../src/engine/fold';
import { loadState, readThroughOf } from '../../src/engine/load';
import { GENESIS, WorkingState } from '../../src/engine/state';
import { changelogTables, withChangelogEnvelopes } from '../../src/messaging/changelog';
import { loadContracts } from '../../src/messaging/schemas';
import { TOPIC_KINDS, topicName } from '../../src/messaging/topics';
import { openStore } from '../../src/store/rocks';
import { createLogicalSource, memoryCodec, PREFIX, toRecords, T0 } from '../support/given';

const N = Number(process.argv[2] ?? 100_000);
(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'load-'));
  const store = await openStore(join(dir, 's'));
  const { codec } = memoryCodec();
  const options = { topicPrefix: PREFIX, kindOf: (t: string) => TOPIC_KINDS.find((k) => topicName(PREFIX, k) === t), changelogTables: changelogTables(withChangelogEnvelopes(loadContracts())) };
  const fold = createFold({ store, codec, options });
  const state = new WorkingState();
  let meta = GENESIS;
  for (let i = 0; i < N; i += 1000) {
    const batch = Array.from({ length: 1000 }, (_, j) => createLogicalSource(`src-${i + j}`, undefined, { correlationId: `c${i + j}`, timestampMs: T0 + i }));
    meta = (await fold(await toRecords(batch, codec, i), state, meta)).meta;
  }
  const through = readThroughOf(undefined, 50_000);
  for (let r = 0; r < 3; r++) {
    let t = performance.now();
    await loadState(store, through);
    const part = performance.now() - t;
    t = performance.now();
    await loadState(store);
    const whole = performance.now() - t;
    console.log(JSON.stringify({ N, readThroughMs: Math.round(part), wholeMs: Math.round(whole) }));
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
})();
