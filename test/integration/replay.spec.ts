import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { catalog } from '../../projections/catalog';
import type { Handler, Projection } from '../../projections';
import type { Client } from '../../src/client/client';
import { replay } from '../../src/engine/replay';
import { projectRoot } from '../../src/messaging/schemas';
import { openStore } from '../../src/store/rocks';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';

describe('replay --verify', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  let s5Snapshot: bigint;

  before(async () => {
    d = await deployment(testStack(), 'replay');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'replay' });
    await coordinator.start();
    client = await d.client();
    // A history with creates, refusals, reads, retries and a restart in the middle.
    for (let i = 0; i < 20; i++) {
      const r = await client.ask('coord.v1.CreateLogicalSource', { name: `s${i}`, fields: [{ name: 'x', type: 'INT64' }] }, { correlationId: `c-${i}` });
      if (i === 5) s5Snapshot = r.snapshotId;
    }
    await Promise.all(Array.from({ length: 30 }, (_, i) => client.ask('coord.v1.CreateLogicalSource', { name: `s${i % 25}`, fields: [{ name: 'y', type: 'STRING' }] })));
    await coordinator.stop();
    await coordinator.start();
    await client.ask('coord.v1.CreateLogicalSource', { name: 's3', fields: [{ name: 'x', type: 'INT64' }] }, { correlationId: 'c-3' });
    await client.ask('coord.v1.GetLogicalSource', { name: 's7' });
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  const replayInto = async (name: string, projections?: readonly Projection[]) => {
    const store = await openStore(join(testStack().dir, name));
    try {
      return await replay({ kafka: d.parts.kafka, codec: d.parts.codec, store, log: testLog(), topicPrefix: d.config.topicPrefix, verify: true, projections });
    } finally {
      await store.close();
    }
  };

  it('rebuilds every snapshot from the log with the digest the coordinator recorded, and ends at the live digest', async () => {
    const { report, live: now } = await replayToLive(d, coordinator.httpUrl);
    assert.equal(report.mismatch, undefined);
    assert.equal(report.lastSnapshotId.toString(), now.snapshotId);
    assert.equal(report.digest, now.digest, 'the replayed state equals the live state');
    assert.ok(report.records >= 52, `every input record was replayed (${report.records})`);
  });

  it('runs as coordctl replay --verify --compare-live, with the live digest confirmed', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot(), 'src/cli/main.ts'), 'replay', '--to', join(testStack().dir, 'replay-cli'), '--verify', '--compare-live', coordinator.httpUrl, '--json'], {
      cwd: projectRoot(),
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, KAFKA_BROKERS: testStack().brokers, SCHEMA_REGISTRY_URL: testStack().registryUrl, COORD_TOPIC_PREFIX: d.config.topicPrefix },
    });
    assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
    const out = JSON.parse(res.stdout.trim()) as { verified: boolean; snapshots: number };
    assert.equal(out.verified, true);
    assert.ok(out.snapshots > 0);
    assert.match(res.stderr, /live digest at snapshot \d+ equals the replayed one/);
    assert.match(res.stderr, /snapshots .* records .* rec\/s {2}ETA/, 'a progress line with rate and ETA');
  });

  it('names the first snapshot whose digest differs when the projections do', async () => {
    const create = catalog.handlers['coord.v1.CreateLogicalSource'] as Handler<{ name: string }>;
    const tampered: Handler<{ name: string }> = {
      stage: 'catalog',
      decide: (msg, state, ctx) => {
        const dn = create.decide(msg, state, ctx);
        return msg.value.name !== 's5' ? dn : { ...dn, changes: dn.changes.map((c) => ({ ...c, image: { ...c.image, tampered: true } })) };
      },
    };
    const changed: Projection = {
      ...catalog,
      handlers: {
        ...catalog.handlers,
        // A decider that writes a different image for one source only.
        'coord.v1.CreateLogicalSource': tampered as Handler<never>,
      },
    };
    const report = await replayInto('replay-bad', [changed]);
    assert.ok(report.mismatch, 'the mismatch is found');
    assert.notEqual(report.mismatch.expected, report.mismatch.actual);
    assert.equal(report.mismatch.snapshotId, s5Snapshot, 'the snapshot that created s5 is named');
    assert.equal(report.lastSnapshotId, s5Snapshot, 'replay stops at the first mismatch');
  });
});
