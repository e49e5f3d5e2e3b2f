/**
 * One step of an activation, run again while the trouble is passing: a registry that does not
 * answer, or Kafka's (a broker away, a leader or a coordinator moving, a request timing out).
 * Each wait is shown on /readyz and bounded (5 s at most between tries); a try after the first
 * waits while the group has not confirmed this member lately (`mayFence`), so that it never
 * fences an instance that took over meanwhile. Once the attempt is moot (a newer rebalance, or
 * a stop), it ends with MOOT, whatever the error; an error that is not passing is thrown.
 */
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { isPassingKafkaTrouble } from '../messaging/kafka';
import { backoffMs, pause, type Health, type TroubleKind } from './health';
import { isRegistryDown } from './markers';

/** What `retryWhilePassing` returns once the attempt it serves is moot. */
export const MOOT = Symbol('moot');

export interface RetryStepDeps {
  readonly health: Health;
  readonly log: Logger;
  /** Whether the attempt the step serves is over: a newer one began, or the instance stops. */
  readonly moot: () => boolean;
  /** Whether the group confirmed this member lately: only then may a try after the first fence. */
  readonly mayFence: () => boolean;
  /** The longest wait between tries, ms. */
  readonly maxWaitMs?: number;
}

export const retryWhilePassing = async <T>(deps: RetryStepDeps, step: string, fn: (tries: number) => Promise<T>): Promise<T | typeof MOOT> => {
  const { health, log, moot } = deps;
  const shown = new Set<TroubleKind>();
  const clear = (): void => {
    for (const k of shown) health.ok(k);
  };
  for (let tries = 1; ; tries++) {
    try {
      const out = await fn(tries);
      clear();
      return out;
    } catch (err) {
      if (moot()) {
        clear();
        return MOOT;
      }
      const registry = isRegistryDown(err);
      if (!registry && !isPassingKafkaTrouble(err)) throw err;
      const key: TroubleKind = registry ? 'registry' : 'activation';
      shown.add(key);
      const t = health.failing(key, `${step}: ${errorMessage(err)}`);
      log.warn(registry ? 'the schema registry does not answer during the activation; trying again once it does' : 'Kafka failed a step of the activation; trying it again', {
        step,
        tries,
        error: errorMessage(err),
        failingForMs: Date.now() - t.sinceMs,
      });
      await pause(Math.min(deps.maxWaitMs ?? 5_000, backoffMs(tries)), moot);
      // A member the group has not confirmed lately may have lost the partitions without knowing yet: wait for the group's word.
      while (!moot() && !deps.mayFence()) await pause(500, moot);
      if (moot()) {
        clear();
        return MOOT;
      }
    }
  }
};
