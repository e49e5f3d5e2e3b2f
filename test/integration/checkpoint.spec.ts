import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { chunkKey, MANIFEST_RECORD, restoreCheckpoint, SNAPSHOT_HEADER, type Slot } from '../../src/engine/checkpoint';
import { readMarkers } from '../../src/engine/replay';
import { readToEnd } from '../../src/messaging/read-to-end';
import { INPUT_KINDS, topicName } from '../../src/messaging/topics';
import { openStore } from '../../src/store/rocks';
import type { CoordinatorProcess } from '../support/coordinator-process';
import { testLog } from '../support/deployment';
import { instancePair, UNSTARTED } from '../support/instance-pair';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/** A gauge's value on an instance's /metrics, or undefined while it has none. */
const gauge = async (c: CoordinatorProcess, name: string): Promise<number | undefined> => {
  const text = await (await fetch(`${c.httpUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })).text().catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

describe('a new instance with an empty folder starts from a checkpoint, not from the first snapshot', function () {
  this.timeout(300_000);
  // Snapshots only on requests, so the state stands still between them; a checkpoint every 1.5 s.
  const env = { COORD_SESSION_TIMEOUT_MS: '6000', COORD_TICK_INTERVAL_MS: '600000', COORD_CHECKPOINT_INTERVAL_MS: '1500' };
  let { d, a, b, client, close } = UNSTARTED;

  before(async () => ({ d, a, b, client, close } = await instancePair('ckpt', env)));
  after(() => close());

  const create = async (name: string) => client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `ck-${name}`, timeoutMs: 30_000 });

  it('restores the checkpoint once the log before it is gone, follows the tail, and takes over', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await create(`early-${i}`)).status, 'OK');
    const settled = await a.status();
    assert.ok(settled !== undefined);
    await waitFor('a checkpoint of the settled snapshot', async () => (await gauge(a, 'coord_checkpoint_snapshot_id')) === Number(settled.snapshotId), 60_000);

    // As retention would: every input record the checkpoint folded is deleted, and every marker before the checkpoint's snapshot.
    const { kafka, codec } = d.parts;
    const snapshots = topicName(d.config.topicPrefix, 'snapshots');
    const own = (await readMarkers(kafka, codec, snapshots)).find((m) => m.snapshotId.toString() === settled.snapshotId);
    assert.ok(own !== undefined, 'the checkpoint snapshot has its marker');
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.fetchTopicOffsets(snapshots); // loads the topic's metadata, which a delete needs
      await admin.deleteTopicRecords({ topic: snapshots, partitions: [{ partition: 0, offset: own.offset.toString() }] });
      for (const kind of INPUT_KINDS) {
        const topic = topicName(d.config.topicPrefix, kind);
        const ends = await admin.fetchTopicOffsets(topic);
        await admin.deleteTopicRecords({ topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
      }
    } finally {
      await admin.disconnect();
    }

    // The log's tail after the checkpoint.
    for (let i = 0; i < 5; i++) assert.equal((await create(`late-${i}`)).status, 'OK');

    void b.start().catch(() => undefined); // it stands by, never ready while the other is active
    await waitFor('the newcomer to stand by and follow', async () => {
      const s = await b.status();
      return s?.role === 'standby' && s.following.state === 'following';
    }, 120_000);
    // More of the tail, which it follows from the checkpoint's input offsets.
    for (let i = 5; i < 10; i++) assert.equal((await create(`late-${i}`)).status, 'OK');
    const active = await a.status();
    await waitFor("the newcomer to reach the active one's snapshot", async () => (await b.status())?.snapshotId === active?.snapshotId, 120_000);
    const standby = await b.status();
    assert.equal(standby?.digest, active?.digest, 'the same state, by its digest');
    assert.deepEqual(standby?.following, { state: 'following', behind: 0 });

    await a.kill();
    await waitFor('the newcomer to take over', async () => (await b.readyz()) === 200, 120_000);
    for (const name of ['early-0', 'early-29', 'late-4', 'late-9'])
      assert.equal((await client.ask('coord.v1.GetLogicalSource', { name })).status, 'OK', `${name} is in the restored state`);
    assert.equal((await create('early-7')).status, 'OK', 'a retry of a request folded before the checkpoint gets its remembered reply');
    assert.equal((await create('after-takeover')).status, 'OK');
  });
});

describe('a checkpoint whose chunk does not decode', function () {
  this.timeout(300_000);
  const env = { COORD_SESSION_TIMEOUT_MS: '6000', COORD_TICK_INTERVAL_MS: '600000', COORD_CHECKPOINT_INTERVAL_MS: '1000' };
  let { d, a, client, close } = UNSTARTED;

  before(async () => ({ d, a, client, close } = await instancePair('ckpoison', env)));
  after(() => close());

  const create = async (name: string) => client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `cp-${name}`, timeoutMs: 30_000 });
  /** Creates, then waits for a checkpoint of the snapshot the instance then stands at; that snapshot's id. */
  const checkpointAfter = async (names: string[]): Promise<number> => {
    for (const n of names) assert.equal((await create(n)).status, 'OK');
    const id = Number((await a.status())?.snapshotId);
    await waitFor(`a checkpoint of snapshot ${id}`, async () => (await gauge(a, 'coord_checkpoint_snapshot_id')) === id, 60_000);
    return id;
  };

  it('is set aside: the restore takes the older checkpoint instead of failing', async () => {
    const older = await checkpointAfter(['p0', 'p1', 'p2']);
    const newer = await checkpointAfter(['p3', 'p4']);
    assert.ok(newer > older);
    const { kafka, codec } = d.parts;
    const topic = topicName(d.config.topicPrefix, 'checkpoints');
    const slots = new Map<bigint, Slot>();
    /** Each slot's newest manifest: the checkpoint it holds (in log order, the last written wins). */
    const holds = new Map<Slot, bigint>();
    await readToEnd(kafka, topic, async (_p, m) => {
      if (m.value === null || !m.key?.toString().endsWith('/manifest')) return;
      const v = await codec.decode(m.value, topic);
      if (v.fullName !== MANIFEST_RECORD) return;
      slots.set(v.value.snapshotId as bigint, v.value.slot as Slot);
      holds.set(v.value.slot as Slot, v.value.snapshotId as bigint);
    }, { timeoutMs: 60_000, groupPrefix: 'coord-replay-test-' });
    const slot = slots.get(BigInt(newer));
    assert.ok(slot !== undefined && slots.has(BigInt(older)), 'both checkpoints have their manifests');
    // The timer (every second) may have taken one more checkpoint between p3 and p4: the other slot then holds that one.
    const fallback = [...holds].find(([s]) => s !== slot)?.[1];
    assert.ok(fallback !== undefined && fallback >= BigInt(older) && fallback < BigInt(newer), `the other slot holds a checkpoint older than ${newer}: ${String(fallback)}`);

    // A record under the newer checkpoint's first chunk key, claiming its snapshot, that is no chunk at all.
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: chunkKey(slot, 0), value: Buffer.from('not a chunk'), headers: { [SNAPSHOT_HEADER]: String(newer) } }] });
    await producer.disconnect();

    const store = await openStore(join(testStack().dir, 'ckpoison-restore'));
    try {
      const r = await restoreCheckpoint({ store, kafka, codec, topic, snapshotsTopic: topicName(d.config.topicPrefix, 'snapshots'), log: testLog(), timeoutMs: 60_000 });
      assert.equal(r.kind, 'restored');
      assert.equal(r.kind === 'restored' ? Number(r.snapshotId) : undefined, Number(fallback), 'the older checkpoint, in the other slot, which checks out');
    } finally {
      await store.close();
    }
  });
});
