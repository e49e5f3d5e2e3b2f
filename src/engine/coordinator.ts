/**
 * The coordinator: one consumer-group member that gathers input, runs passes, commits each
 * as one RocksDB write, publishes the outbox, and resumes from the offsets in RocksDB.
 */
import { cpSync } from 'node:fs';
import { createConsumer, withAdmin as withKafkaAdmin, type Admin, type Consumer, type Kafka } from '../messaging/clients';
import type { Entity, Image, Projection } from '../../projections';
import type { Config } from '../config';
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { Logger } from '../log';
import type { Codec } from '../messaging/codec';
import { H } from '../messaging/headers';
import { singleActiveAssigner } from '../messaging/assignor';
import { highWatermarks as logEnds, inputTopicProblems, lowWatermarks, requestProducer } from '../messaging/kafka';
import { INPUT_KINDS, topicName, type TopicKind } from '../messaging/topics';
import { digestHex } from '../store/digest';
import { LOGIC_VERSION } from './logic-version';
import { signed, signerFromConfig } from '../messaging/signing';
import { MARKER_POSITION, OUTBOX, SNAPSHOT_META } from '../store/keys';
import { decodeOutbox, type OutRecord } from '../store/outbox';
import type { Store, WriteOps } from '../store/rocks';
import { backoffMs, Health, pause, type Trouble } from './health';
import { failPoint } from './failpoints';
import { createPublisher } from './publisher';
import { initialSettingsMessage, needsInitialSettings, PROPOSE_AGAIN_MS } from './initial-settings';
import { changelogTables, changelogTopic } from '../messaging/changelog';
import { loadContracts } from '../messaging/schemas';

/** A committed snapshot's outputs, and the store key they wait under until published. */
interface Outbox {
  readonly key: string;
  readonly records: readonly OutRecord[];
}
import type { RawRecord } from './decode';
import { Gatherer } from './gather';
import { createFold } from './fold';
import { createFollower, type FollowerStatus } from './follower';
import type { PassResult } from './pass';
import { readMarkers, replayOnto, type Marker } from './replay';
import { isRegistryDown } from './markers';
import { loadState, readLineage, tpKey, type SnapshotMeta, type WorkingState } from './state';

export interface CoordinatorDeps {
  readonly config: Config;
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly store: Store;
  readonly log: Logger;
  readonly projections?: readonly Projection[];
  /** The logic version of `projections` (LOGIC_VERSION for the registry's own); markers record it. */
  readonly logicVersion?: number;
  /** Told of passes, publications and activations as they happen, for /metrics (src/metrics/coordinator.ts). */
  readonly observer?: EngineObserver;
}

/** What the engine reports as it works; the metrics observe it, nothing decides by it. */
export interface EngineObserver {
  /** A pass committed `records` input records as `result`. */
  passed(result: PassResult, records: number): void;
  /** The outboxes under `keys` were published in one transaction that took `seconds`. */
  published(keys: readonly string[], seconds: number): void;
  /** This instance became the active one under `generation`. */
  activated(generation: number): void;
}

/** The coordinator's state as its last committed snapshot left it, for the console and the metrics. */
export interface CoordinatorView {
  readonly snapshot: { readonly id: string; readonly ts: string; readonly logTimeMs: number };
  /** The entities of one kind (the names in projections/model.ts), in key order. */
  list<I extends Image>(entity: Entity<I>): readonly (readonly [string, I])[];
  get<I extends Image>(entity: Entity<I>, key: string): I | undefined;
  /** Each input partition this instance folds: the next offset to fold, and the log end its last fetch saw. */
  readonly inputs: readonly { readonly topic: string; readonly partition: number; readonly next: bigint; readonly end: bigint | undefined }[];
}

export interface CoordinatorStatus {
  /** Active and consuming. */
  readonly ready: boolean;
  readonly role: 'joining' | 'standby' | 'activating' | 'active';
  /** The generation this instance publishes under while active. */
  readonly generation: number;
  readonly snapshotId: string;
  readonly snapshotTs: string;
  /** Digest of the projections' state at that snapshot. */
  readonly digest: string;
  readonly applied: number;
  readonly rejected: number;
  readonly passes: number;
  readonly buffered: number;
  /** Troubles retried for longer than stallThresholdMs: while there is one, the instance is not ready. */
  readonly problems: readonly Trouble[];
  /** Everything refused and set aside since start, for /metrics. */
  readonly refusals: {
    /** DLQ records written by passes, by code. */
    readonly dlq: Readonly<Record<string, number>>;
    /** Outputs set aside at publication (a notice in the DLQ instead), by code. */
    readonly setAside: Readonly<Record<string, number>>;
    readonly conflicts: number;
    readonly repliesTooLarge: number;
    /** Records on the snapshots topic that are not part of the chain of markers. */
    readonly markersSkipped: number;
  };
  /** Failed attempts retried since start, by trouble. */
  readonly retries: Readonly<Record<string, number>>;
  /** A standby's following of the log (stopped while active). */
  readonly following: FollowerStatus;
}

