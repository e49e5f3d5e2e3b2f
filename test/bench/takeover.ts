/**
 * Takeover: how long a warm standby takes to serve after kill -9 of the active instance, with
 * a short history on the log and with a long one. Each instance is a process, as users run it;
 * batchSize 1 makes one snapshot per request, so the log's history is counted in snapshots.
 */
import type { Client } from '../../src/client/client';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import type { Deployment } from '../support/deployment';
import type { TestStack } from '../support/stack';
import { median, now, produceRequests, request, round, sleep } from './workload';

export const SESSION_TIMEOUT_MS = 6_000;

export interface TakeoverRun {
  /** Snapshots on the log when the active instance was killed. */
  readonly snapshots: number;
  /** kill -9 of the active instance → the standby's /readyz answers 200. */
  readonly readyMs: number[];
  /** kill -9 → the first ask answered by the new active instance. */
  readonly servingMs: number[];
  readonly medianServingMs: number;
  /** How long the standby took to fold the history by following, from its start with an empty folder. */
  readonly followMs: number;
}

const snapshotOf = async (c: CoordinatorProcess): Promise<bigint> => BigInt((await c.status())?.snapshotId ?? '0');

const until = async (what: string, ms: number, check: () => Promise<boolean>, everyMs = 20): Promise<void> => {
  const deadline = now() + ms;
  while (!(await check())) {
    if (now() > deadline) throw new Error(`takeover bench: ${what} did not happen within ${ms} ms`);
    await sleep(everyMs);
  }
};

/**
 * `snapshots` requests folded one per snapshot by an active instance, a second instance
 * started at the same time as a standby, then `kills` takeovers, the killed one restarted as
 * the next standby each time.
 */
export const takeoverRun = async (stack: TestStack, d: Deployment, client: Client, snapshots: number, kills: number, say: (m: string) => void): Promise<TakeoverRun> => {
  const env = { COORD_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS), COORD_BATCH_SIZE: '1', COORD_MAX_BATCH_SIZE: '1', COORD_TICK_INTERVAL_MS: '3600000', COORD_LOG_LEVEL: 'warn' };
  const tag = `tk${snapshots}`;
  const a = await coordinatorProcess(stack, { prefix: d.config.topicPrefix, name: `${tag}-a`, env });
  const b = await coordinatorProcess(stack, { prefix: d.config.topicPrefix, name: `${tag}-b`, env });
  try {
    await produceRequests(d, snapshots, tag);
    await a.start();
    const followFrom = now();
    void b.start().catch(() => undefined); // a standby never answers /readyz with 200
    await until('the active instance to fold the history', 30 * 60_000, async () => BigInt((await a.status())?.snapshotId ?? '0') >= BigInt(snapshots), 500);
    const target = await snapshotOf(a);
    await until('the standby to follow the history', 30 * 60_000, async () => (await snapshotOf(b)) >= target, 500);
    const followMs = now() - followFrom;
    say(`takeover: ${target} snapshots folded by the active one; the standby followed them ${Math.round(followMs / 1000)} s after its start`);
    const readyMs: number[] = [];
    const servingMs: number[] = [];
    let [active, standby] = [a, b];
    for (let k = 0; k < kills; k++) {
      const killedAt = now();
      await active.kill();
      await until('the standby to serve', 120_000, async () => (await standby.readyz()) === 200);
      readyMs.push(round(now() - killedAt, 0));
      const r = request(snapshots + k);
      const reply = await client.ask(r.type, r.value, { correlationId: `${tag}-after-${k}`, timeoutMs: 60_000 });
      if (reply.status !== 'OK' && reply.status !== 'NOT_FOUND') throw new Error(`takeover bench: the ask after takeover ${k} answered ${reply.status}`);
      servingMs.push(round(now() - killedAt, 0));
      say(`takeover ${k + 1}/${kills} with ${target} snapshots: ready ${readyMs[k]} ms, serving ${servingMs[k]} ms after kill -9 (session timeout ${SESSION_TIMEOUT_MS} ms)`);
      // The killed instance comes back as the next standby, and follows the log again.
      void active.start().catch(() => undefined);
      const at = await snapshotOf(standby);
      const back = active;
      await until('the restarted instance to follow', 120_000, async () => (await back.status())?.role === 'standby' && (await snapshotOf(back)) >= at, 200);
      [active, standby] = [standby, active];
    }
    return { snapshots: Number(target), readyMs, servingMs, medianServingMs: median(servingMs), followMs: round(followMs, 0) };
  } finally {
    await a.stop().catch(() => undefined);
    await b.stop().catch(() => undefined);
  }
};
