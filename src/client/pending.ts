/**
 * The client's table of pending requests, apart from Kafka so it can be tested alone: the
 * in-flight bound (with the coordinator's published lag as a second bound), the map from
 * correlation id to the ask waiting for it, the drop of replies nobody waits for, and close().
 * Like kafkajs's request queue, every place taken is given back and every wait has a deadline.
 */
import { CoordError } from '../errors';
import type { ClientMetrics } from '../metrics/client';

/** What identifies the request an ask sent (src/messaging/fingerprint.ts), so another request's reply under the same id is not taken. */
export interface Fingerprints {
  readonly fingerprint: string;
  /** The same without the type: what a reply to a request refused before decoding carries. */
  readonly rawFingerprint: string;
}

export interface PendingOptions {
  /** Most asks and sends holding a place at once. */
  readonly maxInFlight: number;
  /** While the coordinator's published lag is over this bound, places are not handed out. */
  readonly maxLag?: number;
  readonly metrics?: Pick<ClientMetrics, 'places' | 'dropped' | 'waited'>;
}

export interface Expectation<R> {
  /** Settles with the reply, or rejects on timeout (ASK_TIMEOUT), abort (ASK_ABORTED), close (CLIENT_CLOSED) or fail(). */
  readonly reply: Promise<R>;
  /** Ends the wait with this error (e.g. the send failed); no-op once settled. */
  fail(err: Error): void;
}

export interface PendingTable<R extends { readonly correlationId: string }> {
  /** Takes a place once one is free and the lag is under its bound; BACKPRESSURE once `deadline` (epoch ms) passes. */
  acquire(deadline: number): Promise<void>;
  /** True when acquire() would take a place at once. */
  hasRoom(): boolean;
  release(): void;
  /** The coordinator's lag as its latest snapshot marker said; may wake waiting senders. */
  setLag(lag: number): void;
  /** Registers an ask waiting for the reply under `correlationId`, for at most `timeoutMs`. */
  expect(correlationId: string, what: string, ids: Fingerprints, timeoutMs: number, signal?: AbortSignal): Expectation<R>;
  /** Whether an ask waits under this id (a cheap test before decoding a reply). */
  isWaiting(correlationId: string): boolean;
  /**
   * Hands a reply to the ask waiting for it; false (and counted as dropped) when none waits,
   * or when `answered` (the fingerprint the reply names) is another request's.
   */
  settle(reply: R, answered?: string): boolean;
  /** Counts a reply dropped for a reason of the caller's (it did not decode). */
  drop(): void;
  /** Rejects every waiting ask and every waiting sender with CLIENT_CLOSED; later calls are refused. */
  close(): void;
  readonly stats: { readonly dropped: number; readonly inFlight: number; readonly lag: number | undefined; readonly waiting: number };
}

interface Waiter<R> extends Fingerprints {
  resolve(r: R): void;
  reject(e: Error): void;
}

const closedError = (): CoordError => new CoordError('CLIENT_CLOSED', 'the client closed');

export const createPendingTable = <R extends { readonly correlationId: string }>(o: PendingOptions): PendingTable<R> => {
  const waiting = new Map<string, Waiter<R>>();
  const slotWaiters: (() => void)[] = [];
  let reserved = 0;
  let dropped = 0;
  let lag: number | undefined;
  let closed = false;

  const overLag = (): boolean => o.maxLag !== undefined && lag !== undefined && lag > o.maxLag;
  const full = (): boolean => reserved >= o.maxInFlight || overLag();
  const drop = (): void => {
    dropped++;
    o.metrics?.dropped();
  };

  const acquire = async (deadline: number): Promise<void> => {
    if (closed) throw closedError();
    const waitedFrom = full() ? { at: performance.now(), reason: overLag() ? ('lag' as const) : ('in_flight' as const) } : undefined;
    try {
      while (full()) {
        if (closed) throw closedError();
        const left = deadline - Date.now();
        if (left <= 0)
          throw new CoordError(
            'BACKPRESSURE',
            overLag() ? `the coordinator is ${lag} records behind (maxLag ${o.maxLag}); try again later` : `${reserved} requests are in flight (maxInFlight ${o.maxInFlight}); try again later`,
            { retriable: true },
          );
        // A lag bound clears by a marker nobody here announces in order, so it is polled more often.
        await new Promise<void>((r) => {
          const wake = (): void => {
            clearTimeout(t);
            r();
          };
          const t = setTimeout(() => {
            const i = slotWaiters.indexOf(wake);
            if (i >= 0) slotWaiters.splice(i, 1);
            r();
          }, Math.min(left, overLag() ? 100 : 1_000));
          slotWaiters.push(wake);
        });
      }
    } finally {
      if (waitedFrom !== undefined) o.metrics?.waited(waitedFrom.reason, (performance.now() - waitedFrom.at) / 1_000);
    }
    reserved++;
    o.metrics?.places(reserved);
  };

  const release = (): void => {
    if (reserved === 0) return;
    reserved--;
    o.metrics?.places(reserved);
    slotWaiters.shift()?.();
  };

  const expect = (correlationId: string, what: string, ids: Fingerprints, timeoutMs: number, signal?: AbortSignal): Expectation<R> => {
    if (closed) return { reply: Promise.reject(closedError()), fail: () => undefined };
    let settle: { resolve(r: R): void; reject(e: Error): void } | undefined;
    const reply = new Promise<R>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (waiting.get(correlationId) === waiter) waiting.delete(correlationId);
      };
      const timer = setTimeout(() => {
        done();
        reject(new CoordError('ASK_TIMEOUT', `no reply to ${what} (correlation id ${correlationId}) within ${timeoutMs} ms; retry with the same correlation id`, { retriable: true }));
      }, timeoutMs);
      const onAbort = (): void => {
        done();
        reject(new CoordError('ASK_ABORTED', `ask ${correlationId} was aborted by its signal`));
      };
      const waiter: Waiter<R> = {
        ...ids,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      settle = waiter;
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      waiting.set(correlationId, waiter);
    });
    // It may settle (abort, close) while the caller still sends; the caller awaits it afterwards.
    reply.catch(() => undefined);
    return { reply, fail: (err) => settle?.reject(err) };
  };

  const settle = (reply: R, answered?: string): boolean => {
    const w = waiting.get(reply.correlationId);
    // Another client's request under the same id is answered under that id too (CONFLICT, or its own reply): not ours.
    if (w === undefined || (answered !== undefined && answered !== w.fingerprint && answered !== w.rawFingerprint)) {
      drop(); // late, duplicate, or someone else's
      return false;
    }
    w.resolve(reply);
    return true;
  };

  return {
    acquire,
    hasRoom: () => !closed && !full(),
    release,
    setLag: (n) => {
      lag = n;
      if (!overLag()) for (const wake of slotWaiters.splice(0)) wake();
    },
    expect,
    isWaiting: (id) => waiting.has(id),
    settle,
    drop,
    close: () => {
      if (closed) return;
      closed = true;
      for (const [id, w] of [...waiting]) w.reject(new CoordError('CLIENT_CLOSED', `the client closed while ask ${id} was waiting`));
      waiting.clear();
      for (const wake of slotWaiters.splice(0)) wake();
    },
    get stats() {
      return { dropped, inFlight: reserved, lag, waiting: waiting.size };
    },
  };
};
