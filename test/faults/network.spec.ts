/**
 * Network faults through toxiproxy: the coordinator reaches the brokers (their PROXIED
 * listener) and the registry only through proxies, so a test can slow or cut either while the
 * client and the test itself still reach both directly.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import * as avro from 'avsc';
import { Partitioners, type Producer } from 'kafkajs';
import type { Client } from '../../src/client/client';
import type { CoordinatorStatus } from '../../src/engine/coordinator';
import { freePort } from '../../src/infra/process';
import { subjectOf } from '../../src/messaging/protocol';
import { topicName } from '../../src/messaging/topics';
import { frame } from '../../src/messaging/wire';
import { coordinatorProcess, whereItStands, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { notOk, steadyLoad } from '../support/load';
import { testStack } from '../support/stack';
import { readTopic, readTopicToEnd } from '../support/topics';
import { waitFor } from '../support/wait';
import { startProbe, type Probe } from './probe';
import { recordUnavailability } from './report';
import { startToxiproxy, type Toxiproxy } from './toxiproxy';
import { assertVerdict } from './verdict';

const OUTAGE_MS = Number(process.env.FAULT_REGISTRY_OUTAGE_MS ?? 30_000);
/** SOAK=1 repeats each scenario; the short form runs each once. */
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? (process.env.SOAK === '1' ? 5 : 1));

