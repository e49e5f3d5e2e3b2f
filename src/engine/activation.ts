/**
 * Activation: before an instance serves, its store must agree with the snapshots the log
 * records (the catch-up), and only then does it resume consuming where its store stands.
 * Also the checked load at start, which rebuilds a store that does not match its own digest.
 */
import { cpSync } from 'node:fs';
import type { Projection } from '../../projections';
import { errorMessage, isCoordError } from '../errors';
import type { Logger } from '../log';
import type { Consumer, Kafka } from '../messaging/clients';
import type { Codec } from '../messaging/codec';
import { highWatermarks as logEnds } from '../messaging/kafka';
import { digestHex } from '../store/digest';
import type { Store } from '../store/rocks';
import { failPoint } from './failpoints';
import type { Follower } from './follower';
import type { Health } from './health';
import { MOOT, retryWhilePassing } from './retry-step';
import { LOGIC_VERSION } from './logic-version';
import { clearSuspicionOps, storedLineage, storedMarkerPosition, storedSuspicion, suspectOps, WIPE } from './layout';
import type { Publication, Publisher } from './publisher';
import { readMarkers, replayOnto, type Marker } from './replay';
import type { RoleMachine } from './role';
import { loadState, storeDigest, type ReadThrough } from './load';
import { tpKey, type SnapshotMeta, type WorkingState } from './state';

/** The snapshot the coordinator holds in memory: replaced whole by a load, advanced by every pass. */
export interface Current {
  state: WorkingState;
  meta: SnapshotMeta;
  /** Next input offset to fold, per `topic:partition`, as the store records it. */
  offsets: Map<string, bigint>;
}

/**
 * The store as the last snapshot left it. A store that does not match its snapshot's digest (a
 * damaged file, a hand edit) is copied aside for a look and emptied, and the catch-up rebuilds
 * it from the log. With `through`, only what the state holds whole is read, and the whole store
 * is checked only when an earlier check (`scrubStore`, in the background) found it damaged.
 */
