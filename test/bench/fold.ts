/**
 * The pass alone: the real fold (decode with the real codec and registry, deciders, one
 * RocksDB write a pass) over records built in memory, so no fetch or publication is timed.
 * `npx tsx test/bench/fold.ts [events|requests] [batchSize] [records]` against a running
 * `make infra`; prints µs per record and, with PROFILE=1, where the time goes. The fold writes
 * the changelog's tables, as the live coordinator's does. With REPLAY=1 the records are folded
 * live once (untimed) and then timed as a replay or a standby folds them (`published`: no
 * outbox), and every key of the two stores but the outbox and the marker's position must match.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import type { RawRecord } from '../../src/engine/decode';
import { createFold } from '../../src/engine/fold';
import { GENESIS, WorkingState } from '../../src/engine/state';
import { LOGIC_VERSION } from '../../src/engine/logic-version';
import { createLogger } from '../../src/log';
import { recordTopics } from '../../src/messaging/provision';
import { INPUT_KINDS, topicName, type TopicKind } from '../../src/messaging/topics';
import { createParts } from '../../src/runtime';
import { openStore } from '../../src/store/rocks';
import { envWithRunFile } from '../../src/cli/serve';
import { projectRoot } from '../../src/messaging/schemas';
import { changelogTables } from '../../src/messaging/changelog';
import { loadContracts } from '../../src/messaging/schemas';
import { digestHex } from '../../src/store/digest';
import { MARKER_POSITION, OUTBOX } from '../../src/store/keys';
import type { Store } from '../../src/store/rocks';
import { profiled } from './profile';
import { request } from './workload';

const kind = (process.argv[2] ?? 'events') as 'events' | 'requests';
const batchSize = Number(process.argv[3] ?? 500);
const total = Number(process.argv[4] ?? 50_000);
/** Events: how many workers heartbeat (10: most heartbeats fold into a worker already changed in the pass; 10 000: the scale run's fleet, one change a heartbeat). */
const workers = Number(process.env.WORKERS ?? 10);

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
    for (let w = 0; w < workers; w++)
      records.push({ topic: infra, partition: 0, offset: String(w), key: Buffer.from(`w${w}`), value: await codec.encode(infra, 'coord.v1.WorkerRegistered', { workerId: `w${w}`, incarnation: 'i1', host: 'h', slots: 4, capabilities: [] }), headers: {}, timestamp: String(t0) });
    for (let i = records.length; i < total; i++) {
      const w = i % workers;
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
  const kinds = new Map<string, TopicKind>(INPUT_KINDS.map((k) => [topicName(config.topicPrefix, k), k]));
  const options = { topicPrefix: config.topicPrefix, kindOf: (t: string) => kinds.get(t), changelogTables: changelogTables(loadContracts()) };
  const dirs: string[] = [];
  const open = async (): Promise<Store> => {
    const dir = mkdtempSync(join(tmpdir(), 'fold-bench-'));
    dirs.push(dir);
    return openStore(dir);
  };
  const replaying = process.env.REPLAY === '1';
  /** With REPLAY=1: the live fold's digest per snapshot, for the published fold to be checked against. */
  const digests: string[] = [];
  let live: Store | undefined;
  if (replaying) {
    live = await open();
    const fold = createFold({ store: live, codec, options });
    const state = new WorkingState();
    let meta = GENESIS;
    for (let i = 0; i < records.length; i += batchSize) {
      const result = await fold(records.slice(i, i + batchSize), state, meta);
      meta = result.meta;
      digests.push(digestHex(meta.digest));
      await live.write({ puts: [], deletes: [result.outbox.key] });
    }
  }
  const store = await open();
  const fold = createFold({ store, codec, options });
  const state = new WorkingState();
  let meta = GENESIS;
  let cpuFrom = process.cpuUsage();
  /** Records the live fold put in its outboxes: what publication then encodes and sends. */
  let outputs = 0;
  const run = async (): Promise<number> => {
    const started = performance.now();
    cpuFrom = process.cpuUsage();
    for (let i = 0, n = 0; i < records.length; i += batchSize, n++) {
      if (replaying) {
        const marker = { digest: digests[n], logicVersion: LOGIC_VERSION };
        const result = await fold(records.slice(i, i + batchSize), state, meta, { published: { alsoPut: [], marker, baseProven: true, refuseDiverged: true } });
        meta = result.meta;
      } else {
        const result = await fold(records.slice(i, i + batchSize), state, meta);
        meta = result.meta;
        outputs += result.outbox.records.length;
        await store.write({ puts: [], deletes: [result.outbox.key] });
      }
    }
    return performance.now() - started;
  };
  const timed = async (): Promise<number> => run();
  const ms = process.env.PROFILE === '1' ? (await profiled(timed)) : { result: await timed(), profile: undefined };
  const elapsed = typeof ms === 'number' ? ms : ms.result;
  // CPU time of this process (the fold's thread and RocksDB's): steadier than elapsed time on a shared machine.
  const cpu = process.cpuUsage(cpuFrom);
  const cpuUsPerRecord = Math.round(((cpu.user + cpu.system) / records.length) * 100) / 100;
  console.log(JSON.stringify({ kind, replay: replaying, ...(kind === 'events' ? { workers } : {}), batchSize, records: records.length, ms: Math.round(elapsed), usPerRecord: Math.round((elapsed * 1000) / records.length * 100) / 100, cpuUsPerRecord, perSecond: Math.round(records.length / (elapsed / 1000)), digest: digestHex(meta.digest).slice(0, 16), ...(replaying ? {} : { outputsPerRecord: Math.round((outputs / records.length) * 1000) / 1000 }) }));
  if (typeof ms !== 'number' && ms.profile !== undefined) console.log(JSON.stringify(ms.profile, null, 1));
  if (live !== undefined) {
    const differ = await storeDiff(live, store);
    if (differ !== undefined) throw new Error(`the published fold's store differs from the live fold's at ${differ}`);
    await live.close();
  }
  await store.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
};

/** The first key whose value differs between two stores, the outbox and the marker's position aside (only a live fold keeps them). */
const storeDiff = async (a: Store, b: Store): Promise<string | undefined> => {
  const all = async (s: Store): Promise<Map<string, Buffer>> => {
    const m = new Map<string, Buffer>();
    for await (const [k, v] of s.scan('')) if (!k.startsWith(OUTBOX) && k !== MARKER_POSITION) m.set(k, v);
    return m;
  };
  const [x, y] = [await all(a), await all(b)];
  for (const [k, v] of x) if (!y.get(k)?.equals(v)) return k;
  for (const k of y.keys()) if (!x.has(k)) return k;
  return undefined;
};

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
