import { strict as assert } from 'node:assert';
import type { Client } from '../../src/client/client';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';

const CARS = { name: 'cars', fields: [{ name: 'id', type: 'INT64' }, { name: 'speed', type: 'FLOAT64' }] };

describe('the first request on the real stack', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;

  before(async () => {
    d = await deployment(testStack(), 'first');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'first' });
    await coordinator.start();
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  it('creates a logical source and reads it back with its fields', async () => {
    const created = await client.ask('coord.v1.CreateLogicalSource', CARS);
    assert.equal(created.status, 'OK', created.message);
    assert.ok(created.snapshotId > 0n, 'a created source names the snapshot that applied it');
    const got = await client.ask('coord.v1.GetLogicalSource', { name: 'cars' });
    assert.equal(got.status, 'OK', got.message);
    assert.deepEqual(got.payload, { type: 'coord.v1.LogicalSource', value: CARS });
  });

  it('returns the same fields after the coordinator restarts from RocksDB', async () => {
    const before = await client.ask('coord.v1.GetLogicalSource', { name: 'cars' });
    await coordinator.stop();
    await coordinator.start();
    const after = await client.ask('coord.v1.GetLogicalSource', { name: 'cars' });
    assert.equal(after.status, 'OK', after.message);
    assert.deepEqual(after.payload, before.payload);
    assert.ok(after.snapshotId > before.snapshotId, 'snapshot ids keep rising across a restart');
  });

  it('refuses a second create of the same name with ALREADY_EXISTS', async () => {
    const again = await client.ask('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'other', type: 'STRING' }] });
    assert.equal(again.status, 'ALREADY_EXISTS');
    const got = await client.ask('coord.v1.GetLogicalSource', { name: 'cars' });
    assert.deepEqual(got.payload?.value, CARS, 'the refused create changed nothing');
  });

  it('answers NOT_FOUND for a name that was never created', async () => {
    const got = await client.ask('coord.v1.GetLogicalSource', { name: 'no-such-source' });
    assert.equal(got.status, 'NOT_FOUND');
    assert.match(got.message, /no-such-source/);
    assert.equal(got.payload, null);
  });

  it('answers INVALID_ARGUMENT for a create with no fields', async () => {
    const r = await client.ask('coord.v1.CreateLogicalSource', { name: 'empty', fields: [] });
    assert.equal(r.status, 'INVALID_ARGUMENT');
    assert.match(r.message, /at least one field/);
  });
});
