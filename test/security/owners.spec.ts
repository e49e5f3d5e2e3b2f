import { strict as assert } from 'node:assert';
import { createClient, type Client, type Reply } from '../../src/client/client';
import { makeConfig, type Config } from '../../src/config';
import { provisionAccess } from '../../src/cli/secure-infra';
import { SUPER_USER } from '../../src/infra/secure';
import { privateReplyTopic } from '../../src/messaging/acl';
import { createSigner } from '../../src/messaging/signing';
import { topicName } from '../../src/messaging/topics';
import { createParts } from '../../src/runtime';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { header, readTopic, type Read } from '../support/topics';
import { waitFor } from '../support/wait';

type Worker = { workerId: string; incarnation: string; state: string; lastHeartbeatMs: bigint };

/**
 * Owners on the secured stack: every record is signed by a key the log registered, so the
 * coordinator knows who sent it though Kafka does not say. Real broker, real registry, the
 * coordinator in its own process; each refusal is read back from the DLQ the coordinator wrote.
 */
describe('owners: signed records, and only the owner or an admin may stop, drop or speak for what is theirs', function () {
  this.timeout(300_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let admin: Client;
  const clients: Client[] = [];
  const agents: WorkerAgent[] = [];

  const as = (principal: string, overrides: Partial<Config> = {}): Config => {
    const secure = testStack().secure;
    if (secure === undefined) throw new Error('this suite needs the secured stack: run it with TEST_SECURE=1 (make test-secure)');
    return makeConfig({ ...d.config, ...secure.connection(principal), replyTopic: privateReplyTopic(d.config.topicPrefix, principal), ...overrides });
  };
  /** A client connected (SCRAM) and signing as `principal`, on its own reply topic. */
  const clientAs = async (principal: string, overrides: Partial<Config> = {}): Promise<Client> => {
    const config = as(principal, overrides);
    const parts = createParts(config, `test-${principal}`, testLog());
    const c = createClient({ kafka: parts.kafka, codec: parts.codec, log: testLog(), topicPrefix: config.topicPrefix, replyTopic: config.replyTopic, askTimeoutMs: 30_000, signer: parts.signer });
    await c.start();
    clients.push(c);
    return c;
  };
  const ok = async (c: Client, type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await c.ask(type, value);
    assert.equal(r.status, 'OK', `${type}: ${r.status} ${r.message}`);
    return r;
  };
  const workers = async (): Promise<Worker[]> => ((await ok(admin, 'coord.v1.ListWorkers', { includeGone: true })).payload?.value as { workers: Worker[] }).workers;
  const queryState = async (name: string): Promise<string> => String(((await ok(admin, 'coord.v1.GetQuery', { name, asOfTs: null })).payload?.value as { state: string }).state);
  /** The DLQ records the coordinator wrote for `code`, once `enough` of them are there. */
  const dlq = async (code: string, enough: (rs: Read[]) => boolean): Promise<Read[]> => {
    const all = await readTopic(d.parts.kafka, topicName(d.config.topicPrefix, 'dlq'), (rs) => enough(rs.filter((r) => header(r.message, 'dlq-code') === code)));
    return all.filter((r) => header(r.message, 'dlq-code') === code);
  };

  before(async () => {
    d = await deployment(testStack(), 'owners');
    await provisionAccess(as(SUPER_USER), testLog(), {
      roles: ['frontend', 'worker'],
      principals: { frontend: ['frontend', 'frontend-2'], worker: ['worker', 'worker-2'] },
    });
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'owners', env: { COORD_TICK_INTERVAL_MS: '200' } });
    await coordinator.start();
    admin = await d.client();
    // The coordinator's initial settings (TEST_SECURE: requireSignatures) come after the keys the deployment registered.
    await waitFor('signatures required on the log', async () => {
      const r = await admin.ask('coord.v1.GetSettings', {});
      return (r.payload?.value as { after: Record<string, bigint> } | undefined)?.after.signaturesRequired === 1n;
    }, 60_000, 250);
    // A worker agent that signs as principal `worker`, and reads its commands with the run's own connection.
    const workerClient = await clientAs('worker');
    for (const workerId of ['w-a', 'w-b']) {
      const agent = createWorkerAgent({ client: workerClient, commands: { kafka: d.parts.kafka, codec: d.parts.codec, topicPrefix: d.config.topicPrefix }, log: testLog(), workerId, slots: 4, heartbeatMs: 200 });
      await agent.start();
      agents.push(agent);
    }
    await waitFor('two ACTIVE workers', async () => (await workers()).filter((w) => w.state === 'ACTIVE').length === 2);
  });

  after(async () => {
    for (const a of agents) await a.die();
    await Promise.all(clients.map((c) => c.close()));
    await d?.close();
    await coordinator?.stop();
  });

  it('refuses an unsigned request with PERMISSION_DENIED and a SIGNATURE_REFUSED DLQ record', async () => {
    const unsigned = await clientAs('frontend', { signingKey: undefined, signingKeyId: undefined });
    const r = await unsigned.ask('coord.v1.CreateSink', { name: 'nobody', type: 'print', options: {} });
    assert.equal(r.status, 'PERMISSION_DENIED', r.message);
    assert.match(r.message, /unsigned/);
    assert.equal((await admin.ask('coord.v1.GetSink', { name: 'nobody', asOfTs: null })).status, 'NOT_FOUND');
    const refused = await dlq('SIGNATURE_REFUSED', (rs) => rs.some((x) => header(x.message, 'correlation-id') === r.correlationId));
    assert.ok(refused.some((x) => header(x.message, 'correlation-id') === r.correlationId));
  });

  it("a frontend cannot stop another frontend's query (PERMISSION_DENIED, and a DLQ record); an admin can", async () => {
    const alice = await clientAs('frontend');
    const bob = await clientAs('frontend-2');
    await ok(alice, 'coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }] });
    await ok(alice, 'coord.v1.CreatePhysicalSource', { name: 'cars-a', logicalSource: 'cars', workerId: 'w-a', connectorType: 'tcp', options: {} });
    await ok(alice, 'coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
    await ok(alice, 'coord.v1.CreateQuery', { name: 'alices', plan: JSON.stringify({ sources: ['cars'], sink: 'out', operators: [] }), session: null, temporary: false });
    await ok(alice, 'coord.v1.StartQuery', { name: 'alices' });

    const denied = await bob.ask('coord.v1.StopQuery', { name: 'alices' });
    assert.equal(denied.status, 'PERMISSION_DENIED', denied.message);
    assert.match(denied.message, /frontend-2 may not stop query alices: it belongs to principal frontend/);
    assert.equal(await queryState('alices'), 'RUNNING');
    const dropped = await bob.ask('coord.v1.DropQuery', { name: 'alices' });
    assert.equal(dropped.status, 'PERMISSION_DENIED', dropped.message);
    const logged = await dlq('PERMISSION_DENIED', (rs) => rs.some((x) => header(x.message, 'correlation-id') === denied.correlationId));
    assert.ok(logged.some((x) => header(x.message, 'correlation-id') === denied.correlationId && /frontend-2/.test(header(x.message, 'dlq-reason') ?? '')));

    const stopped = await admin.ask('coord.v1.StopQuery', { name: 'alices' });
    assert.equal(stopped.status, 'OK', stopped.message);
    await waitFor('the query STOPPED', async () => (await queryState('alices')) === 'STOPPED');
  });

  it('a worker principal cannot speak for another worker: its reports for that worker are refused to the DLQ, and the worker stays as it was', async () => {
    // w-a and w-b were registered by principal `worker`; principal `worker-2` signs with its own registered key.
    const intruder = await clientAs('worker-2');
    const before = (await workers()).find((w) => w.workerId === 'w-a');
    assert.ok(before !== undefined && before.state === 'ACTIVE');
    const report = { workerId: 'w-a', incarnation: before.incarnation };
    await intruder.send('coord.v1.WorkerDraining', report, { key: 'w-a' });
    await intruder.send('coord.v1.WorkerDeregistered', report, { key: 'w-a' });
    await intruder.send('coord.v1.WorkerRegistered', { workerId: 'w-a', incarnation: 'taken-over', host: 'evil', slots: 99, capabilities: [] }, { key: 'w-a' });
    const refused = await dlq('PERMISSION_DENIED', (rs) => rs.filter((x) => /speak for worker w-a/.test(header(x.message, 'dlq-reason') ?? '')).length >= 3);
    const mine = refused.filter((x) => /worker-2 may not speak for worker w-a/.test(header(x.message, 'dlq-reason') ?? ''));
    assert.equal(mine.length, 3, `DLQ reasons: ${refused.map((x) => header(x.message, 'dlq-reason')).join(' | ')}`);
    const after = (await workers()).find((w) => w.workerId === 'w-a');
    assert.equal(after?.state, 'ACTIVE');
    assert.equal(after?.incarnation, before.incarnation);
  });

  it("a worker cannot sign as another worker's key: a signature by worker-2's key under worker's key id is refused", async () => {
    const secure = testStack().secure;
    const own = secure?.signingKeys.get('worker-2');
    const theirs = secure?.signingKeys.get('worker');
    assert.ok(own !== undefined && theirs !== undefined);
    const impostor = createSigner(theirs.keyId, createPrivateKey(readFileSync(own.file, 'utf8')));
    const config = as('worker-2');
    const parts = createParts(config, 'test-impostor', testLog());
    const c = createClient({ kafka: parts.kafka, codec: parts.codec, log: testLog(), topicPrefix: config.topicPrefix, replyTopic: config.replyTopic, askTimeoutMs: 30_000, signer: impostor });
    await c.start();
    clients.push(c);
    const before = (await workers()).find((w) => w.workerId === 'w-b');
    assert.ok(before !== undefined);
    await c.send('coord.v1.WorkerDeregistered', { workerId: 'w-b', incarnation: before.incarnation }, { key: 'w-b' });
    const refused = await dlq('SIGNATURE_REFUSED', (rs) => rs.some((x) => /does not match/.test(header(x.message, 'dlq-reason') ?? '')));
    assert.ok(refused.some((x) => /signed as principal worker with key worker-1, but the signature does not match/.test(header(x.message, 'dlq-reason') ?? '')));
    assert.equal((await workers()).find((w) => w.workerId === 'w-b')?.state, 'ACTIVE');
  });
});
