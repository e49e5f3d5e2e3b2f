import { strict as assert } from 'node:assert';
import { Partitioners, type Producer } from 'kafkajs';
import type { Client, Reply } from '../../src/client/client';
import { frame } from '../../src/messaging/wire';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { header, readTopic } from '../support/topics';

interface Bad {
  readonly id: string;
  readonly code: string;
  readonly value: Buffer | null;
  /** Whether the record carries correlation-id and reply-to, so its sender can be answered. */
  readonly addressed: boolean;
  /** Headers to send instead of the usual ones. */
  readonly headers?: Record<string, string>;
}

describe('bad input on the request path', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  let raw: Producer;

  before(async () => {
    d = await deployment(testStack(), 'bad');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'bad' });
    await coordinator.start();
    client = await d.client();
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
  });

  after(async () => {
    await raw?.disconnect();
    await d?.close();
    await coordinator?.stop();
  });

  it('sends every bad record to the DLQ with its reason, answers the addressable ones, and keeps serving', async () => {
    const topic = `${d.config.topicPrefix}.requests.catalog`;
    const { codec } = d.parts;
    const valid = await codec.encode(topic, 'coord.v1.CreateLogicalSource', { name: 'ok', fields: [{ name: 'a', type: 'INT32' }] });
    const wrongType = await codec.encode(topic, 'coord.v1.Reply', { correlationId: 'x', status: 'OK', message: '', snapshotId: 1n, snapshotTs: 1n, payload: null });
    const bad: Bad[] = [
      { id: 'garbage', code: 'WIRE_MALFORMED', value: Buffer.from('this is not avro'), addressed: true },
      { id: 'unknown-schema', code: 'SCHEMA_UNKNOWN', value: frame(987_654_321, Buffer.from([2, 97])), addressed: true },
      { id: 'truncated', code: 'SCHEMA_INVALID', value: valid.subarray(0, valid.length - 3), addressed: true },
      { id: 'wrong-type', code: 'WRONG_TOPIC', value: wrongType, addressed: true },
      { id: 'no-headers', code: 'HEADER_MISSING', value: valid, addressed: false },
      { id: 'tombstone', code: 'WIRE_MALFORMED', value: null, addressed: true },
      { id: 'oversized', code: 'VALUE_TOO_LARGE', value: Buffer.alloc(d.config.maxValueBytes + 1, 1), addressed: true },
      // A reply must never land on the coordinator's own topics, where it would pass for a snapshot marker.
      { id: 'internal-reply-to', code: 'REPLY_TO_FORBIDDEN', value: valid, addressed: false, headers: { 'correlation-id': 'bad-internal', 'reply-to': `${d.config.topicPrefix}.snapshots` } },
    ];

    // Valid asks and bad records interleaved on the same topic.
    const answers: Promise<Reply>[] = [];
    for (const [i, b] of bad.entries()) {
      answers.push(client.ask('coord.v1.CreateLogicalSource', { name: `valid-${i}`, fields: [{ name: 'f', type: 'STRING' }] }));
      const headers: Record<string, string> = b.headers ?? (b.addressed ? { 'correlation-id': `bad-${b.id}`, 'reply-to': d.config.replyTopic } : {});
      await raw.send({ topic, messages: [{ key: b.id, value: b.value, headers }] });
    }
    answers.push(client.ask('coord.v1.GetLogicalSource', { name: 'valid-0' }));

    for (const r of await Promise.all(answers)) assert.equal(r.status, 'OK', `every valid request is answered: ${r.message}`);

    const dlq = await readTopic(d.parts.kafka, `${d.config.topicPrefix}.dlq`, (all) => all.length >= bad.length);
    assert.equal(dlq.length, bad.length, 'one DLQ record per bad record, no more');
    for (const b of bad) {
      const found = dlq.find((r) => r.message.key?.toString() === b.id);
      assert.ok(found, `${b.id} is in the DLQ`);
      assert.equal(header(found.message, 'dlq-code'), b.code, `${b.id}: ${header(found.message, 'dlq-reason')}`);
      assert.ok((header(found.message, 'dlq-reason') ?? '').length > 10, `${b.id} says why`);
      assert.equal(header(found.message, 'dlq-topic'), topic);
      assert.ok(header(found.message, 'dlq-offset') !== undefined);
      if (b.value !== null && b.value.length <= d.config.maxValueBytes) assert.deepEqual(found.message.value, b.value, `${b.id} keeps its original bytes`);
    }

    const addressed = bad.filter((b) => b.addressed).map((b) => `bad-${b.id}`);
    const replies = await readTopic(d.parts.kafka, d.config.replyTopic, (all) => addressed.every((id) => all.some((r) => r.message.key?.toString() === id)));
    for (const id of addressed) {
      const r = replies.find((x) => x.message.key?.toString() === id);
      assert.ok(r, `${id} got a reply`);
      const decoded = await codec.decode(r.message.value);
      assert.equal(decoded.value.status, 'INVALID_ARGUMENT', id);
      assert.ok(String(decoded.value.message).length > 10, `${id}'s reply says why`);
    }
    assert.ok(!replies.some((x) => x.message.key?.toString() === 'bad-no-headers'), 'a record without headers cannot be answered');

    const snapshots = await readTopic(d.parts.kafka, `${d.config.topicPrefix}.snapshots`, (all) => all.length > 0);
    for (const m of snapshots) assert.equal((await codec.decode(m.message.value)).fullName, 'coord.v1.SnapshotMarker', 'only markers on the snapshots topic');

    assert.equal(await coordinator.readyz(), 200, 'the coordinator is still ready');
    const after = await client.ask('coord.v1.GetLogicalSource', { name: 'valid-6' });
    assert.equal(after.status, 'OK', 'and still serving');
  });
});
