import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Partitioners, type Producer } from 'kafkajs';
import type { Client, Reply } from '../../src/client/client';
import { json, payloadTypes, unwrapReply } from '../../src/cli/format';
import { loadContracts, type Contract } from '../../src/messaging/schemas';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordctl, coordctlJson } from '../support/coordctl';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';
import { readTopic } from '../support/topics';
import { waitFor } from '../support/wait';

interface SettingsChange {
  readonly before: Record<string, string>;
  readonly after: Record<string, string>;
  readonly changed: string[];
}
interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly logTimeMs: string;
  readonly snapshotId: string;
}
interface Explanation {
  readonly requestType: string;
  readonly position: Position;
  readonly stage: string | null;
  readonly orderInStage: number;
  readonly retries: Position[];
  readonly replyStatus: string | null;
  readonly replyMessage: string | null;
  readonly deferred: boolean;
  readonly answeredBy: { position: Position; recordType: string } | null;
  readonly changes: { entity: string; key: string; before: string | null; after: string | null; net: boolean }[];
  readonly commands: { workerId: string; recordType: string; fragmentId: string }[];
  readonly dlqCode: string | null;
  readonly dlqReason: string | null;
  readonly keptUntilLogTimeMs: string;
}
interface JsonReply<P> {
  readonly status: string;
  readonly message: string;
  readonly payload: { type: string; value: P } | null;
}

/** Local configuration of the first instance, and of the one that takes over: they differ on purpose. */
const FILE_A = { COORD_MAX_ALLOCATIONS: '10', COORD_MAX_CACHED_ALLOCATIONS: '4' };
const FILE_B = { COORD_MAX_ALLOCATIONS: '99', COORD_MAX_CACHED_ALLOCATIONS: '1' };
const COMMON = { COORD_TICK_INTERVAL_MS: '200', COORD_WORKER_SUSPECT_MS: '2000', COORD_WORKER_TIMEOUT_MS: '4000' };