export const loadChecked = async (store: Store, log: Logger, through?: ReadThrough): Promise<Current> => {
  let problem: string | undefined;
  try {
    const suspicion = through === undefined ? undefined : await storedSuspicion(store);
    if (through !== undefined && suspicion === undefined) {
      const { state, meta, offsets } = await loadState(store, through);
      return { state, meta, offsets };
    }
    const { state, meta, offsets, digest } = await loadState(store);
    if (digest === meta.digest) {
      if (through === undefined) return { state, meta, offsets };
      log.warn('the store was suspected damaged, and checks out whole', { dir: store.dir, suspicion });
      await store.write(clearSuspicionOps);
      return loadChecked(store, log, through);
    }
    problem = `its entities sum to digest ${digest === undefined ? 'none' : digestHex(digest)}, not ${digestHex(meta.digest)} as snapshot ${meta.id} recorded`;
  } catch (err) {
    if (isCoordError(err, 'STORE_IO') || isCoordError(err, 'STORE_CLOSED')) throw err;
    problem = `it does not read back: ${errorMessage(err)}`;
  }
  const aside = `${store.dir}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  cpSync(store.dir, aside, { recursive: true });
  log.error('the store is corrupt; it was copied aside and is rebuilt from the log', { dir: store.dir, copiedTo: aside, problem });
  await store.write(WIPE);
  const { state, meta, offsets } = await loadState(store, through);
  return { state, meta, offsets };
};

/**
 * Checks the whole store against its snapshot's digest, at one instant, while passes go on.
 * Resolves to what is wrong, recorded in the store so that the next start rebuilds it; undefined
 * when it checks out.
 */
export const scrubStore = async (store: Store, stopped?: () => boolean): Promise<string | undefined> => {
  const whole = await storeDigest(store, stopped);
  if (whole === undefined || whole.digest === whole.meta.digest) return undefined;
  const { digest, meta } = whole;
  const problem = `its entities sum to digest ${digestHex(digest)}, not ${digestHex(meta.digest)} as snapshot ${meta.id} recorded`;
  await store.write(suspectOps(problem));
  return problem;
};

export interface ActivationDeps {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly store: Store;
  readonly log: Logger;
  readonly topicPrefix: string;
  readonly snapshotsTopic: string;
  readonly inputTopics: readonly string[];
  readonly projections?: readonly Projection[];
  /** What the state reads through the store, and its cache. */
  readonly readThrough: ReadThrough;
  /** The logic version of `projections`, as the coordinator was given it (none: the registry's own). */
  readonly logicVersion?: number;
  /** The snapshot in memory: a catch-up replaces it with what the store holds after it. */
  readonly current: Current;
  readonly role: RoleMachine;
  readonly health: Health;
  readonly publisher: Pick<Publisher, 'fence'>;
  readonly publication: Pick<Publication, 'published' | 'publishLeftovers'>;
  /** A standby's following stops before a catch-up: it folds inside the same turns. */
  readonly follower: Pick<Follower, 'stop'>;
  /** Runs `fn` alone: never beside a pass. */
  readonly exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Next offset the pass accepts per owned partition: set once the store agrees with the log. */
  readonly expected: Map<string, bigint>;
  /** Each input partition's first offset at start: where one this store never folded begins. */
  readonly lowWatermarks: () => ReadonlyMap<string, string>;
  readonly running: () => boolean;
  /** Whether the group confirmed this member lately (a heartbeat within most of the session timeout): only then may a retry fence. */
  readonly mayFence: () => boolean;
  /** A record on the snapshots topic that is not part of the chain of markers. */
  readonly markerSkipped: () => void;
  /** The instance is active under `generation`: it ticks, and the metrics are told. */
  readonly activated: (generation: number) => void;
}

export interface Activation {
  /** A new attempt, after a rebalance or a confirmed membership: every earlier one becomes moot. */
  next(): number;
  /** Catches up, then resumes `consumer` on `owned` where the store stands; gives up quietly once `attempt` is moot. */
  activate(consumer: Consumer, owned: readonly { topic: string; partition: number }[], attempt: number): Promise<void>;
  /** The activation this instance publishes under, one past the newest the log shows (0 before the first). */
  readonly generation: number;
}

export const createActivation = (deps: ActivationDeps): Activation => {
  const { kafka, codec, store, log, current, role, health, snapshotsTopic, inputTopics } = deps;
  let generation = 0;
  let activation = 0;

  const reload = async (): Promise<void> => {
    ({ state: current.state, meta: current.meta, offsets: current.offsets } = await loadState(store, deps.readThrough));
  };

  /**
   * Before an instance serves, its store must agree with the snapshots the log records:
   * behind → fold the missing snapshots by replay; ahead (it crashed before publishing) →
   * publish what it has; different → it is a fenced-off former active: rebuild from scratch.
   * Resolves to why the instance must not serve, if it must not.
   */
  const catchUp = async (): Promise<string | undefined> => {
    // Fence first: once a new transactional producer is initialised, no earlier active (nor an earlier self) can publish.
    await deps.publisher.fence();
    failPoint('activation.after-fence');
    const known = await storedMarkerPosition(store);
    // Only the chain of markers is trusted: garbage, forged ids and markers without a generation are skipped and counted.
    const onSkip = deps.markerSkipped;
    let markers = await readMarkers(kafka, codec, snapshotsTopic, known?.offset, {
      knownSnapshotId: known?.id,
      log,
      onSkip,
    });
    // This activation's generation: one past every generation this store or the log has seen.
    generation = Math.max(known?.generation ?? 0, ...markers.map((m) => m.generation)) + 1;
    const { meta, offsets } = current;
    const mine = markers.find((m) => m.snapshotId === meta.id);
    const beyond = markers.some((m) => m.snapshotId > meta.id);
    // Same id is not enough: the same digest, timestamp and input offsets make it the same snapshot. Digests compare
    // only when one version folded both and the store's state is proven to be the log's; else timestamp and inputs must agree.
    const lineage = await storedLineage(store);
    const same = (m: Marker): boolean =>
      (!lineage.proven || lineage.logicVersion !== m.logicVersion || m.digest === digestHex(meta.digest)) &&
      m.snapshotTs === meta.ts &&
      m.inputs.every((r) => offsets.get(tpKey(r.topic, r.partition)) === r.toOffset + 1n);
    const diverged = meta.id > 0n && (mine === undefined ? beyond : !same(mine));
    if (diverged) {
      log.warn('local state differs from the snapshots on the log; rebuilding it by replay', { localSnapshotId: meta.id.toString(), dir: store.dir });
      await store.write(WIPE);
      await reload();
      markers = await readMarkers(kafka, codec, snapshotsTopic, undefined, { log, onSkip });
    }
    const missing = markers.filter((m) => m.snapshotId > current.meta.id);
    if (missing.length > 0) {
      log.info('catching up from the log', { from: current.meta.id.toString(), to: missing[missing.length - 1].snapshotId.toString() });
      const report = await replayOnto(
        { kafka, codec, store, log, topicPrefix: deps.topicPrefix, verify: true, projections: deps.projections, logicVersion: deps.logicVersion },
        missing,
        current.state,
        current.meta,
      );
      if (report.otherVersion > 0)
        log.warn('this build decided snapshots of another logic version again and reached other digests', { snapshots: report.otherVersion, logicVersion: deps.logicVersion ?? LOGIC_VERSION });
      if (report.mismatch !== undefined)
        throw new Error(`catching up diverged at snapshot ${report.mismatch.snapshotId}: the log recorded ${report.mismatch.expected}, this instance reached ${report.mismatch.actual}`);
      await reload();
    }
    // A state not proven to be the log's (another version decided its snapshots differently) must not serve: the log would
    // go on from a state it never recorded. Its snapshots stay in the store for a look; nothing was published from them.
    if (current.meta.id > 0n && !(await storedLineage(store)).proven)
      return `this build (logic version ${deps.logicVersion ?? LOGIC_VERSION}) decides the log's snapshots differently from the build that wrote them: its state at snapshot ${current.meta.id} is not the log's, so it cannot take over from a folder it folded itself; upgrade a folder the older build kept up to date instead (README, Upgrades)`;
    await deps.publication.publishLeftovers();
    return undefined;
  };

  const retrying = <T>(attempt: number, step: string, fn: (tries: number) => Promise<T>): Promise<T | typeof MOOT> =>
    retryWhilePassing({ health, log, moot: () => !deps.running() || attempt !== activation, mayFence: deps.mayFence }, step, fn);

  const activate = async (c: Consumer, owned: readonly { topic: string; partition: number }[], attempt: number): Promise<void> => {
    await deps.follower.stop(); // it folds inside the turns a catch-up takes
    // A registry away during the catch-up (markers, or inputs of schema ids this process has not seen), or a broker
    // away, holds the activation, shown on /readyz, and it goes on once they answer; the snapshots folded so far stay.
    const refusal = await retrying(attempt, 'catch-up', () =>
      deps.exclusive(async () => {
        await deps.publication.published(); // what this instance committed goes out before it fences its own producer
        if (attempt !== activation) return undefined; // a newer rebalance made this one moot
        if (role.is('stoodDown')) role.to('activating');
        try {
          return await catchUp();
        } catch (err) {
          // What an interrupted catch-up folded is in the store; memory holds where it stood: the next try or activation starts from the store.
          await reload().catch(() => undefined);
          throw err;
        }
      }),
    );
    if (refusal === MOOT || attempt !== activation) return;
    if (refusal !== undefined) {
      health.failing('environment', refusal);
      log.error('refusing to serve', { reason: refusal });
      return;
    }
    // A stored offset past the log end means the topic was deleted and created again (or truncated):
    // resuming would skip or refold input silently, so this instance refuses to serve and says why.
    const ends = await retrying(attempt, 'log ends', () => logEnds(kafka, inputTopics));
    if (ends === MOOT || attempt !== activation) return;
    const behind = owned.flatMap(({ topic, partition }) => {
      const k = tpKey(topic, partition);
      const stored = current.offsets.get(k);
      const end = BigInt(ends.get(k) ?? '0');
      return stored !== undefined && stored > end ? [`${k} resumes at offset ${stored} but the log ends at ${end}`] : [];
    });
    if (behind.length > 0) {
      const message = `input topics were deleted and created again, or truncated, since this store folded them: ${behind.slice(0, 5).join('; ')}; restore the topics, or replay into a new dataDir`;
      health.failing('environment', message);
      log.error('refusing to serve: the store is ahead of the log', { problems: behind.slice(0, 20) });
      return;
    }
    const low = deps.lowWatermarks();
    for (const { topic, partition } of owned) {
      const k = tpKey(topic, partition);
      const from = current.offsets.get(k) ?? BigInt(low.get(k) ?? '0');
      deps.expected.set(k, from);
      c.seek({ topic, partition, offset: from.toString() });
    }
    c.resume(inputTopics.map((topic) => ({ topic })));
    role.to('active');
    deps.activated(generation);
    log.info('active: consuming every input partition', { partitions: owned.length, snapshotId: current.meta.id.toString() });
  };

  return {
    next: () => ++activation,
    activate,
    get generation() {
      return generation;
    },
  };
};