export interface Coordinator {
  start(): Promise<void>;
  status(): CoordinatorStatus;
  /**
   * Runs `fn` between passes, on the state of the last committed snapshot (never half a pass);
   * read-only, and only within `fn`. It waits for the pass or catch-up in progress.
   */
  read<T>(fn: (view: CoordinatorView) => T): Promise<T>;
  /** Stops consuming, finishes the pass in progress, publishes its outbox and closes the clients. */
  close(): Promise<void>;
  /** Resolves once the coordinator has closed, by request or because it could not go on. */
  readonly closed: Promise<void>;
}

export const createCoordinator = (deps: CoordinatorDeps): Coordinator => {
  const { config, kafka, codec, store, log } = deps;
  const logicVersion = deps.logicVersion ?? LOGIC_VERSION;
  // The active member is the longest-running one; this is the engine's own clock, never the fold's.
  const startedAt = Date.now();
  const kindByTopic = new Map<string, TopicKind>(INPUT_KINDS.map((k) => [topicName(config.topicPrefix, k), k]));
  const inputTopics = [...kindByTopic.keys()];
  const tables = changelogTables(loadContracts());
  const fold = createFold({
    store,
    codec,
    options: { ...config, kindOf: (topic) => kindByTopic.get(topic), projections: deps.projections, logicVersion: deps.logicVersion, changelogTables: tables },
    write: (ops) => writeUntilDone(ops),
  });
  const dlqTopic = topicName(config.topicPrefix, 'dlq');
  const snapshotsTopic = topicName(config.topicPrefix, 'snapshots');
  const gatherer = new Gatherer({
    batchSize: config.batchSize,
    batchTimeoutMs: config.batchTimeoutMs,
    maxBuffered: config.batchSize * 4,
    maxBufferedBytes: 64 * 1024 * 1024,
    maxBatchBytes: 16 * 1024 * 1024,
  });

  let state: WorkingState;
  let meta: SnapshotMeta;
  let offsets = new Map<string, bigint>();
  /** Next offset the pass accepts per owned partition; records below it were folded already. */
  const expected = new Map<string, bigint>();
  let consumer: Consumer | undefined;
  /** The activation this instance publishes under, one past the newest the log shows (see catchUp). */
  let generation = 0;
  /** joining → standby (nothing assigned) or activating → active. */
  let role: 'joining' | 'standby' | 'activating' | 'active' = 'joining';
  let activation = 0;
  let low = new Map<string, string>();
  let running = false;
  let loop: Promise<void> | undefined;
  const counters = { applied: 0, rejected: 0, passes: 0, conflicts: 0, tooLarge: 0, markersSkipped: 0 };
  const dlqCounts: Record<string, number> = {};

  /** Input records on the log that are not folded yet: the lag clients throttle on. */
  const highWatermarks = new Map<string, bigint>();
  const currentLag = (): bigint => {
    let lag = 0n;
    for (const [k, next] of expected) {
      const high = highWatermarks.get(k);
      if (high !== undefined && high > next) lag += high - next;
    }
    return lag;
  };

  const health = new Health();
  const publisher = createPublisher({
    kafka,
    log,
    health,
    transactionalId: `${config.groupId}.outbox`,
    dlqTopic,
    protectedTopics: new Set([
      ...(['snapshots', 'changelog', 'worker-commands'] as const).map((k) => topicName(config.topicPrefix, k)),
      ...[...tables.keys()].map((entity) => changelogTopic(config.topicPrefix, entity)),
    ]),
    maxRequestBytes: config.maxRequestBytes,
    mayPublish: () => mayPublish(),
  });

  /** A store write retried while it fails (a full disk), shown on /readyz; only a stop ends the attempts. */
  const writeUntilDone = async (ops: WriteOps): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await store.write(ops);
        health.ok('store');
        return;
      } catch (err) {
        if (!isCoordError(err, 'STORE_IO') || !running) throw err;
        health.failing('store', errorMessage(err));
        log.error('writing to RocksDB failed; retrying', { attempt, error: errorMessage(err) });
        await pause(backoffMs(attempt), () => !running);
      }
    }
  };

  /**
   * Committed snapshots' outboxes go out in order, however long the broker is away. Only
   * fencing (another instance owns the outputs now), standing down or a stop ends the attempts;
   * what can never be published is set aside by the publisher, so nothing loops.
   */
  const publishUntilDone = async (outboxes: readonly Outbox[]): Promise<void> => {
    if (outboxes.length === 0) return;
    // After an earlier outbox was given up, a later one must not go out before it: both wait for the next activation.
    if (stoodDown) throw new CoordError('PUBLISH_FAILED', 'an earlier outbox is still unpublished; this one waits for it');
    const records = outboxes.length === 1 ? outboxes[0].records : outboxes.flatMap((o) => o.records);
    // Every output says which activation published it; a late one from a fenced instance carries an older generation.
    const publishFrom = performance.now();
    const last = await publisher.publish(records, snapshotsTopic, { [H.generation]: String(generation) }, { [H.lag]: currentLag().toString() });
    failPoint('publish.before-outbox-clear');
    deps.observer?.published(outboxes.map((o) => o.key), (performance.now() - publishFrom) / 1_000);
    // Where the last marker landed, so a takeover reads the markers from there, not from the beginning.
    let marker: OutRecord | undefined;
    for (let i = records.length - 1; i >= 0 && marker === undefined; i--) if (records[i].topic === snapshotsTopic) marker = records[i];
    const position: [string, Buffer][] =
      last === undefined || marker === undefined ? [] : [[MARKER_POSITION, Buffer.from(JSON.stringify({ id: marker.key, offset: last.toString(), generation }))]];
    // Published: the outboxes can go. A crash before this delete publishes them again, with the same (snapshot-id, seq);
    // a failing write is retried alone, never by publishing again.
    await writeUntilDone({ puts: position, deletes: outboxes.map((o) => o.key) });
  };

  /** Most records one transaction publishes: a backlog goes out in several, in order. */
  const MAX_RECORDS_PER_TRANSACTION = 20_000;
  /** Most records committed and waiting for publication before a pass waits for it (the fold may outrun it only so far). */
  const MAX_QUEUED_RECORDS = 50_000;

  /** Takes outboxes from the front of `from`, whole, up to the records one transaction carries (at least one). */
  const takeGroup = (from: Outbox[]): Outbox[] => {
    let n = 0;
    let records = 0;
    while (n < from.length && (n === 0 || records + from[n].records.length <= MAX_RECORDS_PER_TRANSACTION)) records += from[n++].records.length;
    return from.splice(0, n);
  };

  const publishLeftovers = async (): Promise<void> => {
    const left: Outbox[] = [];
    for await (const [key, v] of store.scan(OUTBOX)) left.push({ key, records: decodeOutbox(v) });
    if (left.length === 0) return;
    log.info('publishing outbox left by an earlier run', { snapshots: left.length, records: left.reduce((n, o) => n + o.records.length, 0) });
    while (left.length > 0) await publishUntilDone(takeGroup(left));
  };

  /**
   * Group commit: committed snapshots queue here, and one publication at a time drains the
   * queue, every snapshot waiting when it starts in one transaction. A quiet system publishes
   * each snapshot at once; a busy one needs fewer transactions than snapshots.
   */
  let queue: Outbox[] = [];
  let queuedRecords = 0;
  let queuedCommits: { topic: string; partition: number; offset: string }[] | undefined;
  let draining: Promise<void> | undefined;
  const drain = (): void => {
    if (draining !== undefined) return;
    draining = (async () => {
      while (queue.length > 0) {
        const group = takeGroup(queue);
        queuedRecords -= group.reduce((n, o) => n + o.records.length, 0);
        const commits = queue.length === 0 ? queuedCommits : undefined;
        await publishUntilDone(group);
        if (commits !== undefined) commitForMonitoring(commits);
      }
    })()
      .catch((err: unknown) => fail(err))
      .finally(() => (draining = undefined));
  };
  /** Resolves once every committed outbox is published (or its publication failed, which stops or stands down). */
  const published = async (): Promise<void> => {
    while (draining !== undefined) await draining;
  };

  /**
   * Before an instance serves, its store must agree with the snapshots the log records:
   * behind → fold the missing snapshots by replay; ahead (it crashed before publishing) →
   * publish what it has; different → it is a fenced-off former active: rebuild from scratch.
   * Resolves to why the instance must not serve, if it must not.
   */
  const catchUp = async (): Promise<string | undefined> => {
    // Fence first: once a new transactional producer is initialised, no earlier active (nor an earlier self) can publish.
    await publisher.fence();
    failPoint('activation.after-fence');
    const raw = await store.get(MARKER_POSITION);
    const known = raw === null ? undefined : (JSON.parse(raw.toString()) as { id: string; offset: string; generation?: number });
    // Only the chain of markers is trusted: garbage, forged ids and markers without a generation are skipped and counted.
    const onSkip = (): void => void counters.markersSkipped++;
    let markers = await readMarkers(kafka, codec, snapshotsTopic, known === undefined ? undefined : BigInt(known.offset), {
      knownSnapshotId: known === undefined ? undefined : BigInt(known.id),
      log,
      onSkip,
    });
    // This activation's generation: one past every generation this store or the log has seen.
    generation = Math.max(known?.generation ?? 0, ...markers.map((m) => m.generation)) + 1;
    const mine = markers.find((m) => m.snapshotId === meta.id);
    const beyond = markers.some((m) => m.snapshotId > meta.id);
    // Same id is not enough: the same digest, timestamp and input offsets make it the same snapshot. Digests compare
    // only when one version folded both and the store's state is proven to be the log's; else timestamp and inputs must agree.
    const lineage = readLineage(await store.get(SNAPSHOT_META));
    const same = (m: Marker): boolean =>
      (!lineage.proven || lineage.logicVersion !== m.logicVersion || m.digest === digestHex(meta.digest)) &&
      m.snapshotTs === meta.ts &&
      m.inputs.every((r) => offsets.get(tpKey(r.topic, r.partition)) === r.toOffset + 1n);
    const diverged = meta.id > 0n && (mine === undefined ? beyond : !same(mine));
    if (diverged) {
      log.warn('local state differs from the snapshots on the log; rebuilding it by replay', { localSnapshotId: meta.id.toString(), dir: store.dir });
      await store.write({ puts: [], deleteRanges: [['', '\uffff']] });
      ({ state, meta, offsets } = await loadState(store));
      markers = await readMarkers(kafka, codec, snapshotsTopic, undefined, { log, onSkip });
    }
    const missing = markers.filter((m) => m.snapshotId > meta.id);
    if (missing.length > 0) {
      log.info('catching up from the log', { from: meta.id.toString(), to: missing[missing.length - 1].snapshotId.toString() });
      const report = await replayOnto(
        { kafka, codec, store, log, topicPrefix: config.topicPrefix, verify: true, projections: deps.projections, logicVersion: deps.logicVersion },
        missing,
        state,
        meta,
      );
      if (report.otherVersion > 0)
        log.warn('this build decided snapshots of another logic version again and reached other digests', { snapshots: report.otherVersion, logicVersion });
      if (report.mismatch !== undefined)
        throw new Error(`catching up diverged at snapshot ${report.mismatch.snapshotId}: the log recorded ${report.mismatch.expected}, this instance reached ${report.mismatch.actual}`);
      ({ state, meta, offsets } = await loadState(store));
    }
    // A state not proven to be the log's (another version decided its snapshots differently) must not serve: the log would
    // go on from a state it never recorded. Its snapshots stay in the store for a look; nothing was published from them.
    if (meta.id > 0n && !readLineage(await store.get(SNAPSHOT_META)).proven)
      return `this build (logic version ${logicVersion}) decides the log's snapshots differently from the build that wrote them: its state at snapshot ${meta.id} is not the log's, so it cannot take over from a folder it folded itself; upgrade a folder the older build kept up to date instead (README, Upgrades)`;
    await publishLeftovers();
    return undefined;
  };

  /** The active instance appends the log's clock; a standby never does. */
  let ticker: NodeJS.Timeout | undefined;
  const ticksTopic = topicName(config.topicPrefix, 'internal.ticks');
  // Ticks and proposals are signed as any sender's records are, for a log that requires signatures.
  const signer = signerFromConfig(config);
  const startTicking = (): void => {
    if (ticker !== undefined) return;
    const tickProducer = requestProducer(kafka);
    const connected = tickProducer.connect();
    let busy = false;
    ticker = setInterval(() => {
      if (busy || role !== 'active') return;
      busy = true;
      void (async () => {
        await connected;
        // The clock only: the settings are state (src/engine/initial-settings.ts).
        const value = await codec.encode(ticksTopic, 'coord.v1.Tick', { tickMs: BigInt(Date.now()) });
        await tickProducer.send({ topic: ticksTopic, acks: -1, messages: [signed(signer, 'internal.ticks', { key: null, value })] });
        if (!needsInitialSettings(state)) health.ok('settings');
        else if (Date.now() - proposedAtMs >= PROPOSE_AGAIN_MS) {
          // Not folded since the last proposal (refused, say, to a principal without the admin role): shown on /readyz once it lasts.
          if (proposedAtMs > 0) health.failing('settings', `the initial settings proposed ${Date.now() - proposedAtMs} ms ago are not on the log yet; see the reply on ${topicName(config.topicPrefix, 'replies')}`);
          proposedAtMs = Date.now();
          const topics = { system: topicName(config.topicPrefix, 'requests.system'), replies: topicName(config.topicPrefix, 'replies') };
          const message = await initialSettingsMessage(codec, topics, config, `initial-settings-${generation}-${proposedAtMs}`, signer);
          await tickProducer.send({ topic: topics.system, acks: -1, messages: [message] });
          log.info('proposed the local configuration as the initial settings of this log', { generation });
        }
      })()
        .catch((err) => log.warn('could not append a tick', { error: errorMessage(err) }))
        .finally(() => (busy = false));
    }, config.tickIntervalMs);
    stopTicking = async () => {
      clearInterval(ticker);
      await connected.catch(() => undefined);
      await tickProducer.disconnect().catch(() => undefined);
    };
  };
  let stopTicking: () => Promise<void> = async () => undefined;
  let proposedAtMs = Number.NEGATIVE_INFINITY;


  /** Passes and activations take turns: a catch-up must never run beside a pass. */
  let turn: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = turn.then(fn, fn);
    turn = next.catch(() => undefined);
    return next;
  };

  /**
   * A standby folds each snapshot the active one publishes, so a takeover catches up on a few
   * snapshots only. It follows only from a store that agrees with the log as far as it goes: a
   * store holding snapshots not on the log (a former active's) waits for its activation.
   */
  const follower = createFollower({
    kafka,
    codec,
    log,
    fold,
    groupId: config.groupId,
    snapshotsTopic,
    inputTopics,
    exclusive,
    // Between passes and catch-ups, with what this instance committed published: the store then stands still.
    from: () =>
      exclusive(async () => {
        await published();
        for await (const _ of store.scan(OUTBOX, { limit: 1 })) throw new Error('the store holds snapshots this instance committed and has not published; its activation publishes or rebuilds them');
        const raw = await store.get(MARKER_POSITION);
        const known = raw === null ? undefined : (JSON.parse(raw.toString()) as { id: string; offset: string });
        if ((known === undefined && meta.id !== 0n) || (known !== undefined && BigInt(known.id) !== meta.id))
          throw new Error(`the store stands at snapshot ${meta.id} but knows the marker of snapshot ${known?.id ?? 'none'}; its activation catches up`);
        const lineage = meta.id === 0n ? undefined : readLineage(await store.get(SNAPSHOT_META));
        return { state, meta, offsets, marker: known === undefined ? undefined : { id: BigInt(known.id), offset: BigInt(known.offset) }, lineage };
      }),
    still: (s, m) => role === 'standby' && running && s === state && m === meta,
    followed: (m, marker) => {
      meta = m;
      for (const r of marker.inputs) offsets.set(tpKey(r.topic, r.partition), r.toOffset + 1n);
    },
    skipped: () => void counters.markersSkipped++,
  });

  /**
   * Membership, as this instance can know it: the group coordinator answered a heartbeat lately.
   * Past most of the session timeout without one, another instance may have taken over, so this
   * one neither publishes nor starts a producer (which would fence the new active) until a
   * heartbeat or a rebalance says where it stands.
   */
  let lastHeartbeatMs = 0;
  let stoodDown = false;
  let lastOwned: readonly { topic: string; partition: number }[] = [];
  const mayPublish = (): boolean =>
    running && (role === 'active' || role === 'activating') && !stoodDown && Date.now() - lastHeartbeatMs < config.sessionTimeoutMs * 0.8;

  /**
   * A publication given up because this instance may no longer be the active one: it stops
   * folding (what it committed waits in the store) until its membership is confirmed; then it
   * activates again from RocksDB, as after a restart, publishing the outbox first.
   */
  const standDown = (err: unknown): void => {
    if (stoodDown) return;
    stoodDown = true;
    // What waits to be published stays in the store: the next activation publishes it first, in order.
    queue = [];
    queuedRecords = 0;
    expected.clear();
    gatherer.drop();
    consumer?.pause(inputTopics.map((topic) => ({ topic })));
    if (role === 'active') role = 'activating';
    log.warn('standing down until the group confirms this instance is active; what it committed waits in the store', { error: errorMessage(err) });
  };

  const activate = async (owned: readonly { topic: string; partition: number }[], attempt: number): Promise<void> => {
    const c = consumer;
    if (c === undefined) return;
    await follower.stop(); // it folds inside the turns a catch-up takes
    let refusal: string | undefined;
    // A registry away during the catch-up (markers, or inputs of schema ids this process has not seen) holds the
    // activation, shown on /readyz, and it goes on once the registry answers; the snapshots folded so far stay.
    for (let tries = 1; ; tries++) {
      try {
        refusal = await exclusive(async () => {
          if (tries > 1) ({ state, meta, offsets } = await loadState(store)); // where the interrupted catch-up left the store
          await published(); // what this instance committed goes out before it fences its own producer
          if (attempt !== activation) return undefined; // a newer rebalance made this one moot
          stoodDown = false;
          return catchUp();
        });
        if (tries > 1) health.ok('registry');
        break;
      } catch (err) {
        if (!isRegistryDown(err) || !running || attempt !== activation) throw err;
        const t = health.failing('registry', errorMessage(err));
        log.warn('the schema registry does not answer during the catch-up; activating again once it does', { tries, error: errorMessage(err), failingForMs: Date.now() - t.sinceMs });
        await pause(Math.min(5_000, backoffMs(tries)), () => !running || attempt !== activation);
      }
    }
    if (attempt !== activation) return;
    if (refusal !== undefined) {
      health.failing('environment', refusal);
      log.error('refusing to serve', { reason: refusal });
      return;
    }
    // A stored offset past the log end means the topic was deleted and created again (or truncated):
    // resuming would skip or refold input silently, so this instance refuses to serve and says why.
    const ends = await withAdmin((admin) => logEnds(admin, inputTopics));
    const behind = owned.flatMap(({ topic, partition }) => {
      const k = tpKey(topic, partition);
      const stored = offsets.get(k);
      const end = BigInt(ends.get(k) ?? '0');
      return stored !== undefined && stored > end ? [`${k} resumes at offset ${stored} but the log ends at ${end}`] : [];
    });
    if (behind.length > 0) {
      const message = `input topics were deleted and created again, or truncated, since this store folded them: ${behind.slice(0, 5).join('; ')}; restore the topics, or replay into a new dataDir`;
      health.failing('environment', message);
      log.error('refusing to serve: the store is ahead of the log', { problems: behind.slice(0, 20) });
      return;
    }
    for (const { topic, partition } of owned) {
      const k = tpKey(topic, partition);
      const from = offsets.get(k) ?? BigInt(low.get(k) ?? '0');
      expected.set(k, from);
      c.seek({ topic, partition, offset: from.toString() });
    }
    c.resume(inputTopics.map((topic) => ({ topic })));
    role = 'active';
    deps.observer?.activated(generation);
    startTicking();
    log.info('active: consuming every input partition', { partitions: owned.length, snapshotId: meta.id.toString() });
  };

  const pass = async (records: RawRecord[]): Promise<void> => {
    // Only records not folded yet, each once: a batch put back after a rebalance may meet its refetched copy.
    const seen = new Set<string>();
    const fresh = records.filter((r) => {
      const want = expected.get(tpKey(r.topic, r.partition));
      const id = `${r.topic}:${r.partition}:${r.offset}`;
      if (want === undefined || BigInt(r.offset) < want || seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    if (fresh.length === 0) return;
    const result = await fold(fresh, state, meta, { holdUnknownSchemas, generation });
    failPoint('commit.before-publish');
    meta = result.meta;
    deps.observer?.passed(result, fresh.length);
    const commits = result.inputs.map((r) => ({ topic: r.topic, partition: r.partition, offset: (r.toOffset + 1n).toString() }));
    for (const c of commits) {
      offsets.set(tpKey(c.topic, c.partition), BigInt(c.offset));
      expected.set(tpKey(c.topic, c.partition), BigInt(c.offset));
    }
    counters.applied += result.applied;
    counters.rejected += result.rejected;
    counters.passes++;
    counters.conflicts += result.conflicts;
    counters.tooLarge += result.tooLarge;
    for (const [code, n] of Object.entries(result.dlq)) dlqCounts[code] = (dlqCounts[code] ?? 0) + n;
    // The snapshot is committed; its outputs go out while the next batch is folded, in snapshot order.
    queue.push(result.outbox);
    queuedRecords += result.outbox.records.length;
    queuedCommits = commits;
    drain();
    // The fold may run ahead of publication, but only so far.
    if (queuedRecords > MAX_QUEUED_RECORDS) await published();
  };

  /**
   * Kafka's committed offsets are for monitoring only (the truth is in RocksDB), so they never
   * hold up a pass: one commit at a time, the newest offsets waiting for the next turn.
   */
  let nextCommit: { topic: string; partition: number; offset: string }[] | undefined;
  let committing = false;
  const commitForMonitoring = (commits: { topic: string; partition: number; offset: string }[]): void => {
    nextCommit = commits;
    if (committing) return;
    committing = true;
    void (async () => {
      while (nextCommit !== undefined && running) {
        const c = nextCommit;
        nextCommit = undefined;
        await consumer?.commitOffsets(c).catch((err) => log.debug('offset commit for monitoring failed', { error: errorMessage(err) }));
      }
      committing = false;
    })();
  };

  /** Stops the coordinator after an error that leaves only a restart from RocksDB safe. */
  const fail = (err: unknown): void => {
    if (isCoordError(err, 'PUBLISH_FAILED')) {
      if (closing !== undefined) log.warn('stopped with an outbox not yet published; the next start publishes it', { error: errorMessage(err) });
      else standDown(err);
      return;
    }
    if (isCoordError(err, 'FENCED')) log.error('fenced: another instance is active; stopping without publishing', { error: errorMessage(err) });
    else log.error('stopping so a restart resumes from the last snapshot', { error: errorMessage(err), stack: (err as Error).stack });
    running = false;
    process.exitCode = 1;
    void close();
  };

  let registryAttempts = 0;
  /**
   * A schema id no registry knows may be one a registry catching up will know soon: the batch
   * waits for it, but all such waits share a budget of schemaWaitMs a minute, so records with
   * made-up ids slow the loop by that much at most. After that they are refused, and the
   * verdict is recorded on the snapshot marker for replays.
   */
  const unknownSince = new Map<number, number>();
  let waitBudget = { windowStart: 0, spentMs: 0, lastAt: 0 };
  const holdUnknownSchemas = (ids: readonly number[]): boolean => {
    const now = Date.now();
    if (now - waitBudget.windowStart > 60_000) waitBudget = { windowStart: now, spentMs: 0, lastAt: now };
    waitBudget.spentMs += Math.min(now - waitBudget.lastAt, 1_000);
    waitBudget.lastAt = now;
    if (unknownSince.size > 1_000) unknownSince.clear();
    const waiting = ids.filter((id) => {
      const since = unknownSince.get(id) ?? now;
      unknownSince.set(id, since);
      return now - since < config.schemaWaitMs;
    });
    return waiting.length > 0 && waitBudget.spentMs < config.schemaWaitMs;
  };

  const runLoop = async (): Promise<void> => {
    while (running) {
      const batch = await gatherer.take(100);
      if (batch.length === 0) continue;
      try {
        await exclusive(() => pass(batch));
        health.ok('registry');
        registryAttempts = 0;
      } catch (err) {
        if (isCoordError(err, 'SCHEMA_REGISTRY')) {
          // Decoding comes before any decision, so nothing was applied: wait for the registry and take the same batch again.
          const t = health.failing('registry', errorMessage(err));
          log.warn('schema registry unavailable or behind; retrying the batch', { error: errorMessage(err), failingForMs: Date.now() - t.sinceMs });
          gatherer.unshift(batch);
          await pause(Math.min(1_000, backoffMs(++registryAttempts)), () => !running);
          continue;
        }
        // The state in memory may be ahead of RocksDB now; only a restart from RocksDB is safe.
        fail(err);
        return;
      }
    }
  };

  /**
   * The store as the last snapshot left it, checked against that snapshot's digest. A store
   * that does not match (a damaged file, a hand edit) is copied aside for a look and emptied,
   * and the catch-up rebuilds it from the log.
   */
  const loadChecked = async (): Promise<void> => {
    let problem: string | undefined;
    try {
      const loaded = await loadState(store);
      ({ state, meta, offsets } = loaded);
      if (loaded.digest !== loaded.meta.digest) problem = `its entities sum to digest ${digestHex(loaded.digest)}, not ${digestHex(loaded.meta.digest)} as snapshot ${loaded.meta.id} recorded`;
    } catch (err) {
      if (isCoordError(err, 'STORE_IO') || isCoordError(err, 'STORE_CLOSED')) throw err;
      problem = `it does not read back: ${errorMessage(err)}`;
    }
    if (problem === undefined) return;
    const aside = `${store.dir}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    cpSync(store.dir, aside, { recursive: true });
    log.error('the store is corrupt; it was copied aside and is rebuilt from the log', { dir: store.dir, copiedTo: aside, problem });
    await store.write({ puts: [], deleteRanges: [['', '\uffff']] });
    ({ state, meta, offsets } = await loadState(store));
  };

  const withAdmin = <T>(fn: (admin: Admin) => Promise<T>): Promise<T> => withKafkaAdmin(kafka, fn);

  /** A consumer in the group, with the handlers that activate this instance or make it stand by. */
  const joinGroup = async (): Promise<void> => {
    consumer = createConsumer(kafka, {
      groupId: config.groupId,
      // The broker answers a fetch as soon as a record arrives; this only bounds how long an idle fetch waits.
      maxWaitTimeInMs: 100,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 10)),
      rebalanceTimeout: 30_000,
      partitionAssigners: [singleActiveAssigner(startedAt)],
      // A broker that restarts makes kafkajs give up on errors it deems final (no group coordinator yet);
      // the state is safe in RocksDB, so the consumer always starts again and rejoins.
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 10_000, restartOnFailure: async () => true },
    });
    const c = consumer;
    c.on(c.events.GROUP_JOIN, ({ payload }) => {
      // Synchronously, before the first fetch: nothing is consumed until the store agrees with the log.
      expected.clear();
      gatherer.drop();
      lastHeartbeatMs = Date.now();
      const attempt = ++activation;
      const owned = Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })));
      lastOwned = owned;
      if (owned.length === 0) {
        role = 'standby';
        log.info('standing by: another instance is active', { memberId: payload.memberId });
        follower.start();
        return;
      }
      role = 'activating';
      c.pause(inputTopics.map((topic) => ({ topic })));
      activate(owned, attempt).catch(fail);
    });
    let resuming = false;
    c.on(c.events.HEARTBEAT, () => {
      lastHeartbeatMs = Date.now();
      // Still a member of the same generation after standing down: the partitions are still ours.
      if (!stoodDown || resuming || role !== 'activating' || lastOwned.length === 0) return;
      resuming = true;
      log.info('the group confirms this instance is still active; activating again from RocksDB');
      activate(lastOwned, ++activation)
        .catch(fail)
        .finally(() => (resuming = false));
    });
    c.on(c.events.CRASH, ({ payload }) => {
      role = 'joining';
      log.error('consumer crashed', { error: errorMessage(payload.error), restart: payload.restart });
      // kafkajs gives up for good on some errors of a broker that restarts (no group coordinator yet):
      // the state is safe in RocksDB, so a new consumer joins the group again, as a restart would.
      if (!payload.restart && running && consumer === c) void rejoin().catch(fail);
    });
    try {
      await c.connect();
      await c.subscribe({ topics: inputTopics, fromBeginning: true });
    } catch (err) {
      await c.disconnect().catch(() => undefined);
      throw err;
    }
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat, isStale }) => {
        if (isStale()) return;
        highWatermarks.set(tpKey(batch.topic, batch.partition), BigInt(batch.highWatermark));
        await gatherer.push(
          batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            headers: m.headers,
            timestamp: m.timestamp,
          })),
          heartbeat,
        );
      },
    });
  };

  /** A new consumer after kafkajs gave one up, retried with a bounded backoff and shown on /readyz while it fails. */
  const rejoin = async (): Promise<void> => {
    await consumer?.disconnect().catch(() => undefined);
    for (let attempt = 1; running; attempt++) {
      try {
        await joinGroup();
        health.ok('consumer');
        log.info('a new consumer joined the group', { attempt });
        return;
      } catch (err) {
        const t = health.failing('consumer', errorMessage(err));
        log.warn('joining the group failed; retrying', { attempt, error: errorMessage(err), failingForMs: Date.now() - t.sinceMs });
        await pause(backoffMs(attempt), () => !running);
      }
    }
  };

  const start = async (): Promise<void> => {
    await loadChecked();
    log.info('loaded state from RocksDB', { dir: store.dir, snapshotId: meta.id.toString(), partitions: offsets.size });

    const problems = await withAdmin((admin) => inputTopicProblems(admin, inputTopics));
    if (problems.length > 0) throw new CoordError('ENV_INVALID', problems.join('; '));
    low = await withAdmin((admin) => lowWatermarks(admin, inputTopics));

    running = true;
    loop = runLoop();
    await joinGroup();
  };

  let closing: Promise<void> | undefined;
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const close = (): Promise<void> => {
    closing ??= (async () => {
      running = false;
      role = 'joining';
      await follower.stop();
      await stopTicking();
      gatherer.close();
      await consumer?.disconnect().catch(() => undefined);
      await loop;
      await published();
      await publisher.close();
      markClosed();
    })();
    return closing;
  };

  const view = (): CoordinatorView => ({
    snapshot: { id: meta?.id.toString() ?? '0', ts: meta?.ts.toString() ?? '0', logTimeMs: meta?.logTimeMs ?? 0 },
    list: (entity) => (state === undefined ? [] : [...state.list(entity)]),
    get: (entity, key) => state?.get(entity, key),
    inputs: [...expected].map(([k, next]) => {
      const at = k.lastIndexOf(':');
      return { topic: k.slice(0, at), partition: Number(k.slice(at + 1)), next, end: highWatermarks.get(k) };
    }),
  });

  return {
    start,
    close,
    closed,
    read: (fn) => exclusive(async () => fn(view())),
    status: () => ({
      ready: running && role === 'active' && health.stalled(config.stallThresholdMs).length === 0,
      role,
      generation,
      snapshotId: meta?.id.toString() ?? '0',
      snapshotTs: meta?.ts.toString() ?? '0',
      digest: digestHex(meta?.digest ?? 0n),
      applied: counters.applied,
      rejected: counters.rejected,
      passes: counters.passes,
      buffered: gatherer.size,
      problems: health.stalled(config.stallThresholdMs),
      refusals: { dlq: { ...dlqCounts }, setAside: { ...publisher.setAside }, conflicts: counters.conflicts, repliesTooLarge: counters.tooLarge, markersSkipped: counters.markersSkipped },
      retries: { ...health.retries },
      following: follower.status(),
    }),
  };
};
