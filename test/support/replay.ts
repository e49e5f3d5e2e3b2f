/** Replaying a test deployment's log next to its live coordinator, to the very snapshot the coordinator stands at. */
import { join } from 'node:path';
import { replay, type ReplayReport } from '../../src/engine/replay';
import { openStore } from '../../src/store/rocks';
import type { Deployment } from './deployment';
import { testLog } from './deployment';
import { testStack } from './stack';

export interface LiveStatus {
  readonly snapshotId: string;
  readonly digest: string;
}

export const liveStatus = async (httpUrl: string): Promise<LiveStatus> => (await (await fetch(`${httpUrl}/readyz`)).json()) as LiveStatus;

let n = 0;

/**
 * The coordinator keeps taking snapshots (every tick is one), so the comparison is made at
 * the snapshot it stood at when asked: replay stops there, verifying every digest on the way.
 */
export const replayToLive = async (d: Deployment, httpUrl: string): Promise<{ report: ReplayReport; live: LiveStatus }> => {
  const live = await liveStatus(httpUrl);
  const until = BigInt(live.snapshotId);
  const store = await openStore(join(testStack().dir, `replay-to-live-${n++}`));
  try {
    for (let attempt = 0; ; attempt++) {
      const report = await replay({ kafka: d.parts.kafka, codec: d.parts.codec, store, log: testLog(), topicPrefix: d.config.topicPrefix, verify: true, untilSnapshotId: until });
      // The marker of the live snapshot is published just after its commit; a replay that ran ahead of it stops short.
      if (report.lastSnapshotId === until || report.mismatch !== undefined || attempt >= 10) return { report, live };
      await store.write({ puts: [], deleteRanges: [['', '\uffff']] });
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await store.close();
  }
};
