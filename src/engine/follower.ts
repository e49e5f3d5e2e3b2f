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
import type { Consumer, Kafka } from 'kafkajs';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import type { Codec } from '../messaging/codec';
import { digestHex } from '../store/digest';
import { MARKER_POSITION } from '../store/keys';
import type { RawRecord } from './decode';
import type { Fold } from './fold';
import { checkDigest } from './logic-version';
import { isRegistryDown, trustMarkers, type Marker, type MarkerRecord } from './markers';
import { recordId } from './pass';
import { markerRecordOf } from './replay';
import { tpKey, type SnapshotMeta, type WorkingState } from './state';

/** Where the store stands: what the follower goes on from. */
export interface FollowFrom {
  readonly state: WorkingState;
  readonly meta: SnapshotMeta;
  /** Next input offset to fold, per `topic:partition`. */
  readonly offsets: ReadonlyMap<string, bigint>;
  /** The marker of the store's last snapshot, and where it stands on the snapshots topic. */
  readonly marker: { readonly id: bigint; readonly offset: bigint; readonly generation: number } | undefined;
}

export interface FollowerDeps {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly log: Logger;
  readonly fold: Fold;
  readonly logicVersion: number;
  /** The group id the follower's consumers derive theirs from (each follower has its own group). */
  readonly groupId: string;
  readonly snapshotsTopic: string;
  readonly inputTopics: readonly string[];
  /** Where the store stands now; asked once per start. */
  readonly from: () => Promise<FollowFrom>;
  /** Runs `fn` alone: never beside a pass or a catch-up. */
  readonly exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** After each snapshot folded: the state the store now holds. */
  readonly followed: (meta: SnapshotMeta, marker: Marker) => void;
  /** A record on the snapshots topic that is not part of the chain. */
  readonly skipped: () => void;
  /** Most input records held ahead of the snapshots that name them. */
  readonly maxBuffered?: number;
}

