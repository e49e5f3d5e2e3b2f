import { LOGIC_VERSION } from '../../src/engine/logic-version';
import { strict as assert } from 'node:assert';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, Reply } from '../../src/client/client';
import { payloadTypes, replyJson, unwrapReply } from '../../src/cli/format';
import { readMarkers } from '../../src/engine/replay';
import type { Codec } from '../../src/messaging/codec';
import { loadContracts } from '../../src/messaging/schemas';
import { topicName } from '../../src/messaging/topics';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordctl, coordctlJson } from '../support/coordctl';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { header, readTopic } from '../support/topics';
import { waitFor } from '../support/wait';

/** A reply as `--json` prints it: longs as strings, unions unwrapped. */
type JsonReply = { correlationId: string; status: string; message: string; snapshotId: string; snapshotTs: string; payload: { type: string; value: unknown } | null };

const replyContract = loadContracts().get('coord.v1.Reply');
const types = payloadTypes(replyContract?.type as NonNullable<typeof replyContract>['type']);
const asJson = (r: Reply): JsonReply => JSON.parse(replyJson(unwrapReply(r, types))) as JsonReply;

/** What a reader sees of a reply, apart from the pass that answered it. */
const seen = (r: JsonReply) => ({ status: r.status, message: r.message, payload: r.payload });
/** A reply apart from the correlation id it answered. */
const anyId = (r: JsonReply): Omit<JsonReply, 'correlationId'> => ({ status: r.status, message: r.message, snapshotId: r.snapshotId, snapshotTs: r.snapshotTs, payload: r.payload });

/** A Reply record from the replies topic, as the client decodes it. */
const decodeReply = async (codec: Codec, value: Buffer): Promise<Reply> => {
  const v = (await codec.decode(value)).value as Record<string, unknown> & { payload: Record<string, Record<string, unknown>> | null };
  const branch = v.payload === null ? undefined : Object.entries(v.payload)[0];
  return {
    correlationId: v.correlationId as string,
    status: v.status as Reply['status'],
    message: v.message as string,
    snapshotId: v.snapshotId as bigint,
    snapshotTs: v.snapshotTs as bigint,
    payload: branch === undefined ? null : { type: branch[0], value: branch[1] },
  };
};

/** Every file of a folder, with its bytes' hash, size and modification time. */
const fingerprint = (dir: string): string[] =>
  readdirSync(dir)
    .sort()
    .map((f) => {
      const st = statSync(join(dir, f));
      return `${f} ${st.size} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')}`;
    });

