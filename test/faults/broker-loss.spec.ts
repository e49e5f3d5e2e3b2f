/**
 * Broker loss on the three-node cluster, under a steady load: kill -9 the leader of the
 * requests partition, kill -9 the transaction coordinator of the coordinator's transactional
 * id (its commits run all the time, so the kill lands mid-commit), and restart the active
 * KRaft controller. Each ends with nothing lost, nothing doubled, the coordinator serving again
 * unattended, and the time a client went unanswered measured.
 */
import { strict as assert } from 'node:assert';
import type { Admin } from 'kafkajs';
import type { Client, Reply } from '../../src/client/client';
import type { KafkaCluster } from '../../src/infra/cluster';
import { topicName, TOPIC_KINDS } from '../../src/messaging/topics';
import { coordinatorProcess, whereItStands, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { notOk, steadyLoad } from '../support/load';
import { testStack } from '../support/stack';
import { waitFor, within } from '../support/wait';
import { startProbe, type Probe } from './probe';
import { recordUnavailability } from './report';
import { assertVerdict } from './verdict';

const ROUNDS = Number(process.env.FAULT_ROUNDS ?? (process.env.SOAK === '1' ? 5 : 1));
const REQUESTS = Number(process.env.FAULT_REQUESTS ?? (process.env.SOAK === '1' ? 400 : 80));

/** Java's String.hashCode, which Kafka uses to place a transactional id on a partition of __transaction_state. */
const javaHash = (s: string): number => {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
};

const leaderOf = async (admin: Admin, topic: string, partition: number): Promise<number> => {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const p = meta.topics[0].partitions.find((x) => x.partitionId === partition);
  if (p === undefined || p.leader < 0) throw new Error(`${topic}/${partition} has no leader`);
  return p.leader;
};

describe('broker loss on a three-node cluster, under load', function () {
  this.timeout(1_800_000);
  let d: Deployment;
  let c: CoordinatorProcess;
  let client: Client;
  let admin: Admin;
  let cluster: KafkaCluster;
  let probe: Probe;
  const names: string[] = [];
  const replies: Reply[] = [];

  before(async function () {
    if (testStack().cluster === undefined) this.skip();
    cluster = testStack().cluster as KafkaCluster;
    d = await deployment(testStack(), 'loss');
    c = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${d.config.topicPrefix}-a`, env: { COORD_SESSION_TIMEOUT_MS: '10000', COORD_STALL_THRESHOLD_MS: '3000' } });
    await c.start();
    client = await d.client();
    admin = d.parts.kafka.admin();
    await admin.connect();
    probe = startProbe(client);
  });

  after(async () => {
    await probe?.stop();
    await admin?.disconnect();
    await d?.close();
    await c?.stop();
  });

  /** Every replicated partition the coordinator uses has all three replicas in sync again. */
  const whole = async (): Promise<void> => {
    const topics = [...TOPIC_KINDS.map((k) => topicName(d.config.topicPrefix, k)), '__transaction_state', '__consumer_offsets'];
    await waitFor('every partition to have three replicas in sync', async () => {
      const meta = await admin.fetchTopicMetadata({ topics }).catch(() => undefined);
      return meta !== undefined && meta.topics.every((t) => t.partitions.every((p) => p.isr.length === 3 && p.leader >= 0));
    }, 180_000, 500);
  };

  const faults: { name: string; victim: () => Promise<number> }[] = [
    { name: 'kill -9 the leader of the requests partition', victim: () => leaderOf(admin, topicName(d.config.topicPrefix, 'requests.catalog'), 0) },
    {
      name: 'kill -9 the transaction coordinator, mid-commit',
      victim: () => leaderOf(admin, '__transaction_state', (javaHash(`${d.config.groupId}.outbox`) & 0x7fffffff) % 4),
    },
    {
      name: 'restart the active controller',
      victim: async () => {
        const id = cluster.activeController();
        if (id === undefined) throw new Error('no active controller is known');
        return id;
      },
    },
  ];

  for (const fault of faults)
    for (let round = 1; round <= ROUNDS; round++)
      it(`${fault.name}${ROUNDS > 1 ? ` (round ${round})` : ''}: nothing lost, nothing doubled, serving again unattended`, async () => {
        await whole();
        const tag = `loss${faults.indexOf(fault)}r${round}x`;
        const sendErrors = new Map<string, number>();
        const load = steadyLoad(client, tag, REQUESTS, { senders: 4, sendErrors });
        await waitFor('load under way', () => load.sent > REQUESTS / 4, 120_000);
        const victim = await fault.victim();
        const killedAt = Date.now();
        await cluster.stopNode(victim, { hard: true });
        // Down long enough for leaders to move and clients to notice; then the node comes back.
        await new Promise((r) => setTimeout(r, 3_000));
        await cluster.startNode(victim);
        // Bounded: a coordinator that never serves again must fail here, saying what it was doing, not hold the run.
        const exited = c.ended().then(() => Promise.reject(new Error('the coordinator exited before every request was answered')));
        exited.catch(() => undefined); // a stop after the test is no failure of it
        const got = await within('every request of the load to be answered', Promise.race([load.done, exited]), 300_000).catch(async (err: Error) => {
          throw new Error(`${err.message}; ${await whereItStands(c)}`);
        });
        const gapMs = probe.longestGapSince(killedAt);
        recordUnavailability(fault.name, gapMs);
        console.log(`      node ${victim}: longest time a client went unanswered ${gapMs} ms; send errors the client retried: ${JSON.stringify(Object.fromEntries(sendErrors))}`);
        assert.deepEqual(notOk(got), [], 'every create took effect exactly once');
        assert.equal(got.length, REQUESTS, 'every request got a reply');
        assert.equal(c.exited, false, 'the coordinator process was never restarted');
        await waitFor('the coordinator to be ready', async () => (await c.readyz()) === 200, 120_000);
        names.push(...load.names);
        replies.push(...got);
      });

  it('keeps one history that replays to the live digest', async () => {
    await assertVerdict(d, client, c.httpUrl, names, replies);
  });
});
