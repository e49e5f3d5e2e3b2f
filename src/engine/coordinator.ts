/**
 * The coordinator: one consumer-group member that gathers input, runs passes, commits each
 * as one RocksDB write, publishes the outbox, and resumes from the offsets in RocksDB.
 */
import type { Entity, Image, Projection } from '../../projections';
import type { Config } from '../config';
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { Logger } from '../log';
import { singleActiveAssigner } from '../messaging/assignor';
import { changelogTables, changelogTopic } from '../messaging/changelog';
import { withAdmin, type Consumer, type Kafka } from '../messaging/clients';
import type { Codec } from '../messaging/codec';
import { inputTopicProblems, lowWatermarks } from '../messaging/kafka';
import { loadContracts } from '../messaging/schemas';
import { INPUT_KINDS, topicName, type TopicKind } from '../messaging/topics';
import { digestHex } from '../store/digest';
import type { Store, WriteOps } from '../store/rocks';
import { createActivation, loadChecked, scrubStore, type Current } from './activation';
import type { RawRecord } from './decode';
import { failPoint } from './failpoints';
import { createFold } from './fold';
import { createFollower, type FollowerStatus } from './follower';
import { Gatherer, unfolded } from './gather';
import { backoffMs, Health, pause, type Trouble } from './health';
import { createMembership } from './membership';
import type { PassResult } from './pass';
import { createPublication, createPublisher, mergeCommits, type Commits } from './publisher';
import { createRoleMachine, shownRole, type ShownRole } from './role';
import { hasPendingOutbox, readFirstImages, storedLineage, storedMarkerPosition } from './layout';
import { readThroughOf } from './load';
import { GENESIS, StateMiss, tpKey, WorkingState } from './state';
import { createTicker } from './ticker';

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

/** The least time between two commits of Kafka offsets for monitoring. */
const MONITORING_COMMIT_MS = 500;

/** What the engine reports as it works; the metrics observe it, nothing decides by it. */
export interface EngineObserver {
  /** A pass committed `records` input records as `result`. */
  passed(result: PassResult, records: number): void;
  /** The outboxes under `keys` were published in one transaction that took `seconds`. */
  published(keys: readonly string[], seconds: number): void;
  /** This instance became the active one under `generation`. */
  activated(generation: number): void;
}

/** How many of an entity read through the store a CoordinatorView lists: the console's 500 rows, and one to tell there are more. */
export const VIEW_ROWS = 501;

/** The coordinator's state as its last committed snapshot left it, for the console and the metrics. */
export interface CoordinatorView {
  readonly snapshot: { readonly id: string; readonly ts: string; readonly logTimeMs: number };
  /**
   * The entities of one kind (the names in projections/model.ts), in key order; of an entity
   * read through the store (logical sources, sinks), only the first VIEW_ROWS.
   */
  list<I extends Image>(entity: Entity<I>): readonly (readonly [string, I])[];
  get<I extends Image>(entity: Entity<I>, key: string): I | undefined;
  /** Each input partition this instance folds: the next offset to fold, and the log end its last fetch saw. */
  readonly inputs: readonly { readonly topic: string; readonly partition: number; readonly next: bigint; readonly end: bigint | undefined }[];
}

