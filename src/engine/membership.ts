/**
 * The coordinator's seat in its consumer group: the kafkajs consumer it listens to, the deadline
 * on the group's word, and a new consumer when kafkajs gives one up (a crash it will not restart
 * itself, or a silence). What the group's answers mean (activate, stand by, stand down) is the
 * coordinator's; it hears of them through the callbacks below, and only from the consumer it
 * listens to: a consumer given up speaks for the instance no more.
 */
import type { Config } from '../config';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { createConsumer, subscribe, type Consumer, type ConsumerCrashEvent, type ConsumerGroupJoinEvent, type EachBatchPayload, type Kafka, type PartitionAssigner } from '../messaging/clients';
import { failPoint } from './failpoints';
import { backoffMs, pause, settlesWithin, type Health } from './health';

/** How long the group may take to answer a join: every member's rejoin waits at most this long on the broker. */
export const REBALANCE_TIMEOUT_MS = 30_000;

/** How long a disconnect of a consumer given up, or a rejoin under way at a stop, may take before it is left behind. */
const DISCONNECT_TIMEOUT_MS = 10_000;

export interface MembershipDeps {
  readonly kafka: Kafka;
  readonly config: Pick<Config, 'groupId' | 'sessionTimeoutMs'>;
  readonly inputTopics: readonly string[];
  readonly assigner: PartitionAssigner;
  readonly log: Logger;
  readonly health: Health;
  /** Whether the coordinator runs: a consumer joins, restarts and is watched only while it does. */
  readonly running: () => boolean;
  /** The group answered a join of `c` (a new generation, its assignment). */
  readonly onJoin: (c: Consumer, payload: ConsumerGroupJoinEvent['payload']) => void;
  /** A heartbeat of `c` was answered: it is still a member of its generation. */
  readonly onHeartbeat: (c: Consumer) => void;
  /** The consumer crashed; unless kafkajs restarts it (`restart`), a new one joins after this. */
  readonly onCrash: (payload: ConsumerCrashEvent['payload']) => void;
  /** A fetched batch of `c`, as kafkajs's eachBatch hands it. */
  readonly onBatch: (c: Consumer, payload: EachBatchPayload) => Promise<void>;
  /** No word from the group for `silentMs`, past the deadline: nothing more may be folded or published under that membership; a new consumer joins after this. */
  readonly onSilence: (silentMs: number) => void;
  /** What stops the coordinator: a rejoin that failed otherwise than by joining (each failed join is retried). */
  readonly fail: (err: unknown) => void;
}

export interface Membership {
  /** The consumer this instance listens to; undefined between one given up and the next. */
  current(): Consumer | undefined;
  /** Joins the group with a first consumer (a failure is the caller's), and starts the deadline on the group's word. */
  join(): Promise<void>;
  /** Stops the deadline, and waits for a rejoin under way and for the consumer's disconnect, each within a bound. */
  close(): Promise<void>;
}