describe('settings as state, and explain, end to end', function () {
  this.timeout(180_000);
  let d: Deployment;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess | undefined;
  let client: Client;
  let raw: Producer;
  const agents: WorkerAgent[] = [];
  const prefix = (): string => d.config.topicPrefix;

  const ok = async (type: string, value: Record<string, unknown>, correlationId?: string): Promise<Reply> => {
    const r = await client.ask(type, value, correlationId === undefined ? {} : { correlationId });
    assert.equal(r.status, 'OK', `${type}: ${r.status} ${r.message}`);
    return r;
  };
  // Asked through the client, unwrapped as coordctl --json prints them (longs as decimal strings): a coordctl process per poll costs seconds.
  const types = payloadTypes((loadContracts().get('coord.v1.Reply') as Contract).type);
  const asJson = <P>(r: Reply): JsonReply<P> => JSON.parse(json(unwrapReply(r, types))) as JsonReply<P>;
  const settings = async (): Promise<JsonReply<SettingsChange>> => asJson(await client.ask('coord.v1.GetSettings', {}));
  const explain = async (id: string): Promise<JsonReply<Explanation>> => asJson(await client.ask('coord.v1.ExplainRequest', { correlationId: id }));
  const plan = (sources: string[]): string => JSON.stringify({ sources, sink: 'out', operators: [] });

  before(async () => {
    // A registry that was just started can time out its first registrations on a loaded machine: three bounded tries.
    for (let attempt = 1; ; attempt++) {
      try {
        d = await deployment(testStack(), 'settings');
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
    a = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'settings-a', env: { ...COMMON, ...FILE_A } });
    b = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'settings-b', env: { ...COMMON, ...FILE_B } });
    await a.start();
    // The instance that takes over at the end stands by meanwhile (it never becomes ready while it does).
    void b.start().catch(() => undefined);
    client = await d.client();
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
    for (const workerId of ['w1', 'w2', 'w3']) {
      const agent = createWorkerAgent({
        client,
        commands: { kafka: d.parts.kafka, codec: d.parts.codec, topicPrefix: d.config.topicPrefix },
        log: testLog(),
        workerId,
        slots: 2,
        heartbeatMs: 200,
        // The fragments report RUNNING one after another, so the start waits on each.
        deployMs: workerId === 'w1' ? 600 : workerId === 'w2' ? 300 : 20,
      });
      await agent.start();
      agents.push(agent);
    }
    await waitFor('three ACTIVE workers', async () => {
      const r = await client.ask('coord.v1.ListWorkers', { includeGone: false });
      return (r.payload?.value as { workers: { state: string }[] }).workers.filter((w) => w.state === 'ACTIVE').length === 3;
    });
    await ok('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }] });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-a', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: {} });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-b', logicalSource: 'cars', workerId: 'w2', connectorType: 'tcp', options: {} });
    await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
  });

  after(async () => {
    for (const agent of agents) await agent.die();
    await raw?.disconnect();
    await d?.close();
    await a?.stop();
    await b?.stop();
  });

  it('takes the active instance’s local configuration as the initial settings, and its Ticks carry only the clock', async () => {
    await waitFor('the initial settings on the log', async () => (await settings()).message.includes('revision 1'));
    const s = await coordctlJson<JsonReply<SettingsChange>>(['settings', 'get'], prefix());
    assert.equal(s.status, 'OK');
    assert.equal(s.payload?.value.after.maxAllocations, '10');
    assert.equal(s.payload?.value.after.maxCachedAllocations, '4');
    const ticks = await readTopic(d.parts.kafka, `${prefix()}.internal.ticks`, (all) => all.length >= 2);
    const tick = await d.parts.codec.decode(ticks[ticks.length - 1].message.value);
    assert.equal(tick.fullName, 'coord.v1.Tick');
    for (const [name, v] of Object.entries(tick.value)) if (name !== 'tickMs') assert.equal(v, null, `a Tick carries no ${name}`);
  });

  it('the registry takes the Tick that carries only the clock as a BACKWARD-compatible version of the Tick that carried settings', async () => {
    const subject = `${prefix()}.upgrade-coord.v1.Tick`;
    const old = readFileSync(join(__dirname, '../fixtures/coord.v1.Tick.before-settings-state.avsc'), 'utf8');
    const oldId = await d.parts.registry.register(subject, old);
    const newId = await d.parts.registry.register(subject, (loadContracts().get('coord.v1.Tick') as Contract).text);
    assert.notEqual(newId, oldId);
  });

  it('coordctl settings set answers with the values before and after, and the change is on the changelog', async () => {
    const r = await coordctlJson<JsonReply<SettingsChange>>(['settings', 'set', 'historyRetentionMs=120000', 'goneRetentionMs=3600000'], prefix());
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.payload?.value.before.historyRetentionMs, '600000');
    assert.equal(r.payload?.value.after.historyRetentionMs, '120000');
    assert.deepEqual(r.payload?.value.changed, ['historyRetentionMs', 'goneRetentionMs']);
    const changelog = await readTopic(d.parts.kafka, `${prefix()}.changelog`, (all) => all.some((m) => m.message.key?.toString().includes('settings') === true && m.message.value?.includes('3600000') === true));
    assert.ok(changelog.length > 0);
    // Each value fits its bounds; together they do not: refused by the coordinator, nothing changes.
    const refused = await client.ask('coord.v1.UpdateSettings', { workerTimeoutMs: { long: 1_000n } });
    assert.equal(refused.status, 'INVALID_ARGUMENT');
    assert.match(refused.message, /workerTimeoutMs \(1000\) must be at least workerSuspectMs \(2000\)/);
    assert.equal((await settings()).payload?.value.after.workerTimeoutMs, '4000');
  });

  const startId = `start-q1-${randomUUID()}`;

  it('lowering maxAllocations below what is in use refuses new starts but stops nothing', async () => {
    await ok('coord.v1.CreateQuery', { name: 'q1', plan: plan(['cars']), session: null, temporary: false });
    await ok('coord.v1.CreateQuery', { name: 'q2', plan: plan(['cars']), session: null, temporary: false });
    const started = await ok('coord.v1.StartQuery', { name: 'q1' }, startId);
    const fragments = (started.payload?.value as { fragments: { fragmentId: string }[] }).fragments;
    assert.equal(fragments.length, 3);
    const lowered = asJson<SettingsChange>(await ok('coord.v1.UpdateSettings', { maxAllocations: { int: 2 } }));
    assert.deepEqual(lowered.payload?.value.changed, ['maxAllocations']);
    const refused = await client.ask('coord.v1.StartQuery', { name: 'q2' });
    assert.equal(refused.status, 'RESOURCE_EXHAUSTED', refused.message);
    assert.match(refused.message, /maxAllocations 2/);
    // Several check loops later, q1 still runs and no worker was told to stop anything.
    const at = (await a.status())?.snapshotId;
    await waitFor('five more snapshots', async () => BigInt((await a.status())?.snapshotId ?? '0') >= BigInt(at ?? '0') + 5n);
    const q1 = await ok('coord.v1.GetQuery', { name: 'q1', asOfTs: null });
    assert.equal((q1.payload?.value as { state: string }).state, 'RUNNING');
    for (const agent of agents) assert.ok(!agent.received.some((c) => c.type === 'coord.v1.StopFragment'), `${agent.workerId} was told to stop nothing`);
    await ok('coord.v1.UpdateSettings', { maxAllocations: { int: 10 } });
  });

  it('explains a start that waited for three fragments: its deploy commands, and the report that completed it', async () => {
    const e = await explain(startId);
    assert.equal(e.status, 'OK', e.message);
    const x = e.payload?.value as Explanation;
    assert.equal(x.requestType, 'coord.v1.StartQuery');
    assert.equal(x.position.topic, `${prefix()}.requests.query`);
    assert.equal(x.stage, 'queries');
    assert.deepEqual(x.retries, []);
    assert.equal(x.deferred, true);
    assert.equal(x.replyStatus, 'OK');
    assert.deepEqual(x.commands.map((c) => c.recordType), ['coord.v1.DeployFragment', 'coord.v1.DeployFragment', 'coord.v1.DeployFragment']);
    assert.deepEqual(x.commands.map((c) => c.workerId).sort(), ['w1', 'w2', 'w3']);
    assert.equal(x.answeredBy?.recordType, 'coord.v1.FragmentStatus');
    assert.equal(x.answeredBy?.position.topic, `${prefix()}.events.infra`);
    assert.ok(BigInt(x.answeredBy?.position.snapshotId ?? '0') > BigInt(x.position.snapshotId), 'answered in a later snapshot');
    assert.ok(x.changes.some((c) => c.entity === 'query' && c.key === 'q1' && c.after?.includes('"DEPLOYING"') === true));
    assert.equal(BigInt(x.keptUntilLogTimeMs), BigInt(x.position.logTimeMs) + BigInt(d.config.dedupeRetentionMs));
    const text = await coordctl(['explain', startId], prefix());
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /completed by coord\.v1\.FragmentStatus/);
    assert.match(text.stdout, /DeployFragment/);
  });

  it('explains a create that cancelled out with a drop in the same pass', async () => {
    const createId = `create-${randomUUID()}`;
    const dropId = `drop-${randomUUID()}`;
    await client.sendMany([
      { type: 'coord.v1.CreateSink', value: { name: 'fleeting', type: 'print', options: {} }, opts: { correlationId: createId } },
      { type: 'coord.v1.DropSink', value: { name: 'fleeting', cascade: false }, opts: { correlationId: dropId } },
    ]);
    await waitFor('both explained', async () => (await explain(dropId)).status === 'OK');
    const create = (await explain(createId)).payload?.value as Explanation;
    const drop = (await explain(dropId)).payload?.value as Explanation;
    assert.equal(create.position.snapshotId, drop.position.snapshotId, 'sent in one produce request, folded in one pass');
    assert.equal(create.stage, 'catalog');
    assert.ok(drop.orderInStage > create.orderInStage);
    assert.equal(create.replyStatus, 'OK');
    assert.equal(drop.replyStatus, 'OK');
    assert.deepEqual(
      create.changes.map((c) => [c.entity, c.key, c.before, c.net]),
      [['sink', 'fleeting', null, false]],
    );
  });

  it('explains a request refused by the decoder: the DLQ and the reason', async () => {
    const id = `garbage-${randomUUID()}`;
    await raw.send({ topic: `${prefix()}.requests.catalog`, messages: [{ key: 'x', value: Buffer.from('this is not avro'), headers: { 'correlation-id': id, 'reply-to': d.config.replyTopic } }] });
    await waitFor('the refused request explained', async () => (await explain(id)).status === 'OK');
    const x = (await explain(id)).payload?.value as Explanation;
    assert.equal(x.requestType, '');
    assert.equal(x.stage, null);
    assert.equal(x.dlqCode, 'WIRE_MALFORMED');
    assert.match(x.dlqReason ?? '', /magic byte|not framed|Confluent/i);
    assert.equal(x.replyStatus, 'INVALID_ARGUMENT');
  });

  it('says when it keeps no record of an id, and for how long records are kept', async () => {
    const r = await explain('never-sent');
    assert.equal(r.status, 'NOT_FOUND');
    assert.match(r.message, /kept for dedupeRetentionMs \(86400000 ms of log time\), so one applied before log time \d+ \(\d{4}-/);
  });

  it('forgets a request after dedupeRetentionMs of log time, and says so', async () => {
    const id = `short-lived-${randomUUID()}`;
    await ok('coord.v1.UpdateSettings', { maxDeadlineMs: { long: 1_000n }, dedupeRetentionMs: { long: 2_000n } });
    await ok('coord.v1.AllocIds', { count: 1 }, id);
    assert.equal((await explain(id)).status, 'OK');
    // Ticks every 200 ms move the log's clock; the record goes with the remembered reply.
    await waitFor('the record expired', async () => (await explain(id)).status === 'NOT_FOUND', 30_000);
    const gone = await coordctl(['explain', id], prefix());
    assert.equal(gone.code, 2, gone.stderr);
    assert.match(gone.stdout, /NOT_FOUND.*kept for dedupeRetentionMs \(2000 ms of log time\)/);
    await ok('coord.v1.UpdateSettings', { maxDeadlineMs: { long: 600_000n }, dedupeRetentionMs: { long: 86_400_000n } });
  });

  it('a replay with settings changes in the log reaches the same state, snapshot by snapshot', async () => {
    const { report, live } = await replayToLive(d, a.httpUrl);
    assert.equal(report.mismatch, undefined, JSON.stringify(report.mismatch, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    assert.equal(report.lastSnapshotId, BigInt(live.snapshotId));
  });

  it('a takeover by an instance with a different local file changes nothing', async () => {
    const before = await settings();
    const takeover = b as CoordinatorProcess;
    await waitFor('the other instance standing by', async () => (await takeover.status())?.role === 'standby', 60_000);
    await a.stop();
    await waitFor('the other instance active', async () => (await takeover.readyz()) === 200, 60_000);
    // Past its first ticks, when it would have proposed its file had the log had no settings.
    const from = BigInt((await takeover.status())?.snapshotId ?? '0');
    await waitFor('five snapshots under the new instance', async () => BigInt((await takeover.status())?.snapshotId ?? '0') >= from + 5n, 60_000);
    const after = await settings();
    assert.deepEqual(after.payload?.value.after, before.payload?.value.after);
    assert.equal(after.payload?.value.after.maxAllocations, '10');
    assert.equal(after.message, before.message);
  });
});
