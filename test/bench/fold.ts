/**
 * The pass alone: the real fold (decode with the real codec and registry, deciders, one
 * RocksDB write a pass) over records built in memory, so no fetch or publication is timed.
 * `npx tsx test/bench/fold.ts [events|requests] [batchSize] [records] [plain|signed|both]`
 * against a running `make infra`; prints µs per record (elapsed, and CPU, steadier on a shared
 * machine) and, with PROFILE=1, where the time goes. The fold writes the changelog's tables, as
 * the live coordinator's does. `signed` folds the same records each signed by a registered key
 * with signatures required (an Ed25519 verify a record); `both` (the default) prints the two and
 * their ratio, the cost of owners as the bench reports it (securedEventsRatio,
 * securedRequestsRatio). WORKERS= sets how many workers heartbeat (10: most heartbeats fold into
 * a worker already changed in the pass; 10 000: the scale run's fleet, one change a heartbeat).
 * With REPLAY=1 the records are folded live once (untimed) and then timed as a replay or a
 * standby folds them (`published`: no outbox), and every key of the two stores but the outbox
 * and the marker's position must match.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, loadConfig, type Config } from '../../src/config';
import type { RawRecord } from '../../src/engine/decode';
import { createFold } from '../../src/engine/fold';
import { loadState, readThroughOf } from '../../src/engine/load';
import { GENESIS } from '../../src/engine/state';
import { LOGIC_VERSION } from '../../src/engine/logic-version';
import { createLogger } from '../../src/log';
import type { Codec } from '../../src/messaging/codec';
import { H } from '../../src/messaging/headers';
import { recordTopics } from '../../src/messaging/provision';
import { createSigner, generateSigningKey, type Signer } from '../../src/messaging/signing';
import { INPUT_KINDS, topicName, type TopicKind } from '../../src/messaging/topics';
import { createParts } from '../../src/runtime';
import { openStore } from '../../src/store/rocks';
import { envWithRunFile } from '../../src/cli/serve';
import { loadContracts, projectRoot } from '../../src/messaging/schemas';
import { changelogTables } from '../../src/messaging/changelog';
import { digestHex } from '../../src/store/digest';
import { META, OUTBOX } from '../../src/store/keys';
import type { Store } from '../../src/store/rocks';
import { profiled } from './profile';
import { request } from './workload';

export type FoldKind = 'events' | 'requests';

export interface FoldRun {
  readonly kind: FoldKind;
  readonly signed: boolean;
  readonly batchSize: number;
  readonly records: number;
  readonly ms: number;
  readonly usPerRecord: number;
  /** CPU time of this process (the fold's thread and RocksDB's) a record. */
  readonly cpuUsPerRecord: number;
  readonly perSecond: number;
  /** Timed as a replay or a standby folds (REPLAY=1). */
  readonly replay: boolean;
  readonly digest: string;
  /** Records the live fold put in its outboxes a record folded: what publication then encodes and sends (0 when replaying). */
  readonly outputsPerRecord: number;
}

const T0 = 1_800_000_000_000;

/** Records that register `signer`'s key (admin, so it may do anything) and then require signatures: folded before the timed run. */
const securing = async (codec: Codec, prefix: string, publicKey: string, keyId: string): Promise<RawRecord[]> => {
  const system = topicName(prefix, 'requests.system');
  const header = (id: string): Record<string, Buffer> => ({ [H.correlationId]: Buffer.from(id), [H.replyTo]: Buffer.from(topicName(prefix, 'replies')) });
  return [
    { topic: system, partition: 0, offset: '0', key: Buffer.from(keyId), value: await codec.encode(system, 'coord.v1.RegisterPrincipalKey', { keyId, principal: 'bench', roles: ['admin', 'coordinator'], publicKey }), headers: header('bench-key'), timestamp: String(T0 - 1) },
    { topic: system, partition: 0, offset: '1', key: Buffer.from('settings'), value: await codec.encode(system, 'coord.v1.UpdateSettings', { signaturesRequired: { int: 1 }, initial: false }), headers: header('bench-settings'), timestamp: String(T0 - 1) },
  ];
};

