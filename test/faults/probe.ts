/** Measuring unavailability as a client sees it: a probe asks one cheap request after another and notes when each is answered. */
import type { Client } from '../../src/client/client';

export interface Probe {
  /** Stops asking; resolves once the ask in flight has ended. */
  stop(): Promise<void>;
  /** The longest time without an answer since `fromMs` (wall clock), ms: the unavailability a client saw. */
  longestGapSince(fromMs: number): number;
  readonly answered: number;
}

export const startProbe = (client: Client, everyMs = 100): Probe => {
  const answeredAt: number[] = [Date.now()];
  let running = true;
  const loop = (async () => {
    for (let n = 0; running; n++) {
      try {
        const r = await client.ask('coord.v1.DescribeCoordinator', {}, { timeoutMs: 5_000 });
        if (r.status === 'OK') answeredAt.push(Date.now());
      } catch {
        // A timeout or a failed send: no answer, which is what the gap measures.
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
    longestGapSince: (fromMs) => {
      let gap = 0;
      let prev = answeredAt.filter((t) => t <= fromMs).pop() ?? fromMs;
      for (const t of answeredAt.filter((x) => x > fromMs)) {
        gap = Math.max(gap, t - prev);
        prev = t;
      }
      // Still unanswered now counts too.
      return Math.max(gap, running ? Date.now() - prev : 0, 0);
    },
    get answered() {
      return answeredAt.length - 1;
    },
  };
};
