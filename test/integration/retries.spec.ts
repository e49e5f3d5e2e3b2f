import { strict as assert } from 'node:assert';
import type { Client } from '../../src/client/client';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { readTopic } from '../support/topics';

describe('retries, deadlines and snapshot markers', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;

  before(async () => {
    d = await deployment(testStack(), 'retry');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'retry' });
    await coordinator.start();
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  it('answers a retried request with the byte-identical reply and no second effect, even after a restart', async () => {
    const value = { name: 'retried', fields: [{ name: 'a', type: 'INT64' }] };
    const first = await client.ask('coord.v1.CreateLogicalSource', value, { correlationId: 'retry-1' });
    assert.equal(first.status, 'OK');
    const second = await client.ask('coord.v1.CreateLogicalSource', value, { correlationId: 'retry-1' });
    assert.deepEqual(second, first, 'the retry gets the first reply, snapshot id included');
    await coordinator.stop();
    await coordinator.start();
    const third = await client.ask('coord.v1.CreateLogicalSource', value, { correlationId: 'retry-1' });
    assert.deepEqual(third, first, 'the reply is remembered across restarts');
    const fresh = await client.ask('coord.v1.CreateLogicalSource', value);
    assert.equal(fresh.status, 'ALREADY_EXISTS', 'a new correlation id is a new request');

    const replies = await readTopic(d.parts.kafka, d.config.replyTopic, (all) => all.filter((r) => r.message.key?.toString() === 'retry-1').length >= 3);
    const bodies = replies.filter((r) => r.message.key?.toString() === 'retry-1').map((r) => r.message.value?.toString('hex'));
    assert.equal(bodies.length, 3);
    assert.equal(new Set(bodies).size, 1, 'all three replies have the same bytes');
  });

  it('refuses a request whose deadline passed with DEADLINE_EXCEEDED and no effect', async () => {
    const late = await client.ask('coord.v1.CreateLogicalSource', { name: 'late', fields: [{ name: 'a', type: 'INT64' }] }, { deadlineMs: Date.now() - 60_000 });
    assert.equal(late.status, 'DEADLINE_EXCEEDED');
    const got = await client.ask('coord.v1.GetLogicalSource', { name: 'late' });
    assert.equal(got.status, 'NOT_FOUND', 'the expired create had no effect');
  });

  it('publishes one snapshot marker per snapshot with rising ids, offset ranges and a digest', async () => {
    const r = await client.ask('coord.v1.GetLogicalSource', { name: 'retried' });
    const markers = await readTopic(d.parts.kafka, `${d.config.topicPrefix}.snapshots`, (all) => all.some((m) => m.message.key?.toString() === r.snapshotId.toString()));
    const decoded = await Promise.all(markers.map(async (m) => (await d.parts.codec.decode(m.message.value)).value as { snapshotId: bigint; digest: string; inputs: { topic: string; fromOffset: bigint; toOffset: bigint }[] }));
    const ids = decoded.map((m) => m.snapshotId);
    assert.deepEqual(ids, [...new Set(ids)].sort((a, b) => (a < b ? -1 : 1)), 'ids rise and none repeats');
    const last = decoded.find((m) => m.snapshotId === r.snapshotId);
    assert.ok(last);
    assert.match(last.digest, /^[0-9a-f]{64}$/);
    assert.ok(last.inputs.some((i) => i.topic === `${d.config.topicPrefix}.requests.catalog` && i.toOffset >= i.fromOffset));
  });
});
