/**
 * A standby follows the log: it reads the snapshot markers as the active instance publishes
 * them, and the input records each names, and folds every snapshot into its own store as a
 * replay would. A takeover then has only the last few snapshots to catch up on, however old
 * the log is.
 *
 * The follower trusts the same chain of markers a catch-up does, folds with the same fold, and
 * writes each snapshot, with where its marker stands on the log, in one atomic write and
 * without an outbox (the active published it). A snapshot whose digest differs from the one
 * its marker records (within one logic version) stops the following: the store then differs
 * from the log, and the next activation's catch-up rebuilds it.
 */
import { randomUUID } from 'node:crypto';
import { followerGroupPrefix } from '../messaging/acl';
import { createConsumer, subscribe, type Consumer, type Kafka, type KafkaMessage } from '../messaging/clients';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import type { Codec } from '../messaging/codec';
import type { RawRecord } from './decode';
import { failPoint } from './failpoints';
import type { Fold } from './fold';
import { ProofChain, type Lineage } from './logic-version';
import { isRegistryDown, trustMarkers, type ChainStart, type Marker, type MarkerRecord } from './markers';
import { recordId } from './pass';
import { markerPositionEntry } from './layout';
import { markerRecordOf } from './replay';
import { tpKey, type SnapshotMeta, type WorkingState } from './state';

/** Where the store stands: what the follower goes on from. */
export interface FollowFrom {
  readonly state: WorkingState;
  readonly meta: SnapshotMeta;
  /** Next input offset to fold, per `topic:partition`. */
  readonly offsets: ReadonlyMap<string, bigint>;
  /** The marker of the store's last snapshot, and where it stands on the snapshots topic. */
  readonly marker: { readonly id: bigint; readonly offset: bigint } | undefined;
  /** How the store's last snapshot relates to the log (undefined for an empty store). */
  readonly lineage: Lineage | undefined;
}

export interface FollowerDeps {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly log: Logger;
  readonly fold: Fold;
  /** The group id the follower's consumers derive theirs from (each follower has its own group). */
  readonly groupId: string;
  readonly snapshotsTopic: string;
  readonly inputTopics: readonly string[];
  /** Where the store stands now, once no pass or catch-up is under way; asked once per start. */
  readonly from: () => Promise<FollowFrom>;
  /** Runs `fn` alone: never beside a pass or a catch-up. */
  readonly exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Inside a turn: whether the instance still stands by on this state (an activation takes it over). */
  readonly still: (state: WorkingState, meta: SnapshotMeta) => boolean;
  /** After each snapshot folded: the state the store now holds. */
  readonly followed: (meta: SnapshotMeta, marker: Marker) => void;
  /** A record on the snapshots topic that is not part of the chain. */
  readonly skipped: () => void;
  /** Most input records held ahead of the snapshots that name them. */
  readonly maxBuffered?: number;
  /** Longest the next snapshot waits for input records that do not arrive (not retained any more). */
  readonly inputWaitMs?: number;
}

export interface FollowerStatus {
  readonly state: 'stopped' | 'following' | 'failed';
  /** Snapshots read on the log but not folded yet (their inputs still arriving, or the fold behind). */
  readonly behind: number;
  /** Why it stopped following, when it failed. */
  readonly error?: string;
}

export interface Follower {
  /** Starts following, from where the store stands; a follower already following goes on. */
  start(): void;
  /** Stops following; resolves once the snapshot being folded is written. */
  stop(): Promise<void>;
  status(): FollowerStatus;
}

const RETRY_MS = 1_000;
/** Most snapshot markers read ahead of the fold before the follower stops reading them. */
const MAX_MARKERS_AHEAD = 1_000;

/** The instance stopped standing by on the state the follower folds: not a failure. */
class Superseded extends Error {}

interface Run {
  readonly consumer: Consumer;
  readonly loop: Promise<void>;
  readonly behind: () => number;
}

