/**
 * The fuzz campaign: TEST_SEED-repeatable hostile records over every topic the coordinator
 * reads, while an ordinary client keeps asking. Every hostile record is accounted for: in the
 * DLQ by its key, or (a mutation that happens to be a valid record, an event without the
 * headers only requests need) ordinary input that decodes as a record of its topic; on the
 * snapshots topic, skipped by every reader of the chain of markers.
 */
import { strict as assert } from 'node:assert';
import { Partitioners, type Producer } from 'kafkajs';
import type { Client } from '../../src/client/client';
import { readMarkerChain } from '../../src/engine/replay';
import { ensureTopics } from '../../src/messaging/kafka';
import { RECORD_TOPICS, subjectOf } from '../../src/messaging/protocol';
import { INPUT_KINDS, topicName, type TopicKind } from '../../src/messaging/topics';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { askUntilAnswered } from '../support/load';
import { runSeed, seeded } from '../support/random';
import { testStack } from '../support/stack';
import { readTopic } from '../support/topics';
import { createHostileGenerator, HOSTILE_KINDS, mustRefuse, type HostileRecord } from './hostile-records';
import { assertVerdict } from './verdict';

const RECORDS = Number(process.env.FUZZ_RECORDS ?? (process.env.SOAK === '1' ? 100_000 : 10_000));
const BATCH = 250;

