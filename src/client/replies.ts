/**
 * The client's reply consumer: a consumer in a group of its own that reads the reply topic (and
 * the snapshot markers, for the lag) from where the client began, seeking at every join to the
 * offset past the last record it handled, so a rejoin reads no reply twice and skips none.
 * kafkajs gives a consumer up for good on some errors (a refused group, a broker that lost the
 * group's coordinator under a join); a new one then goes on from there, attempts waiting 100 ms
 * doubling to 5 s, logged, until one joins or the reader closes.
 */
import { randomUUID } from 'node:crypto';
import { CoordError, errorMessage } from '../errors';
import type { Logger } from '../log';
import { CLIENT_GROUP_PREFIX } from '../messaging/acl';
import { createConsumer, seekOnJoin, subscribe, topicOffsets, type Consumer, type EachMessagePayload, type Kafka, type Position } from '../messaging/clients';

/** How long a consumer may take from its connect to its group's join (a fresh group waits out the broker's initial rebalance delay first). */
export const JOIN_TIMEOUT_MS = 60_000;
/** The longest wait between attempts at a new consumer. */
const RENEW_MAX_WAIT_MS = 5_000;

export interface ReplyReader {
  /** Positions at the log ends as they are now, and joins; fails with CLIENT_JOIN_TIMEOUT after JOIN_TIMEOUT_MS. */
  start(): Promise<void>;
  /** Consumers made anew after kafkajs gave one up for good. */
  readonly renewals: number;
  close(): Promise<void>;
}

export const createReplyReader = (o: {
  readonly kafka: Kafka;
  readonly topics: readonly string[];
  readonly log: Logger;
  readonly onMessage: (payload: EachMessagePayload) => Promise<void>;
  /** Told each time a consumer is made anew. */
  readonly onRenewed?: () => void;
}): ReplyReader => {
  /** Where a consumer goes on from, by `topic:partition`: the log ends at start, then past each record handled. */
  const reached = new Map<string, Position>();
  let consumer: Consumer | undefined;
  let renewals = 0;
  let closed = false;
  /** Ends the wait between two attempts at once (on close). */
  let wake: (() => void) | undefined;

  const stillOpen = (): void => {
    if (closed) throw new CoordError('CLIENT_CLOSED', 'the client closed while its reply consumer was joining');
  };

  /** A consumer, joined; it fails if kafkajs gives it up first, or it has not joined within JOIN_TIMEOUT_MS of its connect. */
  const join = async (): Promise<Consumer> => {
    const c = createConsumer(o.kafka, { groupId: `${CLIENT_GROUP_PREFIX}${randomUUID()}`, maxWaitTimeInMs: 20 });
    consumer = c;
    let joinedYet = false;
    /** Given up by this reader (a failed join, a close): kafkajs may still be joining it, and whatever it does next is ignored. */
    let abandoned = false;
    let gaveUp: (err: Error) => void = () => undefined;
    const givenUp = new Promise<never>((_, reject) => (gaveUp = reject));
    givenUp.catch(() => undefined);
    // kafkajs gives some errors up for good (restart: false), having disconnected the consumer: a new one goes on from where it got to.
    c.on(c.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      if (!joinedYet) gaveUp(payload.error);
      else if (consumer === c && !abandoned && !closed) void renew(errorMessage(payload.error));
    });
    // A join kafkajs carried on with after the consumer was given up leaves it in the group, fetching: disconnected again.
    c.on(c.events.GROUP_JOIN, () => {
      if (abandoned || closed) void c.disconnect().catch(() => undefined);
    });
    const joined = seekOnJoin(c, () => [...reached.values()]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CoordError('CLIENT_JOIN_TIMEOUT', `the reply consumer did not join its group within ${JOIN_TIMEOUT_MS} ms`, { retriable: true })), JOIN_TIMEOUT_MS);
    });
    late.catch(() => undefined);
    try {
      const setUp = async (): Promise<void> => {
        await c.connect();
        stillOpen();
        await subscribe(c, o.topics, false);
        stillOpen();
        await c.run({
          autoCommit: false,
          eachMessage: async (payload) => {
            if (abandoned) return;
            await o.onMessage(payload);
            const { topic, partition, message } = payload;
            reached.set(`${topic}:${partition}`, { topic, partition, offset: (BigInt(message.offset) + 1n).toString() });
          },
        });
        await joined;
      };
      await Promise.race([setUp(), late, givenUp]);
      stillOpen();
      joinedYet = true;
      return c;
    } catch (err) {
      abandoned = true;
      await c.disconnect().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };

  const pause = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
    });

  const renew = async (why: string): Promise<void> => {
    o.log.warn('the reply consumer stopped for good; a new one goes on from where it got to', { error: why });
    for (let n = 0; !closed; n++) {
      await pause(Math.min(RENEW_MAX_WAIT_MS, 100 * 2 ** n));
      if (closed) return;
      try {
        await join();
        renewals++;
        o.onRenewed?.();
        return;
      } catch (err) {
        if (closed) return;
        o.log.warn('a new reply consumer could not join; trying again', { attempt: n + 1, error: errorMessage(err) });
      }
    }
  };

  return {
    start: async () => {
      // The log ends as they were before any ask, so no reply to this client can be skipped.
      for (const p of await topicOffsets(o.kafka, o.topics)) reached.set(`${p.topic}:${p.partition}`, { topic: p.topic, partition: p.partition, offset: p.high });
      await join();
    },
    get renewals() {
      return renewals;
    },
    close: async () => {
      closed = true;
      wake?.();
      await consumer?.disconnect().catch(() => undefined);
    },
  };
};