export const createFollower = (deps: FollowerDeps): Follower => {
  const { log } = deps;
  const maxBuffered = deps.maxBuffered ?? 50_000;
  const inputWaitMs = deps.inputWaitMs ?? 60_000;
  let current: { stop: () => Promise<void>; behind: () => number } | undefined;
  let failure: string | undefined;

  const follow = async (stopped: () => boolean, wake: { fn: () => void }): Promise<Run> => {
    const at = await deps.from();
    const { state } = at;
    let { meta } = at;
    const proofs = new ProofChain(at.lineage);
    /** Per input partition, records fetched and not folded, in offset order. */
    const inputs = new Map<string, RawRecord[]>();
    let buffered = 0;
    /** Per input partition, the next offset to fold. */
    const next = new Map(at.offsets);
    const paused = new Set<string>();
    /** Records of the snapshots topic not judged yet. */
    let unread: KafkaMessage[] = [];
    /** The next offset to read on the snapshots topic, so a rebalance of the follower's own group reads nothing twice. */
    let snapshotsFrom = at.marker?.offset ?? 0n;
    let snapshotsPaused = false;
    let lastTrusted: MarkerRecord | undefined;
    let chainFrom: ChainStart = at.marker === undefined ? { fromBeginning: true } : { knownSnapshotId: at.marker.id, fromBeginning: false };
    /** Trusted markers past the store's snapshot, not folded yet. */
    const ready: Marker[] = [];
    let crashed: string | undefined;

    const consumer = createConsumer(deps.kafka, { groupId: `${followerGroupPrefix(deps.groupId)}${randomUUID()}` });
    const partitionOf = (k: string): { topic: string; partitions: number[] } => {
      const i = k.lastIndexOf(':');
      return { topic: k.slice(0, i), partitions: [Number(k.slice(i + 1))] };
    };
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment))
        for (const p of partitions) {
          const from = topic === deps.snapshotsTopic ? snapshotsFrom : next.get(tpKey(topic, p));
          if (from !== undefined) consumer.seek({ topic, partition: p, offset: from.toString() });
        }
    });
    // kafkajs gives some errors up for good: the follower then stops and says why; the next activation catches up from the markers.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      crashed = errorMessage(payload.error);
      wake.fn();
    });
    await consumer.connect();
    try {
      await subscribe(consumer, [deps.snapshotsTopic, ...deps.inputTopics], true);
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    void consumer.run({
      eachBatch: async ({ batch }) => {
        if (batch.topic === deps.snapshotsTopic) {
          for (const m of batch.messages)
            if (BigInt(m.offset) >= snapshotsFrom) {
              unread.push(m);
              snapshotsFrom = BigInt(m.offset) + 1n;
            }
          // Markers run ahead of the fold only so far.
          if (unread.length + ready.length > MAX_MARKERS_AHEAD && !snapshotsPaused) {
            snapshotsPaused = true;
            consumer.pause([{ topic: deps.snapshotsTopic }]);
          }
        } else {
          const k = tpKey(batch.topic, batch.partition);
          const q = inputs.get(k) ?? [];
          // A record fetched again (after a rebalance of the follower's own group) is not taken twice.
          let last = q.length === 0 ? (next.get(k) ?? 0n) - 1n : BigInt(q[q.length - 1].offset);
          for (const m of batch.messages) {
            const offset = BigInt(m.offset);
            if (offset <= last) continue;
            last = offset;
            q.push({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp });
            buffered++;
          }
          inputs.set(k, q);
          // Inputs run ahead of the markers that name them only so far (a partition the next marker waits for is resumed).
          if (buffered > maxBuffered && !paused.has(k)) {
            paused.add(k);
            consumer.pause([partitionOf(k)]);
          }
        }
        wake.fn();
      },
    });

    /** Judges what was read on the snapshots topic; trusted markers past the store's snapshot wait in `ready`. */
    const judge = async (): Promise<void> => {
      if (unread.length === 0) return;
      const records: MarkerRecord[] = [];
      for (const m of unread) records.push(await markerRecordOf(deps.codec, m)); // a registry away throws, and the same records are judged again
      unread = [];
      const chain = trustMarkers(lastTrusted === undefined ? records : [lastTrusted, ...records], chainFrom);
      if (chain.markers.length === 0 && chain.opensPastStart !== undefined && chain.opensPastStart.offset > 0n)
        // Every later marker would be skipped the same way: following cannot begin, and says so once.
        throw new Error(
          `the snapshots topic now opens at snapshot ${chain.opensPastStart.snapshotId} (offset ${chain.opensPastStart.offset}): its first snapshots were deleted, ` +
            'and no checkpoint was there to start from, so an empty folder cannot be rebuilt by following the log; let the active instance write a checkpoint ' +
            '(checkpointIntervalMs) and restart this one with an empty folder, or start it from a copy of a standby\'s folder (README, "Checkpoints")',
        );
      for (const s of chain.skipped) {
        log.warn('skipped a record on the snapshots topic that is not part of the snapshot chain', { offset: s.offset.toString(), reason: s.reason });
        deps.skipped();
      }
      const newest = chain.markers[chain.markers.length - 1];
      if (newest !== undefined) {
        lastTrusted = records.find((r) => r.offset === newest.offset) ?? lastTrusted;
        chainFrom = { knownSnapshotId: newest.snapshotId, fromBeginning: false };
      }
      for (const m of chain.markers) if (m.snapshotId > (ready[ready.length - 1]?.snapshotId ?? meta.id)) ready.push(m);
    };

    /** The records a marker names, once all have arrived (undefined while some have not), and how to let them go once folded. */
    const peek = (marker: Marker): { batch: RawRecord[]; done: () => void } | undefined => {
      const batch: RawRecord[] = [];
      const ends: [string, number, bigint][] = [];
      for (const r of marker.inputs) {
        const k = tpKey(r.topic, r.partition);
        const q = inputs.get(k) ?? [];
        const last = q.length === 0 ? -1n : BigInt(q[q.length - 1].offset);
        if (last < r.toOffset) {
          // The next snapshot waits for this partition: it must be fetching, whatever the buffer holds.
          if (paused.delete(k)) consumer.resume([partitionOf(k)]);
          return undefined;
        }
        let start = 0;
        while (start < q.length && BigInt(q[start].offset) < r.fromOffset) start++;
        let end = start;
        while (end < q.length && BigInt(q[end].offset) <= r.toOffset) end++;
        batch.push(...q.slice(start, end));
        ends.push([k, end, r.toOffset + 1n]);
      }
      return { batch, done: () => release(ends) };
    };

    const release = (ends: readonly [string, number, bigint][]): void => {
      for (const [k, end, nextOffset] of ends) {
        inputs.set(k, (inputs.get(k) ?? []).slice(end));
        buffered -= end;
        next.set(k, nextOffset);
      }
      if (buffered <= maxBuffered / 2 && paused.size > 0) {
        for (const k of paused) consumer.resume([partitionOf(k)]);
        paused.clear();
      }
      if (snapshotsPaused && unread.length + ready.length <= MAX_MARKERS_AHEAD / 2) {
        snapshotsPaused = false;
        consumer.resume([{ topic: deps.snapshotsTopic }]);
      }
    };

    const foldOne = async (marker: Marker, batch: RawRecord[]): Promise<void> => {
      if (!deps.still(state, meta)) throw new Superseded();
      if (marker.snapshotId !== meta.id + 1n) throw new Error(`the log's next snapshot is ${marker.snapshotId}, but the store stands at ${meta.id}`);
      if (batch.length !== marker.records)
        throw new Error(`snapshot ${marker.snapshotId} folded ${marker.records} input records, but ${batch.length} of them are on the log now; are the inputs still retained?`);
      const recorded = marker.rejected === undefined ? undefined : new Map(marker.rejected.map((r) => [recordId(r), r.code]));
      // Checked before it is written: a diverged snapshot throws and leaves the store where it stood.
      const result = await deps.fold(batch, state, meta, {
        recorded,
        published: { alsoPut: [markerPositionEntry(marker)], marker, baseProven: proofs.baseProven(), refuseDiverged: true },
      });
      meta = result.meta;
      proofs.folded(result.check ?? 'diverged');
      deps.followed(meta, marker);
      // A standby keeping up with the log is catching up, one snapshot at a time.
      failPoint('catch-up.mid');
    };

    const loop = (async () => {
      let waitingSince: number | undefined;
      while (!stopped()) {
        try {
          if (crashed !== undefined) throw new Error(`its consumer gave up: ${crashed}`);
          await judge();
          const marker = ready[0];
          const taken = marker === undefined ? undefined : peek(marker);
          if (marker === undefined || taken === undefined) {
            waitingSince = marker === undefined ? undefined : (waitingSince ?? Date.now());
            if (waitingSince !== undefined && Date.now() - waitingSince > inputWaitMs)
              throw new Error(`the input records of snapshot ${marker?.snapshotId} did not arrive within ${inputWaitMs} ms; are they still retained?`);
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 500);
              wake.fn = () => {
                clearTimeout(t);
                resolve();
              };
            });
            continue;
          }
          waitingSince = undefined;
          await deps.exclusive(() => foldOne(marker, taken.batch));
          ready.shift();
          taken.done();
        } catch (err) {
          if (stopped()) return;
          if (err instanceof Superseded) return;
          if (isRegistryDown(err)) {
            log.warn('following the log waits for the schema registry', { error: errorMessage(err) });
            await new Promise((r) => setTimeout(r, RETRY_MS));
            continue;
          }
          failure = errorMessage(err);
          log.error('stopped following the log; the next activation catches up or rebuilds', { error: failure });
          await consumer.disconnect().catch(() => undefined);
          return;
        }
      }
    })();
    return { consumer, loop, behind: () => ready.length + unread.length };
  };

  return {
    start: () => {
      if (current !== undefined) return;
      failure = undefined;
      let stopping = false;
      const wake = { fn: () => undefined as void };
      const started = follow(() => stopping, wake);
      const run = {
        behind: () => 0,
        stop: async () => {
          stopping = true;
          wake.fn();
          const r = await started.catch(() => undefined);
          if (r === undefined) return;
          await r.consumer.disconnect().catch(() => undefined);
          await r.loop;
        },
      };
      current = run;
      started.then(
        (r) => {
          run.behind = r.behind;
          log.info('following the log as a standby');
        },
        (err: unknown) => {
          failure = errorMessage(err);
          log.warn('could not start following the log; the next activation catches up from the markers', { error: failure });
        },
      );
    },
    stop: async () => {
      const r = current;
      current = undefined;
      await r?.stop();
      failure = undefined;
    },
    status: () => ({ state: failure !== undefined ? 'failed' : current === undefined ? 'stopped' : 'following', behind: current?.behind() ?? 0, ...(failure === undefined ? {} : { error: failure }) }),
  };
};
