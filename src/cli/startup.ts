/**
 * Registering the contracts when a coordinator starts: a registry that does not answer yet (it
 * is starting, or the network to it is cut) is waited for, with a bounded backoff, and said on
 * /readyz as a `registry` problem, instead of ending the process.
 */
import type { Coordinator, CoordinatorStatus } from '../engine/coordinator';
import { backoffMs, pause, type Trouble } from '../engine/health';
import { isCoordError, errorMessage } from '../errors';
import type { Logger } from '../log';

export interface StartupRegistration {
  /** The coordinator as /readyz and /metrics should see it: not ready, and why, while the registry is awaited. */
  readonly shown: Coordinator;
  /** Resolves once every contract is registered; rejects on anything but an unreachable registry. */
  register(fn: () => Promise<void>, stopped: () => boolean): Promise<void>;
}

export const startupRegistration = (coordinator: Coordinator, log: Logger): StartupRegistration => {
  let trouble: Trouble | undefined;
  const shown: Coordinator = Object.assign(Object.create(coordinator) as Coordinator, {
    status: (): CoordinatorStatus => {
      const s = coordinator.status();
      return trouble === undefined ? s : { ...s, ready: false, problems: [...s.problems, trouble] };
    },
  });
  return {
    shown,
    register: async (fn, stopped) => {
      for (let attempt = 1; !stopped(); attempt++) {
        try {
          await fn();
          if (trouble !== undefined) log.info('schema registry answers again; contracts registered', { afterMs: Date.now() - trouble.sinceMs });
          trouble = undefined;
          return;
        } catch (err) {
          if (!isCoordError(err, 'SCHEMA_REGISTRY')) throw err;
          trouble = { kind: 'registry', sinceMs: trouble?.sinceMs ?? Date.now(), attempts: attempt, error: `registering the contracts at start: ${errorMessage(err)}`.slice(0, 500) };
          log.warn('schema registry unreachable at start; waiting for it', { attempt, error: errorMessage(err) });
          await pause(backoffMs(attempt), stopped);
        }
      }
    },
  };
};
