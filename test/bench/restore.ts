/**
 * restore: what a new instance with an empty folder spends restoring a checkpoint before it
 * follows the log's tail (src/engine/checkpoint.ts). A bench folder's store is written as a
 * checkpoint to its deployment's checkpoints topic, as the active instance's checkpointer writes
 * it, then restored into an empty folder as `serve` restores one: the checkpoints topic read to
 * its end, the chunks written, the content hash and the state digest checked, the snapshot's
 * marker found on the snapshots topic from the last marker the checkpoint knew published.
 */
import { rmSync } from 'node:fs';
import { restoreCheckpoint, writeCheckpoint } from '../../src/engine/checkpoint';
import { checkpointProducer } from '../../src/messaging/kafka';
import { topicName } from '../../src/messaging/topics';
import { openStore } from '../../src/store/rocks';
import type { Deployment } from '../support/deployment';
import { benchLog, bounded, now, round } from './workload';

export interface RestoreRun {
  readonly entries: number;
  readonly chunks: number;
  readonly writeMs: number;
  readonly restoreMs: number;
  readonly entriesPerSecond: number;
}

export const restoreRun = async (d: Deployment, fromDir: string, intoDir: string): Promise<RestoreRun> => {
  const log = benchLog('bench-restore');
  const topic = topicName(d.config.topicPrefix, 'checkpoints');
  const source = await openStore(fromDir);
  const producer = checkpointProducer(d.parts.kafka);
  await producer.connect();
  let written;
  const t0 = now();
  try {
    written = await bounded('checkpoint write', 600_000, writeCheckpoint({ store: source, codec: d.parts.codec, producer, topic, log }, 0));
  } finally {
    await producer.disconnect();
    await source.close();
  }
  if (written === undefined) throw new Error(`${fromDir} holds no snapshot to checkpoint`);
  const writeMs = now() - t0;
  const target = await openStore(intoDir);
  try {
    const t1 = now();
    const r = await bounded('checkpoint restore', 600_000, restoreCheckpoint({ store: target, kafka: d.parts.kafka, codec: d.parts.codec, topic, snapshotsTopic: topicName(d.config.topicPrefix, 'snapshots'), log }));
    const restoreMs = now() - t1;
    if (r.kind !== 'restored') throw new Error(`the checkpoint of ${fromDir} did not restore: ${r.kind === 'none' ? r.why : r.kind}`);
    const entries = Number(r.entries);
    return { entries, chunks: written.chunks, writeMs: round(writeMs, 1), restoreMs: round(restoreMs, 1), entriesPerSecond: Math.round(entries / (restoreMs / 1000)) };
  } finally {
    await target.close();
    rmSync(intoDir, { recursive: true, force: true });
  }
};
