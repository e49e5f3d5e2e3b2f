/**
 * Troubles the coordinator is retrying through (publication, the store, the registry): each
 * is bounded in its backoff, counted, and once it lasts past a threshold it makes /readyz 503
 * with the reason. Engine time (the wall clock), never the fold's.
 */

export type TroubleKind = 'publish' | 'store' | 'registry' | 'consumer' | 'environment' | 'settings' | 'activation';

export interface Trouble {
  readonly kind: TroubleKind;
  /** Wall time of the first failure in this run of failures, ms. */
  readonly sinceMs: number;
  readonly attempts: number;
  readonly error: string;
}

export class Health {
  private readonly current = new Map<TroubleKind, Trouble>();
  /** Failed attempts per kind since start, for /metrics. */
  readonly retries: Record<TroubleKind, number> = { publish: 0, store: 0, registry: 0, consumer: 0, environment: 0, settings: 0, activation: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  failing(kind: TroubleKind, error: string): Trouble {
    const was = this.current.get(kind);
    const t: Trouble = { kind, sinceMs: was?.sinceMs ?? this.now(), attempts: (was?.attempts ?? 0) + 1, error: error.slice(0, 500) };
    this.current.set(kind, t);
    this.retries[kind]++;
    return t;
  }

  ok(kind: TroubleKind): void {
    this.current.delete(kind);
  }

  /** Troubles that have lasted at least `thresholdMs`; one of the environment counts at once, since retrying does not mend it. */
  stalled(thresholdMs: number): Trouble[] {
    const now = this.now();
    return [...this.current.values()].filter((t) => t.kind === 'environment' || now - t.sinceMs >= thresholdMs);
  }

  all(): Trouble[] {
    return [...this.current.values()];
  }
}

/** Exponential backoff with a ceiling: 100 ms, 200 ms, … at most `maxMs`. */
export const backoffMs = (attempt: number, maxMs = 5_000): number => Math.min(maxMs, 100 * 2 ** Math.min(Math.max(attempt - 1, 0), 10));

/** A sleep that ends early when `stopped` says so, checked every 100 ms, so a stop never waits out a backoff. */
export const pause = async (ms: number, stopped: () => boolean): Promise<void> => {
  const until = Date.now() + ms;
  while (!stopped() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
};

const TIMED_OUT: unique symbol = Symbol('timed out');

/** `work`, or TIMED_OUT after `ms`; the timer never holds the process open and is cleared when `work` settles first. */
const raceDeadline = async <T>(ms: number, work: Promise<T>): Promise<T | typeof TIMED_OUT> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms).unref()))]);
  } finally {
    clearTimeout(timer);
  }
};

/** What `work` gave within `ms`, or undefined if it failed or took longer (it is left to go on). */
export const within = async <T>(ms: number, work: Promise<T>): Promise<T | undefined> => {
  const r = await raceDeadline(ms, work.catch(() => undefined));
  return r === TIMED_OUT ? undefined : r;
};

/** Whether `work` settled, well or not, within `ms` (it is left to go on otherwise). */
export const settlesWithin = async (ms: number, work: Promise<unknown>): Promise<boolean> =>
  (await raceDeadline(ms, work.then(() => true, () => true))) === true;
