/** The verdict every fault scenario ends with: every request exactly one effect, no reply lost, one history that replay reaches. */
import { strict as assert } from 'node:assert';
import type { Client, Reply } from '../../src/client/client';
import type { Deployment } from '../support/deployment';
import { notOk } from '../support/load';
import { readMarkerChain } from '../../src/engine/replay';
import { topicName } from '../../src/messaging/topics';
import { replayToLive } from '../support/replay';

export const assertVerdict = async (d: Deployment, client: Client, httpUrl: string, names: readonly string[], replies: readonly Reply[]): Promise<void> => {
  assert.equal(replies.length, names.length, 'every request got a reply');
  assert.deepEqual(notOk(replies), [], 'each create took effect once: a second effect would answer ALREADY_EXISTS');
  const correlationIds = new Set(replies.map((r) => r.correlationId));
  assert.equal(correlationIds.size, names.length, 'one reply per request');
  for (const name of names) assert.equal((await client.ask('coord.v1.GetLogicalSource', { name }, { timeoutMs: 30_000 })).status, 'OK', `${name} exists`);
  const { report, live } = await replayToLive(d, httpUrl);
  assert.equal(report.mismatch, undefined, 'replay --verify passes every snapshot');
  if (report.lastSnapshotId.toString() !== live.snapshotId) {
    // Say why the chain ended where it did: the records the marker reader set aside.
    const chain = await readMarkerChain(d.parts.kafka, d.parts.codec, topicName(d.config.topicPrefix, 'snapshots'));
    const skipped = chain.skipped.slice(0, 10).map((s) => `offset ${s.offset}: ${s.reason}`);
    assert.fail(`replay reached snapshot ${report.lastSnapshotId}, the live coordinator stands at ${live.snapshotId}; the chain has ${chain.markers.length} markers, last ${chain.markers.at(-1)?.snapshotId}; skipped: ${skipped.join('; ') || 'none'}`);
  }
  assert.equal(report.digest, live.digest, 'the live digest equals a from-scratch replay');
};

/** Median and max of a list of durations, for the README's table. */
export const spread = (ms: readonly number[]): { median: number; max: number; runs: number } => {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)] ?? 0, max: s[s.length - 1] ?? 0, runs: s.length };
};
