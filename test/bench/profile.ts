/**
 * Evidence for what limits a figure: a CPU profile of this process (node:inspector) during one
 * extra, unmeasured run, summarised as self time by package and the top functions. `(idle)` is
 * time the event loop waited — on Kafka round trips, RocksDB, timers.
 */
import { Session } from 'node:inspector/promises';
import { round } from './workload';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly hitCount?: number;
}

export interface ProfileSummary {
  readonly sampledMs: number;
  /** Share of samples by where the code lives, %. */
  readonly byPlace: Record<string, number>;
  /** The functions with the most self time, %. */
  readonly top: { fn: string; percent: number }[];
}

const place = (url: string, fn: string): string => {
  if (url === '') return fn.startsWith('(') ? fn : 'native/builtin';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m !== null) return m[1];
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/src/')) return `src/${url.split('/src/')[1].split('/')[0]}`;
  if (url.includes('/projections/')) return 'projections';
  if (url.includes('/test/')) return 'bench harness';
  return 'other';
};

export const profiled = async <T>(fn: () => Promise<T>): Promise<{ result: T; profile: ProfileSummary }> => {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    const result = await fn();
    const { profile } = (await session.post('Profiler.stop')) as { profile: { nodes: ProfileNode[]; startTime: number; endTime: number } };
    const total = profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0) || 1;
    const byPlace = new Map<string, number>();
    const byFn = new Map<string, number>();
    for (const n of profile.nodes) {
      const hits = n.hitCount ?? 0;
      if (hits === 0) continue;
      const { functionName, url, lineNumber } = n.callFrame;
      const p = place(url, functionName);
      byPlace.set(p, (byPlace.get(p) ?? 0) + hits);
      const file = url === '' ? '' : ` ${url.replace(/^.*\/(node_modules\/|src\/|projections\/|test\/)/, '$1')}:${lineNumber + 1}`;
      const k = `${functionName || '(anonymous)'}${file}`;
      byFn.set(k, (byFn.get(k) ?? 0) + hits);
    }
    const pct = (h: number): number => round((h / total) * 100, 1);
    return {
      result,
      profile: {
        sampledMs: round((profile.endTime - profile.startTime) / 1000, 0),
        byPlace: Object.fromEntries([...byPlace].sort((a, b) => b[1] - a[1]).map(([k, h]) => [k, pct(h)])),
        top: [...byFn]
          .sort((a, b) => b[1] - a[1])
          .slice(0, Number(process.env.PROFILE_TOP ?? 15))
          .map(([f, h]) => ({ fn: f, percent: pct(h) })),
      },
    };
  } finally {
    await session.post('Profiler.disable').catch(() => undefined);
    session.disconnect();
  }
};