export const createMembership = (deps: MembershipDeps): Membership => {
  const { kafka, config, inputTopics, log, health, running } = deps;
  let consumer: Consumer | undefined;
  /** The last word of the group to the consumer listened to (a join, a heartbeat), or its creation. */
  let heardFromGroupMs = 0;

  /** Disconnects a consumer given up, waiting at most DISCONNECT_TIMEOUT_MS: one wedged inside kafkajs may never finish. */
  const leaveBehind = async (c: Consumer | undefined): Promise<void> => {
    if (c === undefined) return;
    if (!(await settlesWithin(DISCONNECT_TIMEOUT_MS, c.disconnect()))) log.warn('a consumer given up did not disconnect in time; it is left behind', { waitedMs: DISCONNECT_TIMEOUT_MS });
  };

  /** A consumer in the group, its events passed on while it is the one listened to. */
  const joinGroup = async (): Promise<Consumer> => {
    // Only the consumer this instance listens to starts again after a crash: one given up stays down.
    const self: Consumer = createConsumer(kafka, {
      groupId: config.groupId,
      // The broker answers a fetch as soon as a record arrives; this only bounds how long an idle fetch waits.
      maxWaitTimeInMs: 100,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 10)),
      rebalanceTimeout: REBALANCE_TIMEOUT_MS,
      partitionAssigners: [deps.assigner],
      // A broker that restarts makes kafkajs give up on errors it deems final (no group coordinator yet);
      // the state is safe in RocksDB, so the consumer always starts again and rejoins.
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 10_000, restartOnFailure: async () => running() && consumer === self },
    });
    const c = (consumer = self);
    heardFromGroupMs = Date.now();
    /** Set by the fail point group.heartbeat: this consumer is heard no more, as if wedged inside kafkajs. */
    let lost = false;
    let leaving = false;
    /**
     * A consumer given up (see watch) speaks for this instance no more. One that kafkajs still
     * brought into the group (a join under way when it was given up ignores a disconnect) is
     * disconnected once more, now that it runs: a member nobody listens to could be chosen active.
     */
    const heard = (): boolean => {
      if (consumer === c) return !lost;
      if (!leaving) {
        leaving = true;
        void leaveBehind(c);
      }
      return false;
    };
    c.on(c.events.GROUP_JOIN, ({ payload }) => {
      if (!heard()) return;
      heardFromGroupMs = Date.now();
      deps.onJoin(c, payload);
    });
    c.on(c.events.HEARTBEAT, () => {
      if (!heard() || (lost = failPoint('group.heartbeat'))) return;
      heardFromGroupMs = Date.now();
      deps.onHeartbeat(c);
    });
    // kafkajs logs no request that times out: a join that never came back would leave no trace.
    c.on(c.events.REQUEST_TIMEOUT, ({ payload }) => log.warn('a request of the consumer timed out', { api: payload.apiName, broker: payload.broker, pendingMs: payload.pendingDuration }));
    c.on(c.events.CRASH, ({ payload }) => {
      if (!running() || !heard()) return;
      deps.onCrash(payload);
      // kafkajs gives up for good on some errors of a broker that restarts (no group coordinator yet):
      // the state is safe in RocksDB, so a new consumer joins the group again, as a restart would.
      if (!payload.restart) rejoinOnce();
    });
    try {
      await c.connect();
      await subscribe(c, inputTopics, true);
    } catch (err) {
      await c.disconnect().catch(() => undefined);
      throw err;
    }
    await c.run({
      autoCommit: false,
      // Each partition's batches in turn, the partitions side by side: a fetch waiting for room in the events lane holds no request back.
      partitionsConsumedConcurrently: inputTopics.length,
      eachBatchAutoResolve: true,
      eachBatch: (payload) => deps.onBatch(c, payload),
    });
    return c;
  };

  /** A new consumer after kafkajs gave one up, retried with a bounded backoff and shown on /readyz while it fails. */
  const rejoin = async (): Promise<void> => {
    const old = consumer;
    consumer = undefined;
    await leaveBehind(old);
    for (let attempt = 1; running(); attempt++) {
      try {
        const mine = await joinGroup();
        // A stop while it joined: close disconnected the consumer before this one.
        if (!running()) await leaveBehind(mine);
        // The trouble clears once the group answers the join (GROUP_JOIN).
        else log.info('a new consumer joined the group', { attempt });
        return;
      } catch (err) {
        const t = health.failing('consumer', errorMessage(err));
        log.warn('joining the group failed; retrying', { attempt, error: errorMessage(err), failingForMs: Date.now() - t.sinceMs });
        await pause(backoffMs(attempt), () => !running());
      }
    }
  };

  /** The one rejoin under way (after a crash kafkajs gave up on, or a silence); close waits for it. */
  let rejoining: Promise<void> | undefined;
  const rejoinOnce = (): void => {
    rejoining ??= rejoin()
      .catch(deps.fail)
      .finally(() => (rejoining = undefined));
  };

  /**
   * The deadline on the group's word. A member hears from the group every heartbeat interval,
   * even with every partition paused, and a join is answered within the rebalance timeout and
   * kafkajs's 5 s on top, twice when the broker first asks for a member id. A consumer silent
   * past that and a session is wedged: kafkajs was seen to give up a failed rejoin without a
   * word and go on fetching as no member, heartbeating nothing, after the group coordinator's
   * broker died under it; a stood-down instance then waits forever. Instead a new consumer
   * joins the group, as a restart would, counted on /readyz and /metrics. What was committed
   * waits in RocksDB.
   */
  const silenceLimitMs = 2 * (REBALANCE_TIMEOUT_MS + 5_000) + config.sessionTimeoutMs;
  const watch = (): void => {
    if (!running() || rejoining !== undefined || consumer === undefined) return;
    const silentMs = Date.now() - heardFromGroupMs;
    if (silentMs <= silenceLimitMs) return;
    health.failing('consumer', `no word from the group for ${silentMs} ms (a join or a heartbeat); a new consumer joins it again`);
    deps.onSilence(silentMs);
    rejoinOnce();
  };
  let watching: NodeJS.Timeout | undefined;

  return {
    current: () => consumer,
    join: async () => {
      await joinGroup();
      // A stop while it joined: close has cleared no deadline yet, so none is set.
      if (!running()) return;
      watching = setInterval(watch, 1_000);
      watching.unref();
    },
    close: async () => {
      clearInterval(watching);
      if (rejoining !== undefined && !(await settlesWithin(DISCONNECT_TIMEOUT_MS, rejoining))) log.warn('a rejoin under way did not end in time; stopping without it', { waitedMs: DISCONNECT_TIMEOUT_MS });
      await leaveBehind(consumer);
    },
  };
};
