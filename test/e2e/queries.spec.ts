import { strict as assert } from 'node:assert';
import type { Client, Reply } from '../../src/client/client';
import { readMarkers } from '../../src/engine/replay';
import { topicName } from '../../src/messaging/topics';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';
import { readTopicToEnd } from '../support/topics';
import { waitFor } from '../support/wait';

interface Fragment {
  readonly fragmentId: string;
  readonly workerId: string;
  readonly status: string;
}

interface Query {
  readonly name: string;
  readonly state: string;
  readonly reason: string;
  readonly reused: number;
  readonly fragments: readonly Fragment[];
}

const TIMEOUT_MS = 2_000;
const SLOTS: Record<string, number> = { w1: 2, w2: 2, w3: 2 };

describe('queries on simulated workers, end to end', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  const agents = new Map<string, WorkerAgent>();

  const ok = async (type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await client.ask(type, value);
    assert.equal(r.status, 'OK', `${type} ${JSON.stringify(value)}: ${r.status} ${r.message}`);
    return r;
  };
  const query = (r: Reply): Query => r.payload?.value as unknown as Query;
  const getQuery = async (name: string): Promise<Reply> => client.ask('coord.v1.GetQuery', { name, asOfTs: null });
  const plan = (sources: string[], sink = 'out'): string => JSON.stringify({ sources, sink, operators: [{ op: 'filter', where: 'speed > 50' }] });
  const describe_ = async (): Promise<Record<string, unknown>> => (await ok('coord.v1.DescribeCoordinator', {})).payload?.value as Record<string, unknown>;
  /** Slots come back once the workers confirm their fragments stopped. */
  const slots = async (inUse: number, cached: number): Promise<void> =>
    waitFor(`${inUse} slots in use and ${cached} cached`, async () => {
      const info = await describe_();
      return info.allocationsInUse === inUse && info.allocationsCached === cached;
    });
  const received = (workerId: string, type: string, fragmentId: string): boolean =>
    agents.get(workerId)?.received.some((c) => c.type === type && c.fragmentId === fragmentId) === true;

  before(async () => {
    d = await deployment(testStack(), 'queries');
    coordinator = await coordinatorProcess(testStack(), {
      prefix: d.config.topicPrefix,
      name: 'queries',
      env: {
        COORD_TICK_INTERVAL_MS: '200',
        COORD_WORKER_SUSPECT_MS: '1000',
        COORD_WORKER_TIMEOUT_MS: String(TIMEOUT_MS),
        COORD_CLIENT_SESSION_TIMEOUT_MS: '2000',
      },
    });
    await coordinator.start();
    client = await d.client();
    for (const [workerId, slots] of Object.entries(SLOTS)) {
      const agent = createWorkerAgent({
        client,
        commands: { kafka: d.parts.kafka, codec: d.parts.codec, topicPrefix: d.config.topicPrefix },
        log: testLog(),
        workerId,
        slots,
        heartbeatMs: 200,
        // w1 is slow to start its fragments: a reply sent before its RUNNING report would show.
        deployMs: workerId === 'w1' ? 600 : 20,
        failOnDeploy: (id) => id.startsWith('doomed#'),
      });
      await agent.start();
      agents.set(workerId, agent);
    }
    await waitFor('three ACTIVE workers', async () => {
      const r = await client.ask('coord.v1.ListWorkers', { includeGone: false });
      return (r.payload?.value as { workers: { state: string }[] }).workers.filter((w) => w.state === 'ACTIVE').length === 3;
    });
    await ok('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }, { name: 'speed', type: 'FLOAT64' }] });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-a', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: { port: '9000' } });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-b', logicalSource: 'cars', workerId: 'w2', connectorType: 'tcp', options: { port: '9001' } });
    await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
  });

  after(async () => {
    for (const a of agents.values()) await a.die();
    await d?.close();
    await coordinator?.stop();
  });

  it('answers a start OK only once every fragment reports RUNNING', async () => {
    await ok('coord.v1.CreateQuery', { name: 'q1', plan: plan(['cars']), session: null, temporary: false });
    const r = await ok('coord.v1.StartQuery', { name: 'q1' });
    const q = query(r);
    assert.equal(q.state, 'RUNNING');
    assert.deepEqual(q.fragments.map((f) => [f.workerId, f.status]), [['w1', 'RUNNING'], ['w2', 'RUNNING'], ['w3', 'RUNNING']]);
    // The slow worker had started its fragment, and said so, before the reply came.
    for (const f of q.fragments) assert.ok(agents.get(f.workerId)?.fragments.has(f.fragmentId), `${f.workerId} runs ${f.fragmentId}`);
    await ok('coord.v1.StopQuery', { name: 'q1' });
    await waitFor('q1 STOPPED once its workers confirm', async () => query(await getQuery('q1')).state === 'STOPPED');
    for (const f of q.fragments) assert.ok(received(f.workerId, 'coord.v1.StopFragment', f.fragmentId));
  });

  it('aborts a start when a fragment fails: ABORTED with the reason, and the rest told to stop', async () => {
    await ok('coord.v1.CreateQuery', { name: 'doomed', plan: plan(['cars']), session: null, temporary: false });
    const r = await client.ask('coord.v1.StartQuery', { name: 'doomed' });
    assert.equal(r.status, 'ABORTED', r.message);
    assert.match(r.message, /doomed#[\d-]+ failed on worker w\d/);
    const q = query(await getQuery('doomed'));
    assert.equal(q.state, 'FAILED');
    await waitFor('StopFragment to the fragments that started', () =>
      q.fragments.filter((f) => f.status !== 'FAILED').every((f) => received(f.workerId, 'coord.v1.StopFragment', f.fragmentId)),
    );
    await slots(0, 0);
  });

  it('never gives out more slots than the workers have, and says RESOURCE_EXHAUSTED', async () => {
    // Each start of a query on cars takes a slot on w1 and w2 and one more: two fit on six slots, a third does not.
    const outcomes: string[] = [];
    for (const name of ['fill1', 'fill2', 'fill3']) {
      await ok('coord.v1.CreateQuery', { name, plan: plan(['cars']), session: null, temporary: false });
      const r = await client.ask('coord.v1.StartQuery', { name });
      outcomes.push(r.status);
      if (r.status !== 'OK') assert.match(r.message, /no free slot/);
    }
    assert.deepEqual(outcomes, ['OK', 'OK', 'RESOURCE_EXHAUSTED']);
    for (const a of agents.values()) assert.ok(!a.received.some((c) => c.fragmentId.startsWith('fill3#')), 'a refused start deploys nothing');
    const list = (await ok('coord.v1.ListQueries', { session: null, asOfTs: null })).payload?.value as { queries: Query[] };
    const used = new Map<string, number>();
    for (const q of list.queries.filter((x) => x.state === 'RUNNING' || x.state === 'DEPLOYING'))
      for (const f of q.fragments) used.set(f.workerId, (used.get(f.workerId) ?? 0) + 1);
    for (const [w, n] of used) assert.ok(n <= SLOTS[w], `worker ${w} runs ${n} fragments on ${SLOTS[w]} slots`);
    assert.equal((await describe_()).allocationsInUse, 6);
    await ok('coord.v1.StopQuery', { name: 'fill1' });
    await ok('coord.v1.StopQuery', { name: 'fill2' });
    await slots(0, 0);
  });

  it('reuses a session’s cached slots, and when the session dies its temporary queries go and its cache is freed', async () => {
    await client.send('coord.v1.SessionOpened', { sessionId: 's1', client: 'e2e' }, { key: 's1' });
    const beats = setInterval(() => void client.send('coord.v1.SessionHeartbeat', { sessionId: 's1' }, { key: 's1' }).catch(() => undefined), 200);
    try {
      await ok('coord.v1.CreateQuery', { name: 'cached', plan: plan(['cars']), session: { string: 's1' }, temporary: false });
      await ok('coord.v1.StartQuery', { name: 'cached' });
      await ok('coord.v1.StopQuery', { name: 'cached' });
      await slots(0, 3);
      const again = query(await ok('coord.v1.StartQuery', { name: 'cached' }));
      assert.equal(again.reused, 3);
      await ok('coord.v1.StopQuery', { name: 'cached' });
      await slots(0, 3);
      await ok('coord.v1.CreateQuery', { name: 'temp', plan: plan(['cars']), session: { string: 's1' }, temporary: true });
      const temp = query(await ok('coord.v1.StartQuery', { name: 'temp' }));
      assert.equal(temp.reused, 3, 'a query of the same session takes the cached slots');
      await ok('coord.v1.StopQuery', { name: 'temp' });
      await slots(0, 3);
      await ok('coord.v1.StartQuery', { name: 'temp' });
    } finally {
      clearInterval(beats);
    }
    await waitFor('the temporary query to go with its session', async () => (await getQuery('temp')).status === 'NOT_FOUND', 20_000);
    await slots(0, 0);
    assert.equal((await describe_()).openSessions, 0);
    assert.equal(query(await getQuery('cached')).state, 'STOPPED', 'a query that is not temporary stays');
  });

  it('fails the query of a worker that dies, declaring it DEAD at the first tick past workerTimeoutMs of log time', async () => {
    await ok('coord.v1.CreateQuery', { name: 'victim', plan: plan(['cars']), session: null, temporary: false });
    const started = query(await ok('coord.v1.StartQuery', { name: 'victim' }));
    await (agents.get('w2') as WorkerAgent).die();
    await waitFor('victim FAILED', async () => query(await getQuery('victim')).state === 'FAILED', 30_000);
    const q = query(await getQuery('victim'));
    assert.match(q.reason, /worker w2 is DEAD/);
    for (const f of started.fragments.filter((x) => x.workerId !== 'w2'))
      await waitFor(`StopFragment for ${f.fragmentId}`, () => received(f.workerId, 'coord.v1.StopFragment', f.fragmentId));
    const source = (await ok('coord.v1.GetPhysicalSource', { name: 'cars-b', asOfTs: null })).payload?.value as { available: boolean };
    assert.equal(source.available, false);

    // When, by the log: the changelog's DEAD image names the last heartbeat; the ticks say which one came first after the timeout.
    const changes = await readTopicToEnd(d.parts.kafka, topicName(d.config.topicPrefix, 'changelog'));
    const dead: { snapshotId: bigint; lastHeartbeatMs: number }[] = [];
    for (const c of changes) {
      if (c.message.key?.toString() !== 'worker/w2' || c.message.value === null) continue;
      const { value } = await d.parts.codec.decode(c.message.value);
      const image = value.image === null ? null : (JSON.parse((value.image as { string: string }).string) as { state: string; lastHeartbeatMs: number });
      if (image?.state === 'DEAD') dead.push({ snapshotId: value.snapshotId as bigint, lastHeartbeatMs: image.lastHeartbeatMs });
    }
    assert.equal(dead.length, 1, 'declared DEAD once');
    const ticks = await readTopicToEnd(d.parts.kafka, topicName(d.config.topicPrefix, 'internal.ticks'));
    const due = ticks.find((t) => Number(t.message.timestamp) >= dead[0].lastHeartbeatMs + TIMEOUT_MS);
    assert.ok(due !== undefined);
    const markers = await readMarkers(d.parts.kafka, d.parts.codec, topicName(d.config.topicPrefix, 'snapshots'));
    const marker = markers.find((m) => m.snapshotId === dead[0].snapshotId);
    const tickRange = marker?.inputs.find((r) => r.topic.endsWith('internal.ticks'));
    assert.ok(tickRange !== undefined && tickRange.fromOffset <= BigInt(due.message.offset) && BigInt(due.message.offset) <= tickRange.toOffset, 'the DEAD snapshot folded the first tick past the timeout');
  });

  it('replays the whole domain’s log to the same digest, snapshot by snapshot', async () => {
    const { report, live } = await replayToLive(d, coordinator.httpUrl);
    assert.equal(report.mismatch, undefined, JSON.stringify(report.mismatch));
    assert.equal(report.lastSnapshotId.toString(), live.snapshotId);
    assert.equal(report.digest, live.digest);
  });
});