export interface FollowerStatus {
  readonly state: 'stopped' | 'following' | 'failed';
  /** Trusted markers read but not folded yet (their inputs still arriving, or the fold behind). */
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

export const createFollower = (deps: FollowerDeps): Follower => {
  const { log } = deps;
  const maxBuffered = deps.maxBuffered ?? 50_000;
  let run: { stop: () => Promise<void>; behind: () => number } | undefined;
  let failure: string | undefined;

  const follow = async (stopped: () => boolean, wake: { fn: () => void }): Promise<{ consumer: Consumer; loop: Promise<void>; behind: () => number }> => {
    const at = await deps.from();
    let { meta } = at;
    const { state } = at;
    const inputs = new Map<string, RawRecord[]>();
    let buffered = 0;
    const next = new Map(at.offsets);
    /** Snapshot-topic records not judged yet, after the last trusted one. */
    let unread: { m: Parameters<typeof markerRecordOf>[1] }[] = [];
    let lastTrusted: MarkerRecord | undefined;
    let chainFrom = at.marker === undefined ? { fromBeginning: true as const } : { knownSnapshotId: at.marker.id, fromBeginning: false };
    const ready: Marker[] = [];
    const paused = new Set<string>();
    let crashed: string | undefined;

    const consumer = deps.kafka.consumer({ groupId: `${deps.groupId}.follower.${randomUUID()}`, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment))
        for (const p of partitions) {
          if (topic === deps.snapshotsTopic) consumer.seek({ topic, partition: p, offset: (at.marker?.offset ?? 0n).toString() });
          else {
            const from = next.get(tpKey(topic, p));
            if (from !== undefined) consumer.seek({ topic, partition: p, offset: from.toString() });
          }
        }
    });
    // kafkajs gives some errors up for good: the follower then stops, says why, and the next activation catches up from the markers.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      crashed = errorMessage(payload.error);
      wake.fn();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [deps.snapshotsTopic, ...deps.inputTopics], fromBeginning: true });
    void consumer.run({
      eachBatch: async ({ batch }) => {
        if (batch.topic === deps.snapshotsTopic) unread.push(...batch.messages.map((m) => ({ m })));
        else {
          const k = tpKey(batch.topic, batch.partition);
          const from = next.get(k) ?? 0n;
          const q = inputs.get(k) ?? [];
          // A record fetched again (after a rebalance of the follower's own group) is not taken twice.
          let last = q.length === 0 ? from - 1n : BigInt(q[q.length - 1].offset);
          for (const m of batch.messages) {
            const offset = BigInt(m.offset);
            if (offset <= last) continue;
            last = offset;
            q.push({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp });
            buffered++;
          }
          inputs.set(k, q);
          // Inputs run ahead of the markers that name them only so far; the markers' partition is never paused.
          if (buffered > maxBuffered) {
            paused.add(k);
            consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
          }
        }
        wake.fn();
      },
    });

    /** Judges what was read on the snapshots topic; trusted markers past the store's snapshot wait in `ready`. */
    const judge = async (): Promise<void> => {
      if (unread.length === 0) return;
      const records: MarkerRecord[] = [];
      for (const { m } of unread) records.push(await markerRecordOf(deps.codec, m)); // a registry away throws, and the same records are judged again
      unread = [];
      const chain = trustMarkers(lastTrusted === undefined ? records : [lastTrusted, ...records], chainFrom);
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

    /**
     * The records a marker names, once all have arrived (undefined while some have not), and
     * how to let them go once the snapshot is folded.
     */
    const peek = (marker: Marker): { batch: RawRecord[]; done: () => void } | undefined => {
      const batch: RawRecord[] = [];
      const ends: [string, number, bigint][] = [];
      for (const r of marker.inputs) {
        const k = tpKey(r.topic, r.partition);
        const q = inputs.get(k) ?? [];
        const last = q.length === 0 ? -1n : BigInt(q[q.length - 1].offset);
        if (last < r.toOffset) return undefined;
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
        for (const k of paused) {
          const at = k.lastIndexOf(':');
          consumer.resume([{ topic: k.slice(0, at), partitions: [Number(k.slice(at + 1))] }]);
        }
        paused.clear();
      }
    };

    const foldOne = async (marker: Marker, batch: RawRecord[]): Promise<void> => {
      if (marker.snapshotId !== meta.id + 1n) throw new Error(`the log's next snapshot is ${marker.snapshotId}, but the store stands at ${meta.id}`);
      const recorded = marker.rejected === undefined ? undefined : new Map(marker.rejected.map((r) => [recordId(r), r.code]));
      const position = Buffer.from(JSON.stringify({ id: marker.snapshotId.toString(), offset: marker.offset.toString(), generation: marker.generation }));
      const result = await deps.fold(batch, state, meta, { recorded, published: { alsoPut: [[MARKER_POSITION, position]] } });
      meta = result.meta;
      deps.followed(meta, marker);
      if (checkDigest(marker, digestHex(meta.digest), deps.logicVersion) === 'diverged')
        throw new Error(`snapshot ${marker.snapshotId} folded to digest ${digestHex(meta.digest)}, but the log recorded ${marker.digest}`);
    };

    const loop = (async () => {
      while (!stopped()) {
        try {
          if (crashed !== undefined) throw new Error(`its consumer gave up: ${crashed}`);
          await judge();
          const marker = ready[0];
          const taken = marker === undefined ? undefined : peek(marker);
          if (marker === undefined || taken === undefined) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 500);
              wake.fn = () => {
                clearTimeout(t);
                resolve();
              };
            });
            continue;
          }
          await deps.exclusive(() => foldOne(marker, taken.batch));
          ready.shift();
          taken.done();
        } catch (err) {
          if (stopped()) return;
          if (isRegistryDown(err)) {
            log.warn('following the log waits for the schema registry', { error: errorMessage(err) });
            await new Promise((r) => setTimeout(r, RETRY_MS));
            continue;
          }
          failure = errorMessage(err);
          log.error('stopped following the log; the next activation catches up or rebuilds', { error: failure });
          return;
        }
      }
    })();
    return { consumer, loop, behind: () => ready.length };
  };

  return {
    start: () => {
      if (run !== undefined) return;
      failure = undefined;
      let stopping = false;
      const wake = { fn: () => undefined as void };
      const started = follow(() => stopping, wake);
      run = {
        behind: () => 0,
        stop: async () => {
          stopping = true;
          wake.fn();
          const r = await started.catch((err: unknown) => {
            log.warn('the follower did not start', { error: errorMessage(err) });
            return undefined;
          });
          if (r === undefined) return;
          await r.consumer.disconnect().catch(() => undefined);
          await r.loop;
        },
      };
      const current = run;
      started.then(
        (r) => {
          current.behind = r.behind;
          log.info('following the log as a standby');
        },
        (err: unknown) => {
          failure = errorMessage(err);
          log.warn('could not start following the log; the next activation catches up from the markers', { error: failure });
        },
      );
    },
    stop: async () => {
      const r = run;
      run = undefined;
      await r?.stop();
    },
    status: () => ({ state: failure !== undefined ? 'failed' : run === undefined ? 'stopped' : 'following', behind: run?.behind() ?? 0, ...(failure === undefined ? {} : { error: failure }) }),
  };
};
