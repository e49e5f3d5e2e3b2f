/**
 * The simulated worker agent of the demo and the end-to-end tests: it registers with a fresh
 * incarnation, heartbeats and reports statistics, and deregisters when it stops. `die()`
 * stops it without a word, as a crashed worker would.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '../client/client';
import { errorMessage } from '../errors';
import type { Logger } from '../log';

export interface WorkerAgentOptions {
  readonly client: Client;
  readonly log: Logger;
  readonly workerId: string;
  readonly slots: number;
  readonly capabilities?: readonly string[];
  readonly host?: string;
  readonly heartbeatMs?: number;
}

export interface WorkerAgent {
  readonly workerId: string;
  readonly incarnation: string;
  start(): Promise<void>;
  /** Deregisters, then stops. */
  stop(): Promise<void>;
  /** Stops heartbeating without deregistering: the coordinator finds out by the log's clock. */
  die(): void;
}

export const createWorkerAgent = (o: WorkerAgentOptions): WorkerAgent => {
  const incarnation = randomUUID();
  const report = { workerId: o.workerId, incarnation };
  let timer: NodeJS.Timeout | undefined;
  let beats = 0;
  const quiet = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  return {
    workerId: o.workerId,
    incarnation,
    start: async () => {
      await o.client.send('coord.v1.WorkerRegistered', { ...report, host: o.host ?? `${o.workerId}.local`, slots: o.slots, capabilities: [...(o.capabilities ?? [])] }, { key: o.workerId });
      timer = setInterval(() => {
        beats++;
        // Every fifth beat carries statistics, which count as a heartbeat too.
        const send =
          beats % 5 === 0
            ? o.client.send('coord.v1.WorkerStatistics', { ...report, statistics: { heartbeats: beats, rssBytes: process.memoryUsage().rss } }, { key: o.workerId })
            : o.client.send('coord.v1.WorkerHeartbeat', report, { key: o.workerId });
        send.catch((err) => o.log.warn('heartbeat failed', { workerId: o.workerId, error: errorMessage(err) }));
      }, o.heartbeatMs ?? 1_000);
    },
    stop: async () => {
      quiet();
      await o.client.send('coord.v1.WorkerDeregistered', report, { key: o.workerId });
    },
    die: quiet,
  };
};