export interface CoordinatorStatus {
  /** Active and consuming. */
  readonly ready: boolean;
  readonly role: ShownRole;
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
  /** Images of the entities read through RocksDB held in memory now (at most stateCacheEntries between passes). */
  readonly cachedImages: number;
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
    maxBatchSize: config.maxBatchSize,
    batchTimeoutMs: config.batchTimeoutMs,
    // Room for the batch a backlog grows to and the one after it.
    maxBuffered: Math.max(config.batchSize * 4, config.maxBatchSize * 2),
    maxBufferedBytes: 64 * 1024 * 1024,
    maxBatchBytes: 16 * 1024 * 1024,
    // Requests first: an ask is never queued behind a backlog of heartbeats, and its pass takes no other events.
    first: (topic) => kindByTopic.get(topic)?.startsWith('requests.') === true,
    // Except the sessions': a client opens its session, then asks in it.
    companion: (topic) => kindByTopic.get(topic) === 'events.session',
  });

  /** The last committed snapshot, in memory (loaded at start, replaced by a catch-up, advanced by passes and by following). */
  const current: Current = { state: new WorkingState(), meta: GENESIS, offsets: new Map() };
  const through = readThroughOf(deps.projections, config.stateCacheEntries);
  /** The background check of the whole store (see scrubStore), awaited by close. */
  let scrubbing: Promise<void> | undefined;
  /**
   * Once this instance serves (its first activation), the whole store is checked against its
   * digest in the background, so that a start's readiness does not wait for it: a damaged store
   * stops the instance, and its next start rebuilds it from the log.
   */
  const scrubOnce = (): void => {
    scrubbing ??= scrubStore(store, () => !running).then(
      (problem) => {
        if (problem !== undefined && running) fail(new CoordError('STORE_IO', `the store is damaged: ${problem}; the next start copies it aside and rebuilds it from the log`));
        else if (problem === undefined && running) log.info('the store checks out against its snapshot digest', { dir: store.dir });
      },
      (err: unknown) => {
        if (running) log.warn('the background check of the store did not finish', { error: errorMessage(err) });
      },
    );
  };
  /** Next offset the pass accepts per owned partition; records below it were folded already. */
  const expected = new Map<string, bigint>();
  /** joining → standby (nothing assigned) or activating → active; the moves allowed are in src/engine/role.ts. */
  const role = createRoleMachine('joining', (from, to) => log.debug('role', { from, to }));
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

  const publication = createPublication({
    publisher,
    store,
    log,
    snapshotsTopic,
    write: writeUntilDone,
    generation: () => activation.generation,
    lag: currentLag,
    stoodDown: () => role.is('stoodDown'),
    observed: (keys, seconds) => deps.observer?.published(keys, seconds),
    failed: (err) => fail(err),
    caughtUp: (commits) => commitForMonitoring(commits),
  });

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
        await publication.published();
        if (await hasPendingOutbox(store)) throw new Error('the store holds snapshots this instance committed and has not published; its activation publishes or rebuilds them');
        const { state, meta, offsets } = current;
        const known = await storedMarkerPosition(store);
        if ((known === undefined && meta.id !== 0n) || (known !== undefined && known.id !== meta.id))
          throw new Error(`the store stands at snapshot ${meta.id} but knows the marker of snapshot ${known?.id ?? 'none'}; its activation catches up`);
        const lineage = meta.id === 0n ? undefined : await storedLineage(store);
        return { state, meta, offsets, marker: known === undefined ? undefined : { id: known.id, offset: known.offset }, lineage };
      }),
    still: (s, m) => role.is('standby') && running && s === current.state && m === current.meta,
    followed: (m, marker) => {
      current.meta = m;
      for (const r of marker.inputs) current.offsets.set(tpKey(r.topic, r.partition), r.toOffset + 1n);
    },
    skipped: () => void counters.markersSkipped++,
  });

  const ticker = createTicker({ kafka, codec, log, health, config, active: () => role.is('active'), state: () => current.state, generation: () => activation.generation });

  /** This instance's latest activation that went as far as serving: the group's assignor keeps the partitions with the newest. */
  let served = { generation: 0, atMs: 0 };
  const activation = createActivation({
    kafka,
    codec,
    store,
    log,
    readThrough: through,
    topicPrefix: config.topicPrefix,
    snapshotsTopic,
    inputTopics,
    projections: deps.projections,
    logicVersion: deps.logicVersion,
    current,
    role,
    health,
    publisher,
    publication,
    follower,
    exclusive,
    expected,
    lowWatermarks: () => low,
    running: () => running,
    mayFence: () => running && Date.now() - lastHeartbeatMs < config.sessionTimeoutMs * 0.8,
    markerSkipped: () => void counters.markersSkipped++,
    activated: (generation) => {
      served = { generation, atMs: Date.now() };
      deps.observer?.activated(generation);
      ticker.start();
      scrubOnce();
    },
  });

  /**
   * Membership, as this instance can know it: the group coordinator answered a heartbeat lately.
   * Past most of the session timeout without one, another instance may have taken over, so this
   * one neither publishes nor starts a producer (which would fence the new active) until a
   * heartbeat or a rebalance says where it stands.
   */
  let lastHeartbeatMs = 0;
  let lastOwned: readonly { topic: string; partition: number }[] = [];
  const mayPublish = (): boolean => running && role.is('active', 'activating') && Date.now() - lastHeartbeatMs < config.sessionTimeoutMs * 0.8;

  /**
   * A publication given up because this instance may no longer be the active one: it stops
   * folding (what it committed waits in the store) until its membership is confirmed; then it
   * activates again from RocksDB, as after a restart, publishing the outbox first.
   */
  const standDown = (err: unknown): void => {
    if (role.is('stoodDown', 'stopped')) return;
    // What waits to be published stays in the store: the next activation publishes it first, in order.
    publication.drop();
    expected.clear();
    gatherer.drop();
    membership.current()?.pause(inputTopics.map((topic) => ({ topic })));
    // Only an instance that publishes stands down; a standby or a joining one has nothing to publish before its next activation.
    if (role.is('active', 'activating')) role.to('stoodDown');
    log.warn('standing down until the group confirms this instance is active; what it committed waits in the store', { error: errorMessage(err) });
  };

  const pass = async (records: RawRecord[]): Promise<void> => {
    // Only records not folded yet, each once: a batch put back after a rebalance may meet its refetched copy.
    const fresh = unfolded(records, expected);
    if (fresh.length === 0) return;
    const result = await fold(fresh, current.state, current.meta, { holdUnknownSchemas, generation: activation.generation });
    failPoint('commit.before-publish');
    current.meta = result.meta;
    deps.observer?.passed(result, fresh.length);
    const commits = result.inputs.map((r) => ({ topic: r.topic, partition: r.partition, offset: (r.toOffset + 1n).toString() }));
    for (const c of commits) {
      current.offsets.set(tpKey(c.topic, c.partition), BigInt(c.offset));
      expected.set(tpKey(c.topic, c.partition), BigInt(c.offset));
    }
    counters.applied += result.applied;
    counters.rejected += result.rejected;
    counters.passes++;
    counters.conflicts += result.conflicts;
    counters.tooLarge += result.tooLarge;
    for (const [code, n] of Object.entries(result.dlq)) dlqCounts[code] = (dlqCounts[code] ?? 0) + n;
    await publication.enqueue(result.outbox, commits);
  };

  /**
   * Kafka's committed offsets are for monitoring only (the truth is in RocksDB), so they never
   * hold up a pass: one commit at a time, the newest offsets waiting for the next turn, and at
   * most one every MONITORING_COMMIT_MS, as Kafka Streams commits once a commit interval: a
   * commit a pass (50 a second at 200 asks/s) was a write to __consumer_offsets that the broker
   * did beside every transaction, for offsets no one reads that often.
   */
  let nextCommit: Commits | undefined;
  let committing = false;
  const commitForMonitoring = (commits: Commits): void => {
    nextCommit = mergeCommits(nextCommit, commits);
    if (committing) return;
    committing = true;
    void (async () => {
      while (nextCommit !== undefined && running) {
        const c = nextCommit;
        nextCommit = undefined;
        await membership.current()?.commitOffsets([...c]).catch((err) => log.debug('offset commit for monitoring failed', { error: errorMessage(err) }));
        await pause(MONITORING_COMMIT_MS, () => !running);
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
    else if (isCoordError(err, 'TRANSACTIONAL_ID_FORBIDDEN')) log.error('refused its transactional id (an ACL is missing, no other instance fenced it); stopping without publishing', { error: errorMessage(err) });
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

  /** The consumers whose heartbeat started a resume that is under way (one at a time each, as each consumer had its own). */
  const resuming = new WeakSet<Consumer>();
  /** What the group's answers mean for this instance: activate, stand by, stand down or resume. */
  const membership = createMembership({
    kafka,
    config,
    inputTopics,
    assigner: singleActiveAssigner(startedAt, () => served),
    log,
    health,
    running: () => running,
    fail,
    onJoin: (c, payload) => {
      // Synchronously, before the first fetch: nothing is consumed until the store agrees with the log.
      expected.clear();
      gatherer.drop();
      if (role.is('stopped')) return;
      lastHeartbeatMs = Date.now();
      health.ok('consumer');
      const attempt = activation.next();
      const owned = Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })));
      lastOwned = owned;
      if (owned.length === 0) {
        role.to('standby');
        log.info('standing by: another instance is active', { memberId: payload.memberId });
        follower.start();
        return;
      }
      role.to('activating');
      c.pause(inputTopics.map((topic) => ({ topic })));
      activation.activate(c, owned, attempt).catch(fail);
    },
    onHeartbeat: (c) => {
      lastHeartbeatMs = Date.now();
      // Still a member of the same generation after standing down: the partitions are still ours.
      if (!role.is('stoodDown') || resuming.has(c) || lastOwned.length === 0) return;
      resuming.add(c);
      log.info('the group confirms this instance is still active; activating again from RocksDB');
      activation
        .activate(c, lastOwned, activation.next())
        .catch(fail)
        .finally(() => resuming.delete(c));
    },
    onCrash: (payload) => {
      if (role.is('stopped')) return;
      role.to('joining');
      log.error('consumer crashed', { error: errorMessage(payload.error), restart: payload.restart });
    },
    onSilence: (silentMs) => {
      log.error('no word from the group for longer than a rebalance may take; a new consumer joins it again', { silentMs, role: role.current });
      // Nothing more is folded or published under the silent membership, and an activation under way is moot; the next join activates from RocksDB.
      activation.next();
      publication.drop();
      expected.clear();
      gatherer.drop();
      void follower.stop();
      role.to('joining');
    },
    onBatch: async (c, { batch, heartbeat, isStale, pause }) => {
      const k = tpKey(batch.topic, batch.partition);
      // A batch fetched before a stand-down or a rebalance, or by a consumer given up, is not folded: the next activation seeks where the store stands.
      if (membership.current() !== c || isStale() || !expected.has(k)) return;
      highWatermarks.set(k, BigInt(batch.highWatermark));
      const records = batch.messages.map((m) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key,
        value: m.value,
        headers: m.headers,
        timestamp: m.timestamp,
      }));
      if (gatherer.isFirst(batch.topic)) {
        await gatherer.push(records, heartbeat);
        return;
      }
      // The events lane full: this partition is fetched no further until a pass makes room, and the requests' fetches go on.
      if (gatherer.offer(records)) {
        const resume = pause();
        gatherer.whenRoom(() => {
          if (membership.current() === c && role.is('active')) resume();
        });
      }
    },
  });

  const start = async (): Promise<void> => {
    // The store's load and the input topics' checks are independent: they run side by side, so a
    // restart waits for the longer of them, not their sum. The topics' first offsets are read only
    // once their checks pass (a missing topic fails at once, not after the reads' retries). Both
    // are settled before start goes on or fails, so nothing of a failed start still runs after it.
    const loading = loadChecked(store, log, through);
    const checking = withAdmin(kafka, (admin) => inputTopicProblems(admin, inputTopics)).then(async (problems) => {
      if (problems.length > 0) throw new CoordError('ENV_INVALID', problems.join('; '));
      return lowWatermarks(kafka, inputTopics);
    });
    await Promise.allSettled([loading, checking]);
    ({ state: current.state, meta: current.meta, offsets: current.offsets } = await loading);
    log.info('loaded state from RocksDB', { dir: store.dir, snapshotId: current.meta.id.toString(), partitions: current.offsets.size });
    low = await checking;

    running = true;
    loop = runLoop();
    await membership.join();
  };

  let closing: Promise<void> | undefined;
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const close = (): Promise<void> => {
    closing ??= (async () => {
      running = false;
      role.to('stopped');
      await follower.stop();
      await ticker.stop();
      gatherer.close();
      await membership.close();
      await loop;
      await publication.published();
      await publisher.close();
      await scrubbing;
      markClosed();
    })();
    return closing;
  };

  const view = (firsts: ReadonlyMap<string, readonly (readonly [string, Image])[]>): CoordinatorView => ({
    snapshot: { id: current.meta.id.toString(), ts: current.meta.ts.toString(), logTimeMs: current.meta.logTimeMs },
    // Images are never changed in place: what the state holds is what a reader sees.
    list: <I extends Image>(entity: Entity<I>) => (firsts.get(entity) as readonly (readonly [string, I])[] | undefined) ?? [...current.state.list(entity)],
    get: (entity, key) => current.state.get(entity, key),
    inputs: [...expected].map(([k, next]) => {
      const at = k.lastIndexOf(':');
      return { topic: k.slice(0, at), partition: Number(k.slice(at + 1)), next, end: highWatermarks.get(k) };
    }),
  });

  return {
    start,
    close,
    closed,
    // Between passes, memory equals the store: a list of an entity read through it reads its first rows from
    // RocksDB (never the whole entity into the cache), a get the one image.
    read: (fn) =>
      exclusive(async () => {
        const firsts = new Map<string, readonly (readonly [string, Image])[]>();
        for (;;) {
          let miss: StateMiss | undefined;
          try {
            return fn(view(firsts));
          } catch (err) {
            if (!(err instanceof StateMiss)) throw err;
            miss = err;
          }
          if (miss.key === undefined && !miss.history) firsts.set(miss.entity, await readFirstImages(store, miss.entity, VIEW_ROWS));
          else await current.state.fetch(miss);
        }
      }),
    status: () => ({
      ready: running && role.is('active') && health.stalled(config.stallThresholdMs).length === 0,
      role: shownRole(role.current),
      generation: activation.generation,
      snapshotId: current.meta.id.toString(),
      snapshotTs: current.meta.ts.toString(),
      digest: digestHex(current.meta.digest),
      applied: counters.applied,
      rejected: counters.rejected,
      passes: counters.passes,
      buffered: gatherer.size,
      cachedImages: current.state.cached,
      problems: health.stalled(config.stallThresholdMs),
      refusals: { dlq: { ...dlqCounts }, setAside: { ...publisher.setAside }, conflicts: counters.conflicts, repliesTooLarge: counters.tooLarge, markersSkipped: counters.markersSkipped },
      retries: { ...health.retries },
      following: follower.status(),
    }),
  };
};
