/** Replay speed: rebuilding a deployment's state from its log (src/engine/replay.ts, with verify) into a new folder. */
import { replay } from '../../src/engine/replay';
import { createParts } from '../../src/runtime';
import { openStore } from '../../src/store/rocks';
import type { Deployment } from '../support/deployment';
import { benchLog, bounded, now, round } from './workload';

const log = benchLog('bench-replay');

export interface ReplayRun {
  readonly events: number;
  readonly snapshots: number;
  /** From calling replay() (markers read, consumer joined, every snapshot folded and verified) to its report. */
  readonly ms: number;
  readonly eventsPerSecond: number;
  /** The first snapshot whose digest differed from its marker's, if any: a real error, reported and failed on at the end. */
  readonly mismatch: string | null;
}

export const replayRun = async (d: Deployment, dir: string): Promise<ReplayRun> => {
  const { kafka, codec } = createParts(d.config, 'bench-replay', log);
  const store = await openStore(dir);
  try {
    const t0 = now();
    const report = await bounded(
      'replay',
      600_000,
      replay({
        kafka,
        codec,
        store,
        log,
        topicPrefix: d.config.topicPrefix,
        verify: true,
      }),
    );
    const ms = now() - t0;
    const m = report.mismatch;
    return {
      events: report.records,
      snapshots: report.snapshots,
      ms: round(ms, 1),
      eventsPerSecond: round((report.records / ms) * 1000, 0),
      mismatch: m === undefined ? null : `snapshot ${m.snapshotId}: marker ${m.expected}, replay ${m.actual}`,
    };
  } finally {
    await store.close();
  }
};
