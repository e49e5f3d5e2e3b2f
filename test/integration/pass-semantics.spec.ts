import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { Partitioners, type Producer } from 'kafkajs';
import { catalog } from '../../projections/catalog';
import type { Handler, Projection } from '../../projections';
import { makeConfig } from '../../src/config';
import { createCoordinator, type Coordinator } from '../../src/engine/coordinator';
import { openStore, type Store } from '../../src/store/rocks';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { header, readTopic } from '../support/topics';

/** A catalog whose create decider throws for one name: a bug in a projection, in one message. */
const withBrokenCreate = (): Projection => {
  const create = catalog.handlers['coord.v1.CreateLogicalSource'] as Handler<{ name: string }>;
  const broken: Handler<{ name: string }> = {
    stage: 'catalog',
    decide: (msg, state, ctx) => {
      if (msg.value.name === 'boom') throw new Error('boom is not a name this decider can take');
      return create.decide(msg, state, ctx);
    },
  };
  return { ...catalog, handlers: { ...catalog.handlers, 'coord.v1.CreateLogicalSource': broken as Handler<never> } };
};

describe('one pass: cancel-outs, conflicts and a decider that throws', function () {
  this.timeout(180_000);
  let d: Deployment;
  let store: Store;
  let coordinator: Coordinator | undefined;
  let raw: Producer;

  before(async () => {
    d = await deployment(testStack(), 'pass');
    store = await openStore(join(testStack().dir, 'pass-rocksdb'));
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
  });

  after(async () => {
    await raw?.disconnect();
    await coordinator?.close();
    await store?.close();
    await d?.close();
  });

  /** Requests produced while no coordinator runs land in one batch when it starts. */
  const oneBatch = async (requests: { id: string; type: string; value: Record<string, unknown> }[]) => {
    const topic = `${d.config.topicPrefix}.requests.catalog`;
    const messages = await Promise.all(
      requests.map(async (r) => ({
        key: String(r.value.name),
        value: await d.parts.codec.encode(topic, r.type, r.value),
        headers: { 'correlation-id': r.id, 'reply-to': d.config.replyTopic },
      })),
    );
    await raw.send({ topic, acks: -1, messages });
    coordinator = createCoordinator({ config: makeConfig({ ...d.config, dataDir: store.dir }), kafka: d.parts.kafka, codec: d.parts.codec, store, log: testLog(), projections: [withBrokenCreate()] });
    await coordinator.start();
    const ids = new Set(requests.map((r) => r.id));
    const replies = await readTopic(d.parts.kafka, d.config.replyTopic, (all) => [...ids].every((id) => all.some((m) => m.message.key?.toString() === id)));
    await coordinator.close();
    coordinator = undefined;
    const out = new Map<string, { status: string; snapshotId: bigint; message: string }>();
    for (const m of replies) {
      const id = m.message.key?.toString() ?? '';
      if (ids.has(id)) out.set(id, (await d.parts.codec.decode(m.message.value)).value as { status: string; snapshotId: bigint; message: string });
    }
    return out;
  };

  const source = (name: string) => ({ name, fields: [{ name: 'v', type: 'INT64' }] });

  it('lets a create and a drop of one name cancel out: both OK, no net change', async () => {
    const r = await oneBatch([
      { id: 'co-create', type: 'coord.v1.CreateLogicalSource', value: source('ephemeral') },
      { id: 'co-drop', type: 'coord.v1.DropLogicalSource', value: { name: 'ephemeral', cascade: false } },
      { id: 'co-get', type: 'coord.v1.GetLogicalSource', value: { name: 'ephemeral' } },
    ]);
    assert.equal(r.get('co-create')?.status, 'OK');
    assert.equal(r.get('co-drop')?.status, 'OK');
    assert.equal(r.get('co-get')?.status, 'NOT_FOUND', 'requests of one pass see each other in log order');
    const snapshot = r.get('co-create')?.snapshotId;
    assert.equal(r.get('co-drop')?.snapshotId, snapshot, 'all three were one snapshot');
    const markers = await readTopic(d.parts.kafka, `${d.config.topicPrefix}.snapshots`, (all) => all.some((m) => m.message.key?.toString() === String(snapshot)));
    const marker = markers.find((m) => m.message.key?.toString() === String(snapshot));
    assert.ok(marker);
    const v = (await d.parts.codec.decode(marker.message.value)).value as { changes: number; digest: string };
    assert.equal(v.changes, 0, 'no entity changed');
    assert.equal(v.digest, '0'.repeat(64), 'the state is still empty');
  });

  it('lets the first of two creates of one name win and refuses the second with ALREADY_EXISTS', async () => {
    const r = await oneBatch([
      { id: 'cf-1', type: 'coord.v1.CreateLogicalSource', value: source('twice') },
      { id: 'cf-2', type: 'coord.v1.CreateLogicalSource', value: { name: 'twice', fields: [{ name: 'other', type: 'STRING' }] } },
    ]);
    assert.equal(r.get('cf-1')?.status, 'OK');
    assert.equal(r.get('cf-2')?.status, 'ALREADY_EXISTS');
    assert.equal(r.get('cf-2')?.snapshotId, r.get('cf-1')?.snapshotId, 'both were one snapshot');
  });

  it('fails only the message whose decider throws: INTERNAL to its sender, a DLQ record, the rest committed', async () => {
    const r = await oneBatch([
      { id: 'th-before', type: 'coord.v1.CreateLogicalSource', value: source('fine-1') },
      { id: 'th-boom', type: 'coord.v1.CreateLogicalSource', value: source('boom') },
      { id: 'th-after', type: 'coord.v1.CreateLogicalSource', value: source('fine-2') },
    ]);
    assert.equal(r.get('th-before')?.status, 'OK');
    assert.equal(r.get('th-after')?.status, 'OK');
    assert.equal(r.get('th-boom')?.status, 'INTERNAL');
    assert.match(r.get('th-boom')?.message ?? '', /boom is not a name/);
    const dlq = await readTopic(d.parts.kafka, `${d.config.topicPrefix}.dlq`, (all) => all.some((m) => header(m.message, 'correlation-id') === 'th-boom'));
    const rec = dlq.find((m) => header(m.message, 'correlation-id') === 'th-boom');
    assert.ok(rec, 'the message is in the DLQ');
    assert.equal(header(rec.message, 'dlq-code'), 'DECIDER_FAILED');
  });
});
