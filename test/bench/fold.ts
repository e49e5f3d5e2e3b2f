/**
 * The pass alone: the real fold (decode with the real codec and registry, deciders, one
 * RocksDB write a pass) over records built in memory, so no fetch or publication is timed.
 * `npx tsx test/bench/fold.ts [events|requests] [batchSize] [records]` against a running
 * `make infra`; prints µs per record and, with PROFILE=1, where the time goes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import type { RawRecord } from '../../src/engine/decode';
import { createFold } from '../../src/engine/fold';
import { GENESIS, WorkingState } from '../../src/engine/state';
import { createLogger } from '../../src/log';
import { recordTopics } from '../../src/messaging/provision';
import { INPUT_KINDS, topicName, type TopicKind } from '../../src/messaging/topics';
import { createParts } from '../../src/runtime';
import { openStore } from '../../src/store/rocks';
import { envWithRunFile } from '../../src/cli/serve';
import { projectRoot } from '../../src/messaging/schemas';
import { profiled } from './profile';
import { request } from './workload';

const kind = (process.argv[2] ?? 'events') as 'events' | 'requests';
const batchSize = Number(process.argv[3] ?? 500);
const total = Number(process.argv[4] ?? 50_000);

const main = async (): Promise<void> => {
  const { config } = loadConfig(envWithRunFile(projectRoot()));
  const log = createLogger('warn');
  const { codec } = createParts(config, 'bench-fold', log);
  await codec.registerAll(recordTopics(config.topicPrefix));
  const infra = topicName(config.topicPrefix, 'events.infra');
  const catalog = topicName(config.topicPrefix, 'requests.catalog');
  const records: RawRecord[] = [];
  const t0 = 1_800_000_000_000;
  if (kind === 'events') {
    for (let w = 0; w < 10; w++)
      records.push({ topic: infra, partition: 0, offset: String(w), key: Buffer.from(`w${w}`), value: await codec.encode(infra, 'coord.v1.WorkerRegistered', { workerId: `w${w}`, incarnation: 'i1', host: 'h', slots: 4, capabilities: [] }), headers: {}, timestamp: String(t0) });
    for (let i = records.length; i < total; i++) {
      const w = i % 10;
      records.push({ topic: infra, partition: 0, offset: String(i), key: Buffer.from(`w${w}`), value: await codec.encode(infra, 'coord.v1.WorkerHeartbeat', { workerId: `w${w}`, incarnation: 'i1' }), headers: {}, timestamp: String(t0 + i) });
    }
  } else {
    for (let i = 0; i < total; i++) {
      const r = request(i);
      records.push({
        topic: catalog,
        partition: 0,
        offset: String(i),
        key: Buffer.from(r.name),
        value: await codec.encode(catalog, r.type, r.value),
        headers: { 'correlation-id': Buffer.from(`bench-${i}`), 'reply-to': Buffer.from(config.replyTopic) },
        timestamp: String(t0 + i),
      });
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'fold-bench-'));
  const store = await openStore(dir);
  const kinds = new Map<string, TopicKind>(INPUT_KINDS.map((k) => [topicName(config.topicPrefix, k), k]));
  const fold = createFold({ store, codec, options: { topicPrefix: config.topicPrefix, kindOf: (t) => kinds.get(t) } });
  const state = new WorkingState();
  let meta = GENESIS;
  const run = async (): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < records.length; i += batchSize) {
      const result = await fold(records.slice(i, i + batchSize), state, meta);
      meta = result.meta;
      await store.write({ puts: [], deletes: [result.outbox.key] });
    }
    return performance.now() - started;
  };
  const timed = async (): Promise<number> => run();
  const ms = process.env.PROFILE === '1' ? (await profiled(timed)) : { result: await timed(), profile: undefined };
  const elapsed = typeof ms === 'number' ? ms : ms.result;
  console.log(JSON.stringify({ kind, batchSize, records: records.length, ms: Math.round(elapsed), usPerRecord: Math.round((elapsed * 1000) / records.length * 100) / 100, perSecond: Math.round(records.length / (elapsed / 1000)) }));
  if (typeof ms !== 'number' && ms.profile !== undefined) console.log(JSON.stringify(ms.profile, null, 1));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
};

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