describe(`a fuzz campaign of ${RECORDS} hostile records over every topic the coordinator reads`, function () {
  // The soak's 100 000 records on a busy machine take longer than the short form's half hour.
  this.timeout(Math.max(1_800_000, RECORDS * 100));
  let d: Deployment;
  let a: CoordinatorProcess;
  let client: Client;
  let raw: Producer;
  const seed = runSeed();
  const sent: HostileRecord[] = [];
  const names: string[] = [];
  const replies: Awaited<ReturnType<typeof askUntilAnswered>>[] = [];
  let slowestAskMs = 0;

  before(async () => {
    d = await deployment(testStack(), 'fuzz');
    a = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${d.config.topicPrefix}-a`, env: { COORD_SESSION_TIMEOUT_MS: '6000', COORD_SCHEMA_WAIT_MS: '1000' } });
    await a.start();
    client = await d.client();
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
  });

  after(async () => {
    await raw?.disconnect();
    await d?.close();
    await a?.stop();
  });

  it('keeps answering the client, refuses or folds every hostile record, and replays to the live digest', async () => {
    console.log(`      seed ${seed} (repeat with TEST_SEED=${seed})`);
    const prefix = d.config.topicPrefix;
    const fuzzReplies = `${prefix}.replies.fuzz`;
    const admin = d.parts.kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: fuzzReplies, numPartitions: 1 }]);
    await admin.disconnect();
    // A variant of a contract registered only under a foreign subject, and an array-of-nulls schema on every input topic.
    const foreignId = await d.parts.registry.register(
      `${prefix}.elsewhere-coord.v1.Foreign`,
      JSON.stringify({ type: 'record', name: 'Foreign', namespace: 'coord.v1', fields: [{ name: 'name', type: 'string' }, { name: 'smuggled', type: 'string', default: '' }] }),
    );
    const bomb = JSON.stringify({ type: 'record', name: 'Bomb', namespace: 'coord.v1', fields: [{ name: 'items', type: { type: 'array', items: 'null' } }] });
    const bombIds = new Map<string, number>();
    for (const kind of INPUT_KINDS) bombIds.set(topicName(prefix, kind), await d.parts.registry.register(subjectOf(topicName(prefix, kind), 'coord.v1.Bomb'), bomb));
    const generate = createHostileGenerator({ codec: d.parts.codec, prefix, replyTopic: fuzzReplies, random: seeded(seed), foreignId, bombIds });

    // The ordinary client keeps asking all along.
    let fuzzing = true;
    const asking = (async () => {
      for (let n = 0; fuzzing || n < 20; n++) {
        const started = Date.now();
        names.push(`fz${n}`);
        replies.push(await askUntilAnswered(client, `fz${n}`, 'fuzz-client', 20_000));
        slowestAskMs = Math.max(slowestAskMs, Date.now() - started);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const started = Date.now();
    for (let i = 0; i < RECORDS; i += BATCH) {
      const batch: HostileRecord[] = [];
      for (let j = i; j < Math.min(RECORDS, i + BATCH); j++) batch.push(await generate(j));
      sent.push(...batch);
      const byTopic = new Map<string, HostileRecord[]>();
      for (const r of batch) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
      await raw.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, rs]) => ({ topic, messages: rs.map((r) => ({ key: r.key, value: r.value, headers: r.headers })) })) });
    }
    console.log(`      ${RECORDS} hostile records sent in ${Date.now() - started} ms`);

    const snapshotsTopic = topicName(prefix, 'snapshots');
    const onInputs = sent.filter((r) => r.topic !== snapshotsTopic);
    const refusedKeys = new Set(onInputs.filter((r) => mustRefuse(r.kind, kindOf(prefix, r.topic))).map((r) => r.key));
    // Counted incrementally: the DLQ grows by thousands, and the client's asks share this event loop.
    const seenKeys = new Set<string>();
    let counted = 0;
    const dlq = await readTopic(
      d.parts.kafka,
      topicName(prefix, 'dlq'),
      (rs) => {
        for (; counted < rs.length; counted++) {
          const k = rs[counted].message.key?.toString();
          if (k !== undefined && refusedKeys.has(k)) seenKeys.add(k);
        }
        return seenKeys.size === refusedKeys.size;
      },
      600_000,
    );
    fuzzing = false;
    await asking;
    const inDlq = dlqKeys(dlq);

    // Accounting, record by record.
    const lost: string[] = [];
    const tally = new Map<string, number>();
    const count = (what: string): void => void tally.set(what, (tally.get(what) ?? 0) + 1);
    for (const r of onInputs) {
      if (inDlq.has(r.key)) count(`${r.kind}: DLQ`);
      else if (!mustRefuse(r.kind, kindOf(prefix, r.topic)) && (await decodesOnItsTopic(d, r))) count(`${r.kind}: ordinary input`);
      else lost.push(`${r.key} (${r.kind} on ${r.topic})`);
    }
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} hostile records are neither in the DLQ nor valid input`);

    let skipped = 0;
    const chain = await readMarkerChain(d.parts.kafka, d.parts.codec, snapshotsTopic, undefined, { log: testLog(), onSkip: () => void skipped++ });
    const onSnapshots = sent.length - onInputs.length;
    assert.equal(skipped, onSnapshots, 'every hostile record on the snapshots topic is skipped by a reader of the chain');
    assert.ok(chain.markers.length > 0, 'the chain of the live coordinator is intact');
    console.log(`      accounted: ${[...tally].sort().map(([k, n]) => `${k} ${n}`).join(', ')}, snapshots topic: skipped ${skipped}`);
    for (const k of HOSTILE_KINDS) assert.ok(sent.some((r) => r.kind === k), `the campaign sent ${k}`);

    // The client was answered throughout, each create once.
    console.log(`      the client asked ${replies.length} times during the campaign; slowest ask ${slowestAskMs} ms`);
    assert.ok(replies.length >= 20);

    // No output over the broker's limit: no publication failed, nothing was set aside as too large.
    const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
    assert.doesNotMatch(metrics, /coord_outputs_set_aside_total\{code="(OUTPUT_TOO_LARGE|PUBLISH_REFUSED)"\} [1-9]/);
    assert.doesNotMatch(metrics, /coord_retries_total\{what="publish"\} [1-9]/, 'no publication was refused or retried');
    const dlqBiggest = Math.max(...dlq.map((r) => r.message.value?.length ?? 0));
    assert.ok(dlqBiggest <= 1_000_000, `the biggest DLQ record (${dlqBiggest} bytes) is within maxValueBytes`);
    assert.equal(await a.readyz(), 200);

    await assertVerdict(d, client, a.httpUrl, names, replies);
  });
});

const kindOf = (prefix: string, topic: string): TopicKind => topic.slice(prefix.length + 1) as TopicKind;

const dlqKeys = (rs: readonly { message: { key: Buffer | null; headers?: unknown } }[]): Set<string> =>
  new Set(rs.flatMap((r) => (r.message.key === null ? [] : [r.message.key.toString()])));

/** Whether a record the DLQ does not hold is valid input: it decodes, under its topic's subject, as a record type of that topic. */
const decodesOnItsTopic = async (d: Deployment, r: HostileRecord): Promise<boolean> => {
  try {
    const decoded = await d.parts.codec.decode(r.value, r.topic);
    return topicName(d.config.topicPrefix, RECORD_TOPICS[decoded.fullName]) === r.topic;
  } catch {
    return false;
  }
};

