import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import * as avro from 'avsc';
import { Kafka } from 'kafkajs';
import { plaintext } from '../../src/messaging/kafka';
import { kafkaSaslOptions, kafkaSslOptions } from '../../src/messaging/security';
import type { Client, Reply } from '../../src/client/client';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/** Avro longs as bigint: snapshot timestamps pass 2^53. Any Avro library has an equivalent. */
const LONG = (avro.types.LongType as unknown as { __with(m: Record<string, unknown>): avro.Type }).__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (x: unknown) => BigInt(x as string),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

interface Change {
  readonly entityType: string;
  readonly key: string;
  readonly snapshotId: bigint;
  readonly op: 'UPSERT' | 'DELETE';
  readonly image: string | null;
}

/**
 * An analytics consumer that knows nothing of this repository: plain kafkajs, and the schemas
 * fetched by id from the registry's Confluent-compatible API.
 */
const outsideReader = (brokers: string, registryUrl: string) => {
  const types = new Map<number, Promise<avro.Type>>();
  const typeOf = (id: number): Promise<avro.Type> => {
    let t = types.get(id);
    if (t === undefined) {
      t = fetch(`${registryUrl}/schemas/ids/${id}`, { signal: AbortSignal.timeout(10_000) })
        .then((r) => r.json() as Promise<{ schema: string }>)
        .then((body) => avro.Type.forSchema(JSON.parse(body.schema) as avro.Schema, { registry: { long: LONG } } as unknown as avro.ForSchemaOptions));
      types.set(id, t);
    }
    return t;
  };
  return {
    /** Everything on `topic` up to its end as it was when asked. */
    read: async (topic: string): Promise<Change[]> => {
      // Plain kafkajs as any analytics tool would use it; on the secured stack with the run's credentials.
      const conn = { ...plaintext([brokers]), ...testStack().connection };
      const kafka = new Kafka({ clientId: 'analytics', brokers: [brokers], logLevel: 0, ssl: kafkaSslOptions(conn), sasl: kafkaSaslOptions(conn) });
      const admin = kafka.admin();
      await admin.connect();
      const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
      const seen = new Map<number, bigint>();
      // Each transaction ends with a commit marker, which a read_committed consumer never sees: the last record sits just before it.
      const done = (): boolean => ends.every((e) => BigInt(e.high) === BigInt(e.low) || (seen.get(e.partition) ?? -1n) >= BigInt(e.high) - 2n);
      const consumer = kafka.consumer({ groupId: `analytics-${randomUUID()}`, maxWaitTimeInMs: 50 });
      const out: Change[] = [];
      // A record this reader cannot take ends the read with its reason (kafkajs would retry it unseen).
      let unreadable: unknown;
      try {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            if (unreadable !== undefined) return;
            try {
              const v = message.value as Buffer;
              assert.equal(v[0], 0, 'Confluent wire format: magic byte 0');
              const decoded = (await typeOf(v.readInt32BE(1))).fromBuffer(v.subarray(5)) as Change;
              out.push(decoded);
              seen.set(partition, BigInt(message.offset));
            } catch (err) {
              unreadable = err;
            }
          },
        });
        await waitFor(
          `${topic} to be read to its end`,
          () => {
            if (unreadable !== undefined) throw unreadable;
            return done();
          },
          60_000,
        );
      } finally {
        await consumer.disconnect().catch(() => undefined);
      }
      return out;
    },
  };
};