describe('replay --until and inspect: a point in time, read offline', function () {
  this.timeout(300_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  let beats: NodeJS.Timeout | undefined;
  const agents: WorkerAgent[] = [];
  /** The point: the hybrid timestamp of the snapshot that answered the reads at the middle of the scenario. */
  let T: bigint;
  /** Those reads, by request type: what the coordinator answered at T for the nouns that have no history. */
  let atT: Map<string, Reply>;
  let folder: string;
  let replayed: { lastSnapshotId: string; lastSnapshotTs: string; verified: boolean; stop: { reason: string } };

  const ok = async (type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await client.ask(type, value);
    assert.equal(r.status, 'OK', `${type} ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}: ${r.status} ${r.message}`);
    return r;
  };
  const plan = (sources: string[], sink: string): string => JSON.stringify({ sources, sink });
  /** An inspect read's reply; exit code 2, as for a request, when it is not OK (NOT_FOUND). */
  const inspect = async (args: readonly string[]): Promise<JsonReply> => {
    const r = await coordctl(['inspect', folder, ...args, '--json']);
    assert.ok(r.code === 0 || r.code === 2, `coordctl inspect ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    const reply = JSON.parse(r.stdout) as JsonReply;
    assert.equal(r.code, reply.status === 'OK' ? 0 : 2, 'the exit code follows the status');
    return reply;
  };

  /**
   * Reads sent in one produce request land in one pass, so they see one snapshot: the point T.
   * Retried in the rare case the pass was cut between them.
   */
  const readsInOnePass = async (requests: readonly { type: string; value: Record<string, unknown> }[]): Promise<Map<string, Reply>> => {
    const repliesTopic = d.config.replyTopic;
    for (let attempt = 0; attempt < 5; attempt++) {
      const sent = requests.map((r) => ({ ...r, opts: { correlationId: randomUUID() } }));
      await client.sendMany(sent);
      const ids = new Set(sent.map((s) => s.opts.correlationId));
      const read = await readTopic(d.parts.kafka, repliesTopic, (all) => [...ids].every((id) => all.some((m) => header(m.message, 'correlation-id') === id)), 30_000);
      const replies = new Map<string, Reply>();
      for (const m of read) {
        const id = header(m.message, 'correlation-id');
        const s = sent.find((x) => x.opts.correlationId === id);
        if (s !== undefined && m.message.value !== null) replies.set(s.type, await decodeReply(d.parts.codec, m.message.value));
      }
      assert.equal(replies.size, requests.length, 'every read was answered');
      if (new Set([...replies.values()].map((r) => r.snapshotId)).size === 1) return replies;
    }
    throw new Error('the reads never landed in one pass in 5 attempts');
  };

  before(async () => {
    d = await deployment(testStack(), 'audits');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'audits', env: { COORD_TICK_INTERVAL_MS: '200' } });
    await coordinator.start();
    client = await d.client();
    for (const workerId of ['w1', 'w2']) {
      const agent = createWorkerAgent({
        client,
        commands: { kafka: d.parts.kafka, codec: d.parts.codec, topicPrefix: d.config.topicPrefix },
        log: testLog(),
        workerId,
        slots: 3,
        heartbeatMs: 200,
        deployMs: 20,
      });
      await agent.start();
      agents.push(agent);
    }
    await client.send('coord.v1.SessionOpened', { sessionId: 's1', client: 'audit' }, { key: 's1' });
    beats = setInterval(() => void client.send('coord.v1.SessionHeartbeat', { sessionId: 's1' }, { key: 's1' }).catch(() => undefined), 200);
    await waitFor('two ACTIVE workers', async () => {
      const r = await client.ask('coord.v1.ListWorkers', { includeGone: false });
      return (r.payload?.value as { workers: { state: string }[] }).workers.filter((w) => w.state === 'ACTIVE').length === 2;
    });

    // Before the point: a catalog, a running query, a session's query, a read hold, ids handed out.
    await ok('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }, { name: 'speed', type: 'FLOAT64' }] });
    await ok('coord.v1.CreateLogicalSource', { name: 'trucks', fields: [{ name: 'id', type: 'INT64' }] });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-a', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: { port: '9000' } });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-b', logicalSource: 'cars', workerId: 'w2', connectorType: 'tcp', options: { port: '9001' } });
    await ok('coord.v1.CreatePhysicalSource', { name: 'trucks-a', logicalSource: 'trucks', workerId: 'w1', connectorType: 'kafka', options: { topic: 'trucks' } });
    await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
    await ok('coord.v1.CreateSink', { name: 'archive', type: 'kafka', options: { topic: 'archive' } });
    await ok('coord.v1.CreateQuery', { name: 'q1', plan: plan(['cars'], 'out'), session: null, temporary: false });
    await ok('coord.v1.StartQuery', { name: 'q1' });
    await ok('coord.v1.CreateQuery', { name: 'q2', plan: plan(['trucks'], 'archive'), session: { string: 's1' }, temporary: false });
    await ok('coord.v1.AcquireReadHold', { name: 'audit', asOfTs: null, leaseMs: 600_000n });
    await ok('coord.v1.AllocIds', { count: 10 });

    atT = await readsInOnePass([
      { type: 'coord.v1.ListWorkers', value: { includeGone: true } },
      { type: 'coord.v1.ListReadHolds', value: {} },
      { type: 'coord.v1.DescribeCoordinator', value: {} },
    ]);
    T = (atT.get('coord.v1.DescribeCoordinator') as Reply).snapshotTs;

    // After the point, every noun moves on.
    await ok('coord.v1.StopQuery', { name: 'q1' });
    await waitFor('q1 STOPPED', async () => ((await ok('coord.v1.GetQuery', { name: 'q1', asOfTs: null })).payload?.value as { state: string }).state === 'STOPPED');
    await ok('coord.v1.DropQuery', { name: 'q2' });
    await ok('coord.v1.DropSink', { name: 'archive', cascade: false });
    await ok('coord.v1.CreateLogicalSource', { name: 'bikes', fields: [{ name: 'id', type: 'INT64' }] });
    await ok('coord.v1.DropPhysicalSource', { name: 'trucks-a', cascade: false });
    await ok('coord.v1.CreateQuery', { name: 'q3', plan: plan(['cars'], 'out'), session: null, temporary: false });
    await ok('coord.v1.ReleaseReadHold', { name: 'audit' });
    await ok('coord.v1.AllocIds', { count: 5 });

    folder = join(testStack().dir, 'audits-until');
    replayed = await coordctlJson(['replay', '--to', folder, '--until', T.toString(), '--verify'], d.config.topicPrefix);
  });

  after(async () => {
    clearInterval(beats);
    for (const a of agents) await a.die();
    await d?.close();
    await coordinator?.stop();
  });

  it('stops at the snapshot of the point, verified, and the folder says where and why', async () => {
    const pointSnapshot = (atT.get('coord.v1.DescribeCoordinator') as Reply).snapshotId;
    assert.equal(replayed.verified, true);
    assert.equal(replayed.lastSnapshotId, pointSnapshot.toString());
    const described = await coordctlJson<Record<string, unknown>>(['inspect', folder, 'describe']);
    const marker = (await readMarkers(d.parts.kafka, d.parts.codec, topicName(d.config.topicPrefix, 'snapshots'))).find((m) => m.snapshotId === pointSnapshot);
    assert.ok(marker !== undefined);
    assert.equal(described.snapshotId, pointSnapshot.toString());
    assert.equal(described.snapshotTs, T.toString());
    assert.equal(described.digest, marker.digest, 'the digest the log recorded for that snapshot');
    assert.equal(described.digestMatches, true);
    assert.deepEqual(described.logicVersion, { version: LOGIC_VERSION, source: 'snapshot' }, 'the version that folded the last snapshot, as the folder records it');
    const replay = described.replay as { reason: string; target: unknown; snapshotId: string; next: { snapshotId: string }; verified: boolean };
    assert.equal(replay.reason, 'until');
    assert.deepEqual(replay.target, { kind: 'ts', ts: T.toString() });
    assert.equal(replay.next.snapshotId, (pointSnapshot + 1n).toString(), 'the log goes on past the point');
    const inputs = described.inputs as { topic: string; partition: number; nextOffset: string; folded: { fromOffset: string; toOffset: string } | null }[];
    for (const r of marker.inputs) {
      const p = inputs.find((i) => i.topic === r.topic && i.partition === r.partition);
      assert.deepEqual(p?.folded, { fromOffset: r.fromOffset.toString(), toOffset: r.toOffset.toString() });
      assert.equal(p?.nextOffset, (r.toOffset + 1n).toString());
    }
  });

  it('says in words where it stopped, and why there', async () => {
    const pointSnapshot = (atT.get('coord.v1.DescribeCoordinator') as Reply).snapshotId;
    const r = await coordctl(['replay', '--to', join(testStack().dir, 'audits-until-text'), '--until', T.toString()], d.config.topicPrefix);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`stopped at snapshot ${pointSnapshot} \\(hybrid timestamp ${T}, log time [^)]+\\), the last at or before hybrid timestamp ${T}; the next, snapshot ${pointSnapshot + 1n} at \\d+, lies past it`));
    const described = await coordctl(['inspect', join(testStack().dir, 'audits-until-text'), 'describe']);
    assert.match(described.stdout, new RegExp(`^replay +stopped at snapshot ${pointSnapshot} `, 'm'));
    assert.match(described.stdout, /not verified \(replayed without --verify\)/);
  });

  it('refuses a point before the first snapshot, and leaves no folder behind', async () => {
    const to = join(testStack().dir, 'audits-too-early');
    const r = await coordctl(['replay', '--to', to, '--until', '2001-01-01T00:00:00Z'], d.config.topicPrefix);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the log holds no snapshot at or before hybrid timestamp \d+: its first is snapshot 1 at hybrid timestamp \d+/);
    assert.equal(existsSync(to), false);
  });

  const asOfT = async (type: string, value: Record<string, unknown>): Promise<JsonReply> => asJson(await client.ask(type, { ...value, asOfTs: { long: T } }));

  it('answers logical-source get and list as the live coordinator reads them asOf the point', async () => {
    assert.deepEqual(seen(await inspect(['logical-source', 'list'])), seen(await asOfT('coord.v1.ListLogicalSources', {})));
    for (const name of ['cars', 'trucks', 'bikes'])
      assert.deepEqual(seen(await inspect(['logical-source', 'get', name])), seen(await asOfT('coord.v1.GetLogicalSource', { name })), name);
  });

  it('answers physical-source get and list as the live coordinator reads them asOf the point', async () => {
    assert.deepEqual(seen(await inspect(['physical-source', 'list'])), seen(await asOfT('coord.v1.ListPhysicalSources', { logicalSource: null })));
    assert.deepEqual(
      seen(await inspect(['physical-source', 'list', '--logical-source', 'cars'])),
      seen(await asOfT('coord.v1.ListPhysicalSources', { logicalSource: { string: 'cars' } })),
    );
    for (const name of ['cars-a', 'cars-b', 'trucks-a'])
      assert.deepEqual(seen(await inspect(['physical-source', 'get', name])), seen(await asOfT('coord.v1.GetPhysicalSource', { name })), name);
  });

  it('answers sink get and list as the live coordinator reads them asOf the point', async () => {
    assert.deepEqual(seen(await inspect(['sink', 'list'])), seen(await asOfT('coord.v1.ListSinks', {})));
    for (const name of ['out', 'archive']) assert.deepEqual(seen(await inspect(['sink', 'get', name])), seen(await asOfT('coord.v1.GetSink', { name })), name);
  });

  it('answers query get and list as the live coordinator reads them asOf the point', async () => {
    const list = await inspect(['query', 'list']);
    assert.deepEqual(seen(list), seen(await asOfT('coord.v1.ListQueries', { session: null })));
    assert.deepEqual((list.payload?.value as { queries: { name: string; state: string }[] }).queries.map((q) => [q.name, q.state]), [['q1', 'RUNNING'], ['q2', 'CREATED']]);
    assert.deepEqual(seen(await inspect(['query', 'list', '--session', 's1'])), seen(await asOfT('coord.v1.ListQueries', { session: { string: 's1' } })));
    for (const name of ['q1', 'q2', 'q3']) assert.deepEqual(seen(await inspect(['query', 'get', name])), seen(await asOfT('coord.v1.GetQuery', { name })), name);
  });

  // Workers, holds and the coordinator's description keep no history: the point's own answers are the reference.
  it('answers workers list as the coordinator did at the point', async () => {
    const all = await inspect(['workers', 'list', '--all']);
    assert.deepEqual(anyId(all), anyId(asJson(atT.get('coord.v1.ListWorkers') as Reply)), 'the same reply, snapshot id and timestamp included');
    assert.equal((all.payload?.value as { workers: unknown[] }).workers.length, 2);
  });

  it('answers hold list as the coordinator did at the point', async () => {
    const holds = await inspect(['hold', 'list']);
    assert.deepEqual(anyId(holds), anyId(asJson(atT.get('coord.v1.ListReadHolds') as Reply)));
    assert.deepEqual((holds.payload?.value as { holds: { name: string }[] }).holds.map((h) => h.name), ['audit']);
  });

  it('describes the coordinator as it described itself at the point', async () => {
    const described = await coordctlJson<{ coordinator: unknown }>(['inspect', folder, 'describe']);
    assert.deepEqual(described.coordinator, asJson(atT.get('coord.v1.DescribeCoordinator') as Reply).payload?.value);
  });

  it('prints the same tables as the request commands', async () => {
    const offline = await coordctl(['inspect', folder, 'query', 'list']);
    const live = await coordctl(['query', 'list', '--as-of', T.toString()], d.config.topicPrefix);
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(live.code, 0, live.stderr);
    const [offlineHead, ...offlineTable] = offline.stdout.split('\n');
    const [liveHead, ...liveTable] = live.stdout.split('\n');
    assert.equal(offlineTable.join('\n'), liveTable.join('\n'));
    assert.equal(offlineHead.replace(/\(snapshot \d+\)/, ''), liveHead.replace(/\(snapshot \d+\)/, ''), 'the status line, but for the snapshot that answered');
    assert.match(offline.stdout, /q1 +RUNNING/);
  });

  it('opens the folder read-only and never changes a byte of it', async () => {
    const before = fingerprint(folder);
    for (const args of [['describe'], ['query', 'list'], ['workers', 'list'], ['diff', folder]]) assert.equal((await coordctl(['inspect', folder, ...args])).code, 0, args.join(' '));
    assert.deepEqual(fingerprint(folder), before);
    const refused = await coordctl(['inspect', folder, 'query', 'drop', 'q1']);
    assert.equal(refused.code, 64, 'a command that would change the state is refused');
    assert.match(refused.stderr, /inspect only reads/);
  });
});

describe('inspect diff: what changed between two points', function () {
  this.timeout(300_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;

  const ok = async (type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await client.ask(type, value);
    assert.equal(r.status, 'OK', `${type} ${JSON.stringify(value)}: ${r.status} ${r.message}`);
    return r;
  };
  const source = (name: string) => ok('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'id', type: 'INT64' }] });

  before(async () => {
    // No workers and no sessions: nothing changes between two points but what the requests change.
    d = await deployment(testStack(), 'audit-diff');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'audit-diff', env: { COORD_TICK_INTERVAL_MS: '200' } });
    await coordinator.start();
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  it('names exactly the entities that changed between the two points, and no others', async () => {
    // The active instance proposes its initial settings soon after it starts: in force before the first point, not between the two.
    await waitFor('the initial settings on the log', async () => (await client.ask('coord.v1.GetSettings', {})).message.includes('revision 1'), 60_000);
    await source('cars');
    await source('bikes');
    await source('kept');
    await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
    const a = (await ok('coord.v1.AllocIds', { count: 3 })).snapshotTs;

    await ok('coord.v1.CreateSink', { name: 'archive', type: 'print', options: {} });
    await ok('coord.v1.DropLogicalSource', { name: 'bikes', cascade: false });
    await source('passing'); // created and dropped between the points: no difference
    await ok('coord.v1.DropLogicalSource', { name: 'passing', cascade: false });
    await ok('coord.v1.DropLogicalSource', { name: 'kept', cascade: false }); // dropped and created again the same
    await source('kept');
    await ok('coord.v1.CreateQuery', { name: 'q1', plan: JSON.stringify({ sources: ['cars'], sink: 'out' }), session: null, temporary: false });
    const b = (await ok('coord.v1.AllocIds', { count: 2 })).snapshotTs;

    await source('later'); // past the second point
    const dirA = join(testStack().dir, 'audit-diff-a');
    const dirB = join(testStack().dir, 'audit-diff-b');
    await coordctlJson(['replay', '--to', dirA, '--until', a.toString()], d.config.topicPrefix);
    await coordctlJson(['replay', '--to', dirB, '--until', b.toString()], d.config.topicPrefix);

    const diff = await coordctlJson<{ from: { snapshotTs: string }; to: { snapshotTs: string }; differences: { entity: string; key: string; change: string; fields: string[] }[] }>([
      'inspect',
      dirA,
      'diff',
      dirB,
    ]);
    assert.equal(diff.from.snapshotTs, a.toString());
    assert.equal(diff.to.snapshotTs, b.toString());
    assert.deepEqual(
      diff.differences.map((x) => [x.entity, x.key, x.change, x.fields]),
      [
        ['logical-source', 'bikes', 'removed', []],
        // Its image carries when it was created, so the second `kept` differs from the first.
        ['logical-source', 'kept', 'changed', ['createdAtTs']],
        ['oracle', 'ids', 'changed', ['next']],
        ['query', 'q1', 'added', []],
        ['sink', 'archive', 'added', []],
      ],
    );
  });
});