const sign = (signer: Signer | undefined, kind: TopicKind, r: RawRecord): RawRecord => {
  if (signer === undefined) return r;
  const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, String(v)]));
  return { ...r, headers: signer.sign(kind, r.key, r.value, headers) };
};

/** Folds `total` records of `kind` in passes of `batchSize` on a fresh store; signed: each record signed, signatures required. */
export const foldRun = async (o: {
  config: Config;
  codec: Codec;
  kind: FoldKind;
  batchSize: number;
  total: number;
  signed: boolean;
  profile?: boolean;
  workers?: number;
  replay?: boolean;
}): Promise<FoldRun & { profile?: unknown }> => {
  const { config, codec, kind, batchSize, total } = o;
  const workers = o.workers ?? 10;
  const infra = topicName(config.topicPrefix, 'events.infra');
  const catalog = topicName(config.topicPrefix, 'requests.catalog');
  const key = o.signed ? generateSigningKey() : undefined;
  const signer = key === undefined ? undefined : createSigner('bench-1', createPrivateKey(key.privateKeyPem));
  const setup = key === undefined ? [] : await securing(codec, config.topicPrefix, key.publicKey, 'bench-1');
  const records: RawRecord[] = [];
  // Signing is the senders' work: done before the clock starts, as the records would arrive signed.
  if (kind === 'events') {
    for (let w = 0; w < workers; w++)
      records.push(sign(signer, 'events.infra', { topic: infra, partition: 0, offset: String(w), key: Buffer.from(`w${w}`), value: await codec.encode(infra, 'coord.v1.WorkerRegistered', { workerId: `w${w}`, incarnation: 'i1', host: 'h', slots: 4, capabilities: [] }), headers: {}, timestamp: String(T0) }));
    for (let i = records.length; i < total; i++) {
      const w = i % workers;
      records.push(sign(signer, 'events.infra', { topic: infra, partition: 0, offset: String(i), key: Buffer.from(`w${w}`), value: await codec.encode(infra, 'coord.v1.WorkerHeartbeat', { workerId: `w${w}`, incarnation: 'i1' }), headers: {}, timestamp: String(T0 + i) }));
    }
  } else {
    for (let i = 0; i < total; i++) {
      const r = request(i);
      records.push(
        sign(signer, 'requests.catalog', {
          topic: catalog,
          partition: 0,
          offset: String(i),
          key: Buffer.from(r.name),
          value: await codec.encode(catalog, r.type, r.value),
          headers: { 'correlation-id': Buffer.from(`bench-${i}`), 'reply-to': Buffer.from(config.replyTopic) },
          timestamp: String(T0 + i),
        }),
      );
    }
  }
  const kinds = new Map<string, TopicKind>(INPUT_KINDS.map((k) => [topicName(config.topicPrefix, k), k]));
  const options = { topicPrefix: config.topicPrefix, kindOf: (t: string) => kinds.get(t), changelogTables: changelogTables(loadContracts()) };
  const dirs: string[] = [];
  const stores: Store[] = [];
  const open = async (): Promise<Store> => {
    const dir = mkdtempSync(join(tmpdir(), 'fold-bench-'));
    dirs.push(dir);
    const s = await openStore(dir);
    stores.push(s);
    return s;
  };
  try {
    /** A live fold, as the active instance folds: each pass's outbox written, then cleared as once published. */
    /** Records the timed live fold put in its outboxes. */
    let outputs = 0;
    const liveFold = async (store: Store, each?: (digest: string) => void): Promise<{ pass: (batch: RawRecord[]) => Promise<void>; digest: () => string }> => {
      const fold = createFold({ store, codec, options });
      // As the coordinator holds it: logical sources and sinks read through the store.
      const { state } = await loadState(store, readThroughOf(undefined, DEFAULTS.stateCacheEntries));
      let meta = GENESIS;
      return {
        pass: async (batch) => {
          const result = await fold(batch, state, meta);
          meta = result.meta;
          each?.(digestHex(meta.digest));
          outputs += result.outbox.records.length;
          await store.write({ puts: [], deletes: [result.outbox.key] });
        },
        digest: () => digestHex(meta.digest),
      };
    };
    const replaying = o.replay === true;
    /** With REPLAY=1: the live fold's digest per snapshot, for the published fold to be checked against. */
    const digests: string[] = [];
    let live: Store | undefined;
    if (replaying) {
      live = await open();
      const l = await liveFold(live, (d) => digests.push(d));
      if (setup.length > 0) await l.pass(setup);
      for (let i = 0; i < records.length; i += batchSize) await l.pass(records.slice(i, i + batchSize));
    }
    const store = await open();
    const timedFold = await liveFold(store);
    let pass = timedFold.pass;
    let digest = timedFold.digest;
    if (replaying) {
      const fold = createFold({ store, codec, options });
      const { state } = await loadState(store, readThroughOf(undefined, DEFAULTS.stateCacheEntries));
      let meta = GENESIS;
      let n = 0;
      pass = async (batch) => {
        const marker = { digest: digests[n++], logicVersion: LOGIC_VERSION };
        meta = (await fold(batch, state, meta, { published: { alsoPut: [], marker, baseProven: true, refuseDiverged: true } })).meta;
      };
      digest = () => digestHex(meta.digest);
    }
    if (setup.length > 0) await pass(setup);
    outputs = 0;
    let cpuFrom = process.cpuUsage();
    const run = async (): Promise<number> => {
      const started = performance.now();
      cpuFrom = process.cpuUsage();
      for (let i = 0; i < records.length; i += batchSize) await pass(records.slice(i, i + batchSize));
      return performance.now() - started;
    };
    const measured = o.profile === true ? await profiled(run) : { result: await run(), profile: undefined };
    const elapsed = measured.result;
    const cpu = process.cpuUsage(cpuFrom);
    if (live !== undefined) {
      const differ = await storeDiff(live, store);
      if (differ !== undefined) throw new Error(`the published fold's store differs from the live fold's at ${differ}`);
    }
    return {
      kind,
      signed: o.signed,
      replay: replaying,
      batchSize,
      records: records.length,
      ms: Math.round(elapsed),
      usPerRecord: Math.round(((elapsed * 1000) / records.length) * 100) / 100,
      cpuUsPerRecord: Math.round(((cpu.user + cpu.system) / records.length) * 100) / 100,
      perSecond: Math.round(records.length / (elapsed / 1000)),
      digest: digest().slice(0, 16),
      outputsPerRecord: replaying ? 0 : Math.round((outputs / records.length) * 1000) / 1000,
      ...(measured.profile === undefined ? {} : { profile: measured.profile }),
    };
  } finally {
    for (const s of stores) await s.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
};

/** The first key whose value differs between two stores, the outbox and the marker's position aside (only a live fold keeps them). */
const storeDiff = async (a: Store, b: Store): Promise<string | undefined> => {
  const all = async (s: Store): Promise<Map<string, Buffer>> => {
    const m = new Map<string, Buffer>();
    for await (const [k, v] of s.scan('')) if (!k.startsWith(OUTBOX) && k !== META.marker) m.set(k, v);
    return m;
  };
  const [x, y] = [await all(a), await all(b)];
  for (const [k, v] of x) if (!y.get(k)?.equals(v)) return k;
  for (const k of y.keys()) if (!x.has(k)) return k;
  return undefined;
};

/**
 * The cost of owners: the fold's rate with every record signed and verified ÷ its rate unsigned,
 * for events and for requests, each the median of `rounds` alternating runs.
 */
export const securedRatios = async (config: Config, codec: Codec, o: { batchSize?: number; total?: number; rounds?: number } = {}): Promise<{ securedEventsRatio: number; securedRequestsRatio: number; runs: FoldRun[] }> => {
  const runs: FoldRun[] = [];
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratio = async (kind: FoldKind): Promise<number> => {
    const plain: number[] = [];
    const signed: number[] = [];
    for (let r = 0; r < (o.rounds ?? 3); r++)
      for (const s of [false, true]) {
        const run = await foldRun({ config, codec, kind, batchSize: o.batchSize ?? 500, total: o.total ?? 20_000, signed: s });
        runs.push(run);
        (s ? signed : plain).push(run.perSecond);
      }
    return Math.round((median(signed) / median(plain)) * 1000) / 1000;
  };
  const securedEventsRatio = await ratio('events');
  const securedRequestsRatio = await ratio('requests');
  return { securedEventsRatio, securedRequestsRatio, runs };
};

/** The best of `rounds` runs of the fold alone in one shape: µs a record elapsed, and in CPU (the fold's thread and RocksDB's). */
export interface FoldAloneCase {
  readonly batchSize: number;
  readonly records: number;
  readonly usPerRecord: number;
  readonly cpuUsPerRecord: number;
}

/** The fold alone in the shapes the throughput figures fold (test/bench/ceilings.ts). */
export interface FoldAlone {
  /** Heartbeats of the ingest's workers, in passes of the batch the events' ingest folded on average. */
  readonly events: FoldAloneCase;
  /** The requests' mix, in passes of the batch their ingest folded on average. */
  readonly requests: FoldAloneCase;
  /** The same requests folded as a replay folds them (no outbox, each snapshot's digest checked). */
  readonly replay: FoldAloneCase;
  readonly runs: readonly FoldRun[];
  /** A replayed store that differed from the live one, or another failure: the figures it left are NaN. */
  readonly error: string | null;
}

export const foldAlone = async (
  config: Config,
  codec: Codec,
  o: { workers: number; events: { batchSize: number; records: number }; requests: { batchSize: number; records: number }; rounds: number },
): Promise<FoldAlone> => {
  const runs: FoldRun[] = [];
  let error: string | null = null;
  const best = async (kind: FoldKind, shape: { batchSize: number; records: number }, replay: boolean): Promise<FoldAloneCase> => {
    let usPerRecord = NaN;
    let cpuUsPerRecord = NaN;
    try {
      for (let r = 0; r < o.rounds; r++) {
        const run = await foldRun({ config, codec, kind, batchSize: shape.batchSize, total: shape.records, signed: false, workers: o.workers, replay });
        runs.push(run);
        usPerRecord = Number.isNaN(usPerRecord) ? run.usPerRecord : Math.min(usPerRecord, run.usPerRecord);
        cpuUsPerRecord = Number.isNaN(cpuUsPerRecord) ? run.cpuUsPerRecord : Math.min(cpuUsPerRecord, run.cpuUsPerRecord);
      }
    } catch (err) {
      error ??= `${kind}${replay ? ' replayed' : ''}: ${err instanceof Error ? err.message : String(err)}`;
      return { ...shape, usPerRecord: NaN, cpuUsPerRecord: NaN };
    }
    return { ...shape, usPerRecord, cpuUsPerRecord };
  };
  const events = await best('events', o.events, false);
  const requests = await best('requests', o.requests, false);
  const replay = await best('requests', o.requests, true);
  return { events, requests, replay, runs, error };
};

const main = async (): Promise<void> => {
  const kind = (process.argv[2] ?? 'events') as FoldKind;
  const batchSize = Number(process.argv[3] ?? 500);
  const total = Number(process.argv[4] ?? 50_000);
  const mode = process.argv[5] ?? 'both';
  const { config } = loadConfig(envWithRunFile(projectRoot()));
  const { codec } = createParts(config, 'bench-fold', createLogger('warn'));
  await codec.registerAll(recordTopics(config.topicPrefix));
  const rates: Record<string, number> = {};
  for (const signed of mode === 'both' ? [false, true] : [mode === 'signed']) {
    const { profile, ...run } = await foldRun({
      config,
      codec,
      kind,
      batchSize,
      total,
      signed,
      profile: process.env.PROFILE === '1',
      workers: Number(process.env.WORKERS ?? 10),
      replay: process.env.REPLAY === '1',
    });
    console.log(JSON.stringify(run));
    if (profile !== undefined) console.log(JSON.stringify(profile, null, 1));
    rates[String(signed)] = run.perSecond;
  }
  if (mode === 'both') console.log(JSON.stringify({ kind, securedRatio: Math.round((rates.true / rates.false) * 1000) / 1000 }));
};

if (require.main === module)
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
