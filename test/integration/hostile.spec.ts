/**
 * Hostile and unlucky input on the real broker and registry: each case sends what once
 * stalled, poisoned or misled the coordinator, then shows that an ordinary ask is still
 * answered promptly and the bad record is in the DLQ with its reason. At the end a standby
 * takes over and a replay of the whole log matches the live digest.
 */
import { strict as assert } from 'node:assert';
import { Partitioners, type Producer } from 'kafkajs';
import { createClient, type Client } from '../../src/client/client';
import { frame } from '../../src/messaging/wire';
import { subjectOf } from '../../src/messaging/protocol';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';
import { header, type Read, readTopic, readTopicToEnd } from '../support/topics';
import { waitFor } from '../support/wait';

/** An ordinary request answered within this long shows the loop is not stalled. */
const PROMPT_MS = 5_000;

describe('hostile input: nothing stalls, poisons or misleads the coordinator', function () {
  this.timeout(300_000);
  let d: Deployment;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let client: Client;
  let raw: Producer;
  let prefix: string;
  let catalog: string;
  const env = { COORD_SESSION_TIMEOUT_MS: '6000', COORD_MAX_VALUE_BYTES: '65536', COORD_SCHEMA_WAIT_MS: '4000', COORD_STALL_THRESHOLD_MS: '3000' };

  const admin = async <T>(fn: (a: ReturnType<Deployment['parts']['kafka']['admin']>) => Promise<T>): Promise<T> => {
    const ad = d.parts.kafka.admin();
    await ad.connect();
    try {
      return await fn(ad);
    } finally {
      await ad.disconnect();
    }
  };

  /** An ordinary ask, answered promptly: the loop still serves. */
  const stillServes = async (what: string): Promise<void> => {
    const started = Date.now();
    const r = await client.ask('coord.v1.GetLogicalSource', { name: 'anchor' }, { timeoutMs: PROMPT_MS });
    assert.equal(r.status, 'OK', `after ${what}, an ordinary ask is answered: ${r.message}`);
    assert.ok(Date.now() - started < PROMPT_MS, `after ${what}, promptly`);
  };

  const dlqWith = async (pred: (r: Read) => boolean, what: string): Promise<Read> => {
    const all = await readTopic(d.parts.kafka, `${prefix}.dlq`, (rs) => rs.some(pred), 20_000);
    const found = all.find(pred);
    assert.ok(found, `${what} is in the DLQ`);
    return found;
  };

  const byKey = (key: string) => (r: Read): boolean => r.message.key?.toString() === key;

  before(async () => {
    d = await deployment(testStack(), 'hostile');
    prefix = d.config.topicPrefix;
    catalog = `${prefix}.requests.catalog`;
    a = await coordinatorProcess(testStack(), { prefix, name: 'hostile-a', env });
    b = await coordinatorProcess(testStack(), { prefix, name: 'hostile-b', env });
    await a.start();
    client = await d.client();
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
    assert.equal((await client.ask('coord.v1.CreateLogicalSource', { name: 'anchor', fields: [{ name: 'a', type: 'INT32' }] })).status, 'OK');
    // The settings of this deployment (maxValueBytes) travel on the ticks: wait until one is folded.
    await new Promise((r) => setTimeout(r, 2_500));
  });

  after(async () => {
    await raw?.disconnect();
    await d?.close();
    await a?.stop();
    await b?.stop();
  });

  const valid = (name: string): Promise<Buffer> => d.parts.codec.encode(catalog, 'coord.v1.CreateLogicalSource', { name, fields: [{ name: 'f', type: 'STRING' }] });

  it('refuses a reply-to of an internal topic (__consumer_offsets) to the DLQ, and keeps publishing', async () => {
    await raw.send({ topic: catalog, messages: [{ key: 'internal-reply', value: await valid('never'), headers: { 'correlation-id': 'h-internal', 'reply-to': '__consumer_offsets' } }] });
    const r = await dlqWith(byKey('internal-reply'), 'the request');
    assert.equal(header(r.message, 'dlq-code'), 'REPLY_TO_FORBIDDEN');
    await stillServes('a reply-to of __consumer_offsets');
    assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'never' })).status, 'NOT_FOUND', 'the refused request had no effect');
  });

  it("never answers an event's rejection on one of the coordinator's own topics", async () => {
    const infra = `${prefix}.events.infra`;
    await raw.send({ topic: infra, messages: [{ key: 'evil-event', value: Buffer.from('garbage'), headers: { 'correlation-id': 'h-evil', 'reply-to': catalog } }] });
    const r = await dlqWith(byKey('evil-event'), 'the malformed event');
    assert.equal(header(r.message, 'dlq-code'), 'WIRE_MALFORMED');
    await stillServes('an event asking for its error on the catalog topic');
    const onCatalog = await readTopicToEnd(d.parts.kafka, catalog);
    assert.ok(!onCatalog.some((m) => m.message.key?.toString() === 'h-evil'), 'no reply landed on the input topic');
  });

  it('keeps publishing for everyone after a client deletes its reply topic (and a retry still names it)', async () => {
    const mine = `${prefix}.replies.gone`;
    await admin((ad) => ad.createTopics({ waitForLeaders: true, topics: [{ topic: mine, numPartitions: 1 }] }));
    const gone = createClient({ kafka: d.parts.kafka, codec: d.parts.codec, log: testLog(), topicPrefix: prefix, replyTopic: mine, askTimeoutMs: 20_000 });
    await gone.start();
    const first = await gone.ask('coord.v1.CreateLogicalSource', { name: 'by-gone', fields: [] }, { correlationId: 'h-gone' });
    assert.equal(first.status, 'INVALID_ARGUMENT', 'a create without fields is refused, but answered on the private topic');
    await gone.close();
    await admin((ad) => ad.deleteTopics({ topics: [mine] }));
    // The retry names the deleted topic again, and a new client's reply topic needs fresh metadata in the same breath.
    await raw.send({ topic: catalog, messages: [{ key: 'by-gone', value: await d.parts.codec.encode(catalog, 'coord.v1.CreateLogicalSource', { name: 'by-gone', fields: [] }), headers: { 'correlation-id': 'h-gone', 'reply-to': mine } }] });
    const fresh = `${prefix}.replies.fresh`;
    await admin((ad) => ad.createTopics({ waitForLeaders: true, topics: [{ topic: fresh, numPartitions: 1 }] }));
    const other = createClient({ kafka: d.parts.kafka, codec: d.parts.codec, log: testLog(), topicPrefix: prefix, replyTopic: fresh, askTimeoutMs: PROMPT_MS * 2 });
    await other.start();
    try {
      assert.equal((await other.ask('coord.v1.GetLogicalSource', { name: 'anchor' })).status, 'OK', 'a client on a private reply topic (<prefix>.replies.<name>) gets its replies');
    } finally {
      await other.close();
    }
    const r = await dlqWith((x) => header(x.message, 'dlq-topic') === mine, 'the reply to the deleted topic');
    assert.equal(header(r.message, 'dlq-code'), 'REPLY_TOPIC_MISSING');
    await stillServes('a deleted reply topic');
  });

  it('refuses a 600 kB correlation id, and names near maxValueBytes without echoing them, and keeps publishing', async () => {
    const huge = 'x'.repeat(600_000);
    const long = 'y'.repeat(60_000);
    await raw.send({ topic: catalog, messages: [{ key: 'huge-header', value: await valid('huge-header'), headers: { 'correlation-id': huge, 'reply-to': d.config.replyTopic } }] });
    const [r1, r2] = await Promise.all([
      client.ask('coord.v1.CreateLogicalSource', { name: `a${long}`, fields: [{ name: 'f', type: 'STRING' }] }, { key: 'huge-1' }),
      client.ask('coord.v1.CreateLogicalSource', { name: `b${long}`, fields: [{ name: 'f', type: 'STRING' }] }, { key: 'huge-2' }),
    ]);
    for (const r of [r1, r2]) {
      assert.equal(r.status, 'INVALID_ARGUMENT');
      assert.ok(r.message.length < 1_000, `the error does not echo the name (${r.message.length} characters)`);
    }
    const dlq = await dlqWith(byKey('huge-header'), 'the record with a huge header');
    assert.equal(header(dlq.message, 'dlq-code'), 'HEADER_INVALID');
    assert.equal(header(dlq.message, 'dlq-headers-dropped'), '1', 'the huge header is left out of the DLQ copy');
    await stillServes('600 kB headers and names');
  });

  it('refuses a decode bomb (an array of 2^50 nulls in 10 bytes) at once', async () => {
    const bombSchema = JSON.stringify({ type: 'record', name: 'Bomb', namespace: 'coord.v1', fields: [{ name: 'items', type: { type: 'array', items: 'null' } }] });
    const id = await d.parts.registry.register(subjectOf(catalog, 'coord.v1.Bomb'), bombSchema);
    // Block count 2^50 (zig-zag varint), then the end of the array.
    const count = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x04, 0x00]);
    await raw.send({ topic: catalog, messages: [{ key: 'bomb', value: frame(id, count), headers: { 'correlation-id': 'h-bomb', 'reply-to': d.config.replyTopic } }] });
    const r = await dlqWith(byKey('bomb'), 'the bomb');
    assert.equal(header(r.message, 'dlq-code'), 'DECODE_LIMIT', header(r.message, 'dlq-reason'));
    await stillServes('a decode bomb');
  });

  it('refuses a schema id registered under another subject', async () => {
    // A variant of the contract, registered only under a foreign subject, has an id of its own.
    const variant = JSON.stringify({
      type: 'record',
      name: 'CreateLogicalSource',
      namespace: 'coord.v1',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'fields', type: { type: 'array', items: { type: 'record', name: 'FieldSpec', fields: [{ name: 'name', type: 'string' }, { name: 'type', type: 'string' }] } } },
        { name: 'smuggled', type: 'string', default: '' },
      ],
    });
    const id = await d.parts.registry.register(`${prefix}.elsewhere-coord.v1.CreateLogicalSource`, variant);
    const body = Buffer.from([0x0a, ...Buffer.from('alien'), 0x00, 0x00]);
    await raw.send({ topic: catalog, messages: [{ key: 'alien', value: frame(id, body), headers: { 'correlation-id': 'h-alien', 'reply-to': d.config.replyTopic } }] });
    const r = await dlqWith(byKey('alien'), 'the record with a foreign schema id');
    assert.equal(header(r.message, 'dlq-code'), 'SCHEMA_SUBJECT_MISMATCH', header(r.message, 'dlq-reason'));
    assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'alien' })).status, 'NOT_FOUND');
    await stillServes('a foreign schema id');
  });

  it('waits a bounded time for a schema id the registry learns late, then folds the record', async () => {
    const late = JSON.stringify({ type: 'record', name: 'GetLogicalSource', namespace: 'coord.v1', fields: [{ name: 'name', type: 'string' }, { name: 'lateField', type: 'string', default: '' }] });
    // The next id the registry hands out: one past the newest (nothing else registers meanwhile).
    const probe = await d.parts.registry.register(`${prefix}.probe-coord.v1.Probe`, JSON.stringify({ type: 'record', name: 'Probe', namespace: 'coord.v1', fields: [{ name: 'n', type: 'long' }] }));
    const next = probe + 1;
    const body = Buffer.from([0x0c, ...Buffer.from('anchor'), 0x00]);
    await raw.send({ topic: catalog, messages: [{ key: 'late', value: frame(next, body), headers: { 'correlation-id': 'h-late', 'reply-to': d.config.replyTopic } }] });
    await new Promise((r) => setTimeout(r, 1_000));
    const id = await d.parts.registry.register(subjectOf(catalog, 'coord.v1.GetLogicalSource'), late);
    assert.equal(id, next, 'the registry handed out the id the record was framed with');
    const replies = await readTopic(d.parts.kafka, d.config.replyTopic, (rs) => rs.some(byKey('h-late')), 20_000);
    const reply = replies.find(byKey('h-late'));
    assert.ok(reply, 'the record was answered');
    assert.equal((await d.parts.codec.decode(reply.message.value)).value.status, 'OK', 'and folded once the registry knew its schema');
  });

  it('answers CONFLICT to a second request under a used correlation id, never the first reply', async () => {
    const first = await client.ask('coord.v1.CreateLogicalSource', { name: 'owned', fields: [{ name: 'f', type: 'STRING' }] }, { correlationId: 'h-shared' });
    assert.equal(first.status, 'OK');
    const other = await client.ask('coord.v1.GetLogicalSource', { name: 'anchor' }, { correlationId: 'h-shared' });
    assert.equal(other.status, 'CONFLICT', other.message);
    assert.equal(other.payload, null, 'nothing of the first reply');
    const retry = await client.ask('coord.v1.CreateLogicalSource', { name: 'owned', fields: [{ name: 'f', type: 'STRING' }] }, { correlationId: 'h-shared' });
    assert.equal(retry.status, 'OK', 'the true retry still gets its own reply');
    assert.equal(retry.snapshotId, first.snapshotId, 'the same reply, not a second effect');
  });

  it('answers RESOURCE_EXHAUSTED to a reply too large to publish, and publishes a snapshot over the broker limit in several requests', async () => {
    // 1 000 fields of ~45 characters: each source's image is ~55 kB, under maxValueBytes (64 KiB).
    const fields = Array.from({ length: 1_000 }, (_, i) => ({ name: `field_${i}_${'w'.repeat(36)}`, type: 'STRING' }));
    const creates = await Promise.all(Array.from({ length: 24 }, (_, i) => client.ask('coord.v1.CreateLogicalSource', { name: `wide_${i}`, fields })));
    for (const c of creates) assert.equal(c.status, 'OK', c.message);
    const list = await client.ask('coord.v1.ListLogicalSources', {});
    assert.equal(list.status, 'RESOURCE_EXHAUSTED', list.message);
    assert.match(list.message, /reply too large: \d+ bytes/);
    // 24 replies of ~55 kB in one snapshot: over the broker's 1 MB a request, so published in several.
    const gets = await Promise.all(Array.from({ length: 24 }, (_, i) => client.ask('coord.v1.GetLogicalSource', { name: `wide_${i}` })));
    for (const g of gets) assert.equal(g.status, 'OK', g.message);
    await stillServes('large outputs');
  });

  it('is ready, counts every refusal in /metrics, and a standby takes over and serves', async () => {
    const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
    for (const code of ['REPLY_TO_FORBIDDEN', 'DECODE_LIMIT', 'SCHEMA_SUBJECT_MISMATCH', 'HEADER_INVALID'])
      assert.match(metrics, new RegExp(`coord_dlq_records_total\\{code="${code}"\\} [1-9]`), `${code} is counted`);
    assert.match(metrics, /coord_outputs_set_aside_total\{code="REPLY_TOPIC_MISSING"\} [1-9]/);
    assert.match(metrics, /coord_correlation_conflicts_total [1-9]/);
    assert.match(metrics, /coord_replies_too_large_total [1-9]/);
    assert.equal(await a.readyz(), 200);

    const standing = b.start().catch(() => undefined);
    await waitFor('the second instance to stand by', async () => (await b.status())?.role === 'standby', 60_000);
    await a.kill();
    await standing;
    await waitFor('the standby to take over over the hostile log', async () => (await b.readyz()) === 200, 120_000);
    assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'owned' })).status, 'OK');
  });

  it('replays the whole hostile log to the live digest', async () => {
    const { report, live } = await replayToLive(d, b.httpUrl);
    assert.equal(report.mismatch, undefined);
    assert.equal(report.lastSnapshotId.toString(), live.snapshotId);
    assert.equal(report.digest, live.digest);
  });
});
