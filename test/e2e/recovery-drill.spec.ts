import { strict as assert } from 'node:assert';
import { existsSync, rmSync } from 'node:fs';
import type { Client, Reply } from '../../src/client/client';
import { readMarkers, type Marker } from '../../src/engine/replay';
import { topicName } from '../../src/messaging/topics';
import { coordctlJson } from '../support/coordctl';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

interface Replayed {
  readonly snapshots: number;
  readonly lastSnapshotId: string;
  readonly digest: string;
  readonly verified: boolean;
  readonly stop: { readonly reason: string };
}

/** The drill of the README's "Audits and recovery": stop every instance, remove their folders, rebuild, resume. */
describe('the recovery drill: stop every instance, remove their folders, rebuild, resume', function () {
  this.timeout(300_000);
  let d: Deployment;
  let active: CoordinatorProcess;
  let standby: CoordinatorProcess;
  let client: Client;
  const env = { COORD_SESSION_TIMEOUT_MS: '6000' };
  let firstIds: Reply;
  let lastBefore: Marker;
  const rebuilt: Replayed[] = [];
  let sourceBefore: Reply;

  const ok = async (type: string, value: Record<string, unknown>, correlationId?: string): Promise<Reply> => {
    const r = await client.ask(type, value, { correlationId, timeoutMs: 30_000 });
    assert.equal(r.status, 'OK', `${type}: ${r.status} ${r.message}`);
    return r;
  };

  before(async () => {
    d = await deployment(testStack(), 'drill');
    active = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'drill-a', env });
    standby = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'drill-b', env });
    await active.start();
    void standby.start().catch(() => undefined); // it never turns ready while it stands by
    await waitFor('the second instance to stand by', async () => (await standby.status())?.role === 'standby', 60_000);
    client = await d.client();
    for (const name of ['cars', 'trucks']) await ok('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'id', type: 'INT64' }] });
    await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
    await ok('coord.v1.CreateQuery', { name: 'q1', plan: JSON.stringify({ sources: ['cars'], sink: 'out' }), session: null, temporary: false });
    firstIds = await ok('coord.v1.AllocIds', { count: 100 }, 'drill-ids-1');
    sourceBefore = await ok('coord.v1.GetLogicalSource', { name: 'cars', asOfTs: null });

    // 1. Stop every instance.
    await standby.stop();
    await active.stop();
    const markers = await readMarkers(d.parts.kafka, d.parts.codec, topicName(d.config.topicPrefix, 'snapshots'));
    lastBefore = markers[markers.length - 1];
    // 2. Remove their folders.
    for (const c of [active, standby]) rmSync(c.dataDir, { recursive: true, force: true });
    // 3. Rebuild each from the log, verifying every snapshot.
    for (const c of [active, standby]) rebuilt.push(await coordctlJson<Replayed>(['replay', '--to', c.dataDir, '--verify'], d.config.topicPrefix));
    // 4. Resume.
    await active.start();
    void standby.start().catch(() => undefined);
    await waitFor('the second instance to stand by again', async () => (await standby.status())?.role === 'standby', 60_000);
  });

  after(async () => {
    await d?.close();
    await active?.stop();
    await standby?.stop();
  });

  it('rebuilds every instance to the last snapshot on the log, with its digest verified', () => {
    assert.equal(rebuilt.length, 2);
    for (const r of rebuilt) {
      assert.equal(r.verified, true);
      assert.equal(r.stop.reason, 'log-end');
      assert.equal(r.lastSnapshotId, lastBefore.snapshotId.toString());
      assert.equal(r.digest, lastBefore.digest);
    }
    for (const c of [active, standby]) assert.ok(existsSync(c.dataDir));
  });

  it('resumes from the rebuilt folder: the next snapshot follows the last one before the drill', async () => {
    // The standby's join makes the group rebalance; the first instance settles as the active one again.
    await waitFor('the first instance to settle as active', async () => (await active.status())?.role === 'active', 60_000);
    const r = await ok('coord.v1.GetLogicalSource', { name: 'cars', asOfTs: null });
    assert.ok(r.snapshotId > lastBefore.snapshotId, `snapshot ${r.snapshotId} comes after ${lastBefore.snapshotId}`);
    assert.deepEqual(r.payload, sourceBefore.payload, 'the state is the one before the drill');
  });

  it('answers a retry of a request decided before the drill with its first reply', async () => {
    const retried = await ok('coord.v1.AllocIds', { count: 100 }, 'drill-ids-1');
    assert.deepEqual(retried, firstIds);
  });

  it('hands out no id twice across the drill', async () => {
    const before = firstIds.payload?.value as { first: bigint; count: number };
    const after = (await ok('coord.v1.AllocIds', { count: 10 })).payload?.value as { first: bigint; count: number };
    assert.ok(after.first >= before.first + BigInt(before.count), `ids from ${after.first} after ${before.first}..${before.first + BigInt(before.count) - 1n}`);
  });

  it('keeps a standby that takes over when the active instance dies', async () => {
    await active.kill();
    await waitFor('the standby to become active', async () => (await standby.readyz()) === 200, 120_000);
    assert.equal((await ok('coord.v1.GetQuery', { name: 'q1', asOfTs: null })).status, 'OK');
  });
});
