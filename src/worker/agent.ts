/**
 * The simulated worker agent of the demo and the end-to-end tests: it registers with a fresh
 * incarnation, heartbeats and reports statistics, follows its commands on
 * `<prefix>.worker-commands`, "runs" the fragments it is sent and reports their status. It can
 * be told to fail a fragment, and `die()` stops it without a word, as a crashed worker would.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from '../messaging/clients';
import type { Client } from '../client/client';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import type { Codec } from '../messaging/codec';
import { tailTopic, type Tail } from '../messaging/tail';
import { topicName } from '../messaging/topics';

export interface WorkerAgentOptions {
  readonly client: Client;
  /** Where its commands are read from; without it the agent only registers and heartbeats. */
  readonly commands?: { readonly kafka: Kafka; readonly codec: Codec; readonly topicPrefix: string };
  readonly log: Logger;
  readonly workerId: string;
  readonly slots: number;
  readonly capabilities?: readonly string[];
  readonly host?: string;
  readonly heartbeatMs?: number;
  /** How long a fragment takes to start before it reports RUNNING. */
  readonly deployMs?: number;
  /** Fragments that fail to start, by id: reported FAILED instead of RUNNING. */
  readonly failOnDeploy?: (fragmentId: string) => boolean;
}

export interface RunningFragment {
  readonly queryName: string;
  readonly fragmentId: string;
  readonly kind: string;
}

export interface WorkerAgent {
  readonly workerId: string;
  readonly incarnation: string;
  /** Fragments it runs now. */
  readonly fragments: ReadonlyMap<string, RunningFragment>;
  /** Every command it received, in order, for tests and the demo log. */
  readonly received: readonly { readonly type: string; readonly fragmentId: string }[];
  start(): Promise<void>;
  /** Reports a running fragment FAILED, as a crashed operator would. */
  fail(fragmentId: string, reason: string): Promise<void>;
  /** Deregisters, then stops. */
  stop(): Promise<void>;
  /** Stops heartbeating and answering without deregistering: the coordinator finds out by the log's clock. */
  die(): Promise<void>;
}

interface Command {
  readonly queryName: string;
  readonly fragmentId: string;
  readonly kind?: string;
}

export const createWorkerAgent = (o: WorkerAgentOptions): WorkerAgent => {
  const incarnation = randomUUID();
  const report = { workerId: o.workerId, incarnation };
  const fragments = new Map<string, RunningFragment>();
  const received: { type: string; fragmentId: string }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let tail: Tail | undefined;
  let dead = false;
  let beats = 0;

  const status = (c: Command, s: 'RUNNING' | 'FAILED' | 'STOPPED', reason = ''): Promise<void> =>
    dead ? Promise.resolve() : o.client.send('coord.v1.FragmentStatus', { ...report, queryName: c.queryName, fragmentId: c.fragmentId, status: s, reason }, { key: o.workerId });

  const onCommand = async (type: string, c: Command): Promise<void> => {
    received.push({ type, fragmentId: c.fragmentId });
    if (type === 'coord.v1.DeployFragment') {
      await new Promise((r) => setTimeout(r, o.deployMs ?? 20));
      if (o.failOnDeploy?.(c.fragmentId) === true) return status(c, 'FAILED', 'the simulated worker was told to fail this fragment');
      fragments.set(c.fragmentId, { queryName: c.queryName, fragmentId: c.fragmentId, kind: c.kind ?? 'SOURCE' });
      return status(c, 'RUNNING');
    }
    if (type === 'coord.v1.StopFragment') {
      fragments.delete(c.fragmentId);
      return status(c, 'STOPPED');
    }
    o.log.warn('unknown worker command', { workerId: o.workerId, type });
  };

  const quiet = async (): Promise<void> => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    await tail?.close();
    tail = undefined;
  };

  return {
    workerId: o.workerId,
    incarnation,
    fragments,
    received,
    start: async () => {
      if (o.commands !== undefined) {
        const { kafka, codec, topicPrefix } = o.commands;
        tail = tailTopic({
          kafka,
          topic: topicName(topicPrefix, 'worker-commands'),
          groupId: `${topicPrefix}.worker.${o.workerId}.${incarnation}`,
          onRecord: async (r) => {
            if (dead || r.key?.toString() !== o.workerId || r.value === null) return;
            try {
              const { fullName, value } = await codec.decode(r.value);
              await onCommand(fullName, value as unknown as Command);
            } catch (err) {
              o.log.warn('could not handle a worker command', { workerId: o.workerId, offset: r.offset, error: errorMessage(err) });
            }
          },
        });
        // Following before registering: no command for this incarnation can come earlier.
        await tail.start();
      }
      await o.client.send('coord.v1.WorkerRegistered', { ...report, host: o.host ?? `${o.workerId}.local`, slots: o.slots, capabilities: [...(o.capabilities ?? [])] }, { key: o.workerId });
      timer = setInterval(() => {
        beats++;
        // Every fifth beat carries statistics, which count as a heartbeat too.
        const send =
          beats % 5 === 0
            ? o.client.send('coord.v1.WorkerStatistics', { ...report, statistics: { heartbeats: beats, fragments: fragments.size, rssBytes: process.memoryUsage().rss } }, { key: o.workerId })
            : o.client.send('coord.v1.WorkerHeartbeat', report, { key: o.workerId });
        send.catch((err) => o.log.warn('heartbeat failed', { workerId: o.workerId, error: errorMessage(err) }));
      }, o.heartbeatMs ?? 1_000);
    },
    fail: async (fragmentId, reason) => {
      const f = fragments.get(fragmentId);
      if (f === undefined) throw new Error(`worker ${o.workerId} runs no fragment ${fragmentId}`);
      fragments.delete(fragmentId);
      await status(f, 'FAILED', reason);
    },
    stop: async () => {
      await quiet();
      await o.client.send('coord.v1.WorkerDeregistered', report, { key: o.workerId });
    },
    die: async () => {
      dead = true;
      await quiet();
    },
  };
};