describe('the changelog, read by a consumer that only knows Kafka and the registry', function () {
  this.timeout(300_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  let worker: WorkerAgent;

  const ok = async (type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await client.ask(type, value);
    assert.equal(r.status, 'OK', `${type}: ${r.status} ${r.message}`);
    return r;
  };

  before(async () => {
    d = await deployment(testStack(), 'changelog');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'changelog' });
    await coordinator.start();
    client = await d.client();
    worker = createWorkerAgent({ client, log: testLog(), workerId: 'w1', slots: 4, heartbeatMs: 100 });
    await worker.start();
  });

  after(async () => {
    await worker?.die();
    await d?.close();
    await coordinator?.stop();
  });

  it('rebuilds the same catalog as the coordinator holds', async () => {
    await ok('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }] });
    await ok('coord.v1.CreateLogicalSource', { name: 'bikes', fields: [{ name: 'id', type: 'INT64' }, { name: 'gear', type: 'INT32' }] });
    await ok('coord.v1.CreateLogicalSource', { name: 'gone', fields: [{ name: 'x', type: 'STRING' }] });
    await waitFor('w1 registered', async () => ((await client.ask('coord.v1.ListWorkers', { includeGone: false })).payload?.value as { workers: unknown[] }).workers.length === 1);
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-1', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: { port: '1' } });
    await ok('coord.v1.CreatePhysicalSource', { name: 'gone-1', logicalSource: 'gone', workerId: 'w1', connectorType: 'csv', options: {} });
    await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: { format: 'json' } });
    await ok('coord.v1.DropLogicalSource', { name: 'gone', cascade: true });

    const expected = new Map<string, unknown>();
    const lists = [
      ['logical-source', 'coord.v1.ListLogicalSources', 'logicalSources'],
      ['physical-source', 'coord.v1.ListPhysicalSources', 'physicalSources'],
      ['sink', 'coord.v1.ListSinks', 'sinks'],
    ] as const;
    for (const [entity, type, field] of lists) {
      const r = await ok(type, type === 'coord.v1.ListPhysicalSources' ? { logicalSource: null, asOfTs: null } : { asOfTs: null });
      for (const item of (r.payload?.value as Record<string, { name: string }[]>)[field]) expected.set(`${entity}/${item.name}`, item);
    }
    assert.equal(expected.size, 4);

    const catalog = new Map<string, { snapshotId: bigint; image: Record<string, unknown> | null }>();
    const changes = await outsideReader(testStack().brokers, testStack().registryUrl).read(`${d.config.topicPrefix}.changelog`);
    for (const c of changes) {
      if (!['logical-source', 'physical-source', 'sink'].includes(c.entityType)) continue;
      const k = `${c.entityType}/${c.key}`;
      const seen = catalog.get(k);
      // At least once: a re-published snapshot may repeat; the newest snapshot's image wins.
      if (seen !== undefined && seen.snapshotId > c.snapshotId) continue;
      const image = c.image === null ? null : (JSON.parse(c.image) as Record<string, unknown>);
      catalog.set(k, { snapshotId: c.snapshotId, image: c.op === 'DELETE' ? null : image });
    }
    const rebuilt = new Map([...catalog].filter(([, v]) => v.image !== null).map(([k, v]) => [k, v.image as Record<string, unknown>]));
    assert.deepEqual([...rebuilt.keys()].sort(), [...expected.keys()].sort());
    for (const [k, want] of expected) {
      const got = rebuilt.get(k) as Record<string, unknown>;
      for (const [field, value] of Object.entries(want as Record<string, unknown>)) assert.deepEqual(got[field], value, `${k}.${field}`);
    }
    assert.ok(changes.some((c) => c.entityType === 'logical-source' && c.key === 'gone' && c.op === 'DELETE'), 'the cascade shows as DELETEs');
  });

  it('coalesces a snapshot’s changes: one record per entity, the last image, however many reports', async () => {
    // 300 statistics reports, each a new image of w1, in one produce request: they fold into few snapshots.
    await client.sendMany(Array.from({ length: 300 }, (_, i) => ({ type: 'coord.v1.WorkerStatistics', value: { workerId: 'w1', incarnation: worker.incarnation, statistics: { report: i } }, opts: { key: 'w1' } })));
    const reportOf = (c: Change): number | undefined => (c.image === null ? undefined : (JSON.parse(c.image) as { statistics: { report?: number } | null }).statistics?.report);
    // The reports are folded and published a moment after they are produced: read until the last one is there.
    let changes: Change[] = [];
    const lastIsThere = (): boolean => changes.some((c) => c.key === 'w1' && reportOf(c) === 299);
    // A read that fails is tried again; if the wait runs out, its error says why the reads failed.
    let readError: unknown;
    await waitFor(
      'the last report on the changelog',
      async () => {
        try {
          changes = await outsideReader(testStack().brokers, testStack().registryUrl).read(`${d.config.topicPrefix}.changelog`);
        } catch (e) {
          readError = e;
          return false;
        }
        return lastIsThere();
      },
      // Each read is a new consumer joining a group of its own: on a loaded machine that alone takes seconds.
      150_000,
      500,
    ).catch((e: Error) => {
      throw readError === undefined ? e : new Error(`${e.message}; the last read failed: ${String(readError)}`);
    });
    const reports = changes.filter((c) => c.key === 'w1' && reportOf(c) !== undefined);
    assert.ok(lastIsThere(), 'the last image is there');
    assert.ok(reports.length < 300, `${reports.length} records for 300 reports`);
    const perSnapshot = new Map<string, number>();
    for (const c of changes) {
      const k = `${c.snapshotId}/${c.entityType}/${c.key}`;
      perSnapshot.set(k, (perSnapshot.get(k) ?? 0) + 1);
    }
    assert.ok([...perSnapshot.values()].every((n) => n === 1), 'no entity twice in one snapshot');
  });
});