describe('network faults through toxiproxy', function () {
  this.timeout(900_000);
  let d: Deployment;
  let c: CoordinatorProcess;
  let client: Client;
  let raw: Producer;
  let toxi: Toxiproxy;
  let probe: Probe | undefined;
  let standby: CoordinatorProcess | undefined;
  let catalog: string;
  const names: string[] = [];
  const replies: Awaited<ReturnType<typeof steadyLoad>['done']> = [];
  const cut = { type: 'timeout', attributes: { timeout: 0 } } as const;

  before(async function () {
    const cluster = testStack().cluster;
    if (cluster === undefined) this.skip();
    toxi = await startToxiproxy(join(testStack().dir, 'toxiproxy'));
    for (const n of cluster.nodes) await toxi.proxy(`kafka-${n.id}`, n.proxyPort, `127.0.0.1:${n.proxiedPort}`);
    const registry = new URL(testStack().registryUrl);
    const registryProxyPort = await freePort();
    await toxi.proxy('registry', registryProxyPort, `127.0.0.1:${registry.port}`);
    registry.port = String(registryProxyPort);
    d = await deployment(testStack(), 'net');
    catalog = topicName(d.config.topicPrefix, 'requests.catalog');
    c = await coordinatorProcess(testStack(), {
      prefix: d.config.topicPrefix,
      name: `${d.config.topicPrefix}-a`,
      env: {
        KAFKA_BROKERS: cluster.nodes.map((n) => `127.0.0.1:${n.proxyPort}`).join(','),
        SCHEMA_REGISTRY_URL: registry.toString().replace(/\/$/, ''),
        COORD_SESSION_TIMEOUT_MS: '10000',
        COORD_STALL_THRESHOLD_MS: '3000',
      },
    });
    client = await d.client();
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
  });

  after(async () => {
    await probe?.stop();
    await raw?.disconnect();
    await d?.close();
    await c?.stop();
    await standby?.stop();
    await toxi?.stop();
  });

  const problems = async (): Promise<string> => JSON.stringify(((await c.status()) as CoordinatorStatus | undefined)?.problems ?? []);

  /** A request framed with a schema id the registry hands out now: the coordinator must fetch that schema to read it. */
  let versions = 0;
  const sendWithNewSchema = async (correlationId: string): Promise<void> => {
    versions++;
    const schema = { type: 'record', name: 'GetLogicalSource', namespace: 'coord.v1', fields: [{ name: 'name', type: 'string' }, { name: `hint${versions}`, type: 'string', default: '' }] };
    const id = await d.parts.registry.register(subjectOf(catalog, 'coord.v1.GetLogicalSource'), JSON.stringify(schema));
    const body = avro.Type.forSchema(schema as avro.Schema).toBuffer({ name: 'anchor', [`hint${versions}`]: 'x' });
    await raw.send({ topic: catalog, acks: -1, messages: [{ key: correlationId, value: frame(id, body), headers: { 'correlation-id': correlationId, 'reply-to': d.config.replyTopic } }] });
  };
  const replyStatus = async (correlationId: string, timeoutMs: number): Promise<string | undefined> => {
    const rs = await readTopic(d.parts.kafka, d.config.replyTopic, (all) => all.some((r) => r.message.key?.toString() === correlationId), timeoutMs);
    const found = rs.find((r) => r.message.key?.toString() === correlationId);
    return found === undefined ? undefined : String((await d.parts.codec.decode(found.message.value)).value.status);
  };
  const dlqHas = async (key: string): Promise<boolean> =>
    (await readTopicToEnd(d.parts.kafka, topicName(d.config.topicPrefix, 'dlq'))).some((r) => r.message.key?.toString() === key);

  // The scenarios in order, each round leaving the first instance active and the second one down, as the round found them.
  for (let round = 1; round <= ROUNDS; round++) {
    const at = ROUNDS > 1 ? ` (round ${round})` : '';
    it(`waits for a registry unreachable ${OUTAGE_MS / 1000} s at start-up, says why on /readyz, and starts unattended${at}`, async () => {
      // A later round restarts the active instance, which the last round left serving.
      if (round > 1) await c.stop();
      await toxi.poison('registry', 'cut', cut);
      const cutAt = Date.now();
      const starting = c.start();
      await waitFor('/readyz to name the registry', async () => (await problems()).includes('registry'), 60_000, 500);
      assert.notEqual(await c.readyz(), 200, 'not ready while the registry is away');
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - cutAt))));
      await toxi.heal();
      const healedAt = Date.now();
      await starting;
      console.log(`      ready ${Date.now() - healedAt} ms after the registry came back`);
      if (round === 1) assert.equal((await client.ask('coord.v1.CreateLogicalSource', { name: 'anchor', fields: [{ name: 'a', type: 'INT32' }] }, { timeoutMs: 30_000 })).status, 'OK');
      else assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'anchor' }, { timeoutMs: 30_000, correlationId: `net-restarted-${round}` })).status, 'OK');
      probe ??= startProbe(client);
    });

    it(`holds a record of a new schema id while the registry is unreachable ${OUTAGE_MS / 1000} s, says why, and folds it once it is back${at}`, async () => {
      await toxi.poison('registry', 'cut', cut);
      const cutAt = Date.now();
      await sendWithNewSchema(`net-steady-${round}`);
      await waitFor('/readyz to name the registry', async () => (await problems()).includes('registry'), 60_000, 500);
      assert.equal(await c.readyz(), 503);
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - cutAt))));
      await toxi.heal();
      assert.equal(await replyStatus(`net-steady-${round}`, 120_000), 'OK', 'the held request is answered, not refused');
      assert.equal(await dlqHas(`net-steady-${round}`), false, 'nothing went to the DLQ as SCHEMA_UNKNOWN');
      await waitFor('/readyz 200 again', async () => (await c.readyz()) === 200, 60_000);
      const gap = probe?.longestGapSince(cutAt) ?? 0;
      recordUnavailability('registry unreachable 30 s, steady state', gap);
      console.log(`      longest time a client went unanswered: ${gap} ms`);
    });

    it(`answers records of new schema ids through a registry that takes 2 s a call${at}`, async () => {
      await toxi.poison('registry', 'slow', { type: 'latency', attributes: { latency: 1_000 } }); // each way: 2 s a call
      try {
        const started = Date.now();
        const slow = [1, 2, 3].map((i) => `net-slow-${round}-${i}`);
        await Promise.all(slow.map((k) => sendWithNewSchema(k)));
        for (const k of slow) assert.equal(await replyStatus(k, 120_000), 'OK', `${k} is answered`);
        for (const k of slow) assert.equal(await dlqHas(k), false, `${k} was not refused`);
        console.log(`      three new schema ids answered in ${Date.now() - started} ms`);
      } finally {
        await toxi.heal();
      }
    });

    it(`slows down under 200 ms of latency to every broker, and nothing else changes${at}`, async () => {
      const timed = async (n: number, tag: string): Promise<number[]> => {
        const ms: number[] = [];
        for (let i = 0; i < n; i++) {
          const t = Date.now();
          assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'anchor' }, { timeoutMs: 30_000, correlationId: `${tag}-${i}` })).status, 'OK');
          ms.push(Date.now() - t);
        }
        return ms.sort((a, b) => a - b);
      };
      const before = await timed(10, `lat-before-${round}`);
      for (const n of testStack().cluster?.nodes ?? []) await toxi.poison(`kafka-${n.id}`, 'latency', { type: 'latency', attributes: { latency: 100 } }); // each way: 200 ms a round trip
      try {
        const load = steadyLoad(client, `lat${round}`, 60, { senders: 4 });
        const during = await timed(10, `lat-during-${round}`);
        const got = await load.done;
        assert.deepEqual(notOk(got), [], 'every create took effect exactly once');
        names.push(...load.names);
        replies.push(...got);
        console.log(`      median ask ${before[5]} ms before, ${during[5]} ms with 200 ms of latency`);
        assert.ok(during[5] > before[5], 'asks slow down');
        assert.equal(await c.readyz(), 200, 'and the coordinator stays ready');
      } finally {
        await toxi.heal();
      }
    });

    it(`lets a standby take over from an active cut off from the brokers; once healed, the old active is fenced and publishes nothing${at}`, async () => {
      const b = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${d.config.topicPrefix}-b`, env: { COORD_SESSION_TIMEOUT_MS: '10000', COORD_STALL_THRESHOLD_MS: '3000' } });
      standby = b;
      void b.start().catch(() => undefined);
      await waitFor('the second instance to stand by', async () => (await b.status())?.role === 'standby', 120_000);
      const generationBefore = (await c.status())?.generation ?? 0;
      const load = steadyLoad(client, `cut${round}`, 60, { senders: 4 });
      await waitFor('load under way', () => load.sent > 15, 120_000);
      const cutAt = Date.now();
      for (const n of testStack().cluster?.nodes ?? []) await toxi.poison(`kafka-${n.id}`, 'cut', cut);
      await waitFor('the standby to take over', async () => (await b.readyz()) === 200, 180_000, 500);
      const got = await load.done;
      const gap = probe?.longestGapSince(cutAt) ?? 0;
      recordUnavailability('active cut off from the brokers (blackhole), standby takes over', gap);
      console.log(`      taken over; longest time a client went unanswered: ${gap} ms`);
      assert.deepEqual(notOk(got), [], 'every create took effect exactly once');
      names.push(...load.names);
      replies.push(...got);
      assert.ok(((await b.status())?.generation ?? 0) > generationBefore, 'the standby publishes under a newer generation');
      await toxi.heal();
      // The old active, reconnected, must not publish: it is fenced, and stands by or stops.
      await waitFor('the old active to stand down', async () => c.exited || (await c.status())?.role !== 'active', 120_000, 500);
      const afterHeal = await client.ask('coord.v1.CreateLogicalSource', { name: `after-heal-${round}`, fields: [{ name: 'a', type: 'INT32' }] }, { timeoutMs: 30_000, correlationId: `cut-after-heal-${round}` });
      assert.equal(afterHeal.status, 'OK');
      names.push(`after-heal-${round}`);
      replies.push(afterHeal);
    });

    it(`takes over with the registry unreachable ${OUTAGE_MS / 1000} s: it waits, says why on /readyz, and serves once the registry answers${at}`, async () => {
      const active = standby;
      assert.ok(active !== undefined, 'the instance that took over is active');
      // The instance cut off before stands by again: it reaches the registry through the proxy. Fenced, it
      // stops, perhaps only after the last test saw it leave the active role: started again whenever it has exited.
      await waitFor(
        'the other instance to stand by',
        async () => {
          if (c.exited) void c.start().catch(() => undefined);
          return (await c.status())?.role === 'standby';
        },
        120_000,
        500,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}; ${await whereItStands(c)}`);
      });
      await toxi.poison('registry', 'cut', cut);
      const cutAt = Date.now();
      // A schema id the standby has never seen: folding the active's snapshot of it needs the registry.
      await sendWithNewSchema(`net-takeover-${round}`);
      assert.equal(await replyStatus(`net-takeover-${round}`, 60_000), 'OK', 'the active instance, which reaches the registry, answers it');
      await active.kill();
      await waitFor('/readyz to name the registry', async () => (await problems()).includes('registry'), 120_000, 500);
      assert.notEqual(await c.readyz(), 200, 'not serving while the registry is away');
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - cutAt))));
      await toxi.heal();
      const healedAt = Date.now();
      await waitFor('the standby to serve once the registry answers', async () => (await c.readyz()) === 200, 180_000, 500);
      console.log(`      serving ${Date.now() - healedAt} ms after the registry came back`);
      const after = await client.ask('coord.v1.CreateLogicalSource', { name: `after-registry-${round}`, fields: [{ name: 'a', type: 'INT32' }] }, { timeoutMs: 30_000, correlationId: `net-after-registry-${round}` });
      assert.equal(after.status, 'OK');
      names.push(`after-registry-${round}`);
      replies.push(after);
      const gap = probe?.longestGapSince(cutAt) ?? 0;
      recordUnavailability('registry unreachable 30 s during a takeover', gap);
      console.log(`      longest time a client went unanswered: ${gap} ms`);
      standby = undefined; // the first instance is the active one again
    });
  }

  it('keeps one history that replays to the live digest', async () => {
    await assertVerdict(d, client, (standby ?? c).httpUrl, names, replies);
  });
});
