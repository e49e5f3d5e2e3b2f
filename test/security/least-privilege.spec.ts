import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, type AclEntry, type Admin } from 'kafkajs';
import { createClient, type Client, type Reply } from '../../src/client/client';
import { makeConfig, type Config } from '../../src/config';
import { signingRoles, SUPER_USER, type SecureBroker } from '../../src/infra/secure';
import { createLogger, type Logger } from '../../src/log';
import { planAcls, privateReplyTopic, type Role } from '../../src/messaging/acl';
import { createKafka } from '../../src/messaging/kafka';
import { registerSigningKeys } from '../../src/messaging/keys';
import { provision } from '../../src/messaging/provision';
import { INPUT_KINDS, topicName } from '../../src/messaging/topics';
import { createParts, type Parts } from '../../src/runtime';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { testLog } from '../support/deployment';
import { asAdmin, asRole, connectionEnv, RUN_PRINCIPAL } from '../support/secure';
import { testStack } from '../support/stack';
import { errorTypes } from '../support/kafka-errors';
import { waitFor } from '../support/wait';

interface Fragment {
  readonly fragmentId: string;
  readonly workerId: string;
  readonly status: string;
}
interface Query {
  readonly state: string;
  /** Unions: `{ string: … }`, or null. */
  readonly owner: { readonly string: string } | null;
  readonly session: { readonly string: string } | null;
  readonly fragments: readonly Fragment[];
}
interface Worker {
  readonly workerId: string;
  readonly state: string;
  readonly lastHeartbeatMs: bigint;
}

/** Kafka's own words for a refusal by the authorizer (TOPIC_/GROUP_/TRANSACTIONAL_ID_/CLUSTER_AUTHORIZATION_FAILED, "Not authorized to …"). */
const AUTHORIZATION = /authori[sz]/i;

/** The name of a kafkajs enum's value (its enums are plain objects, without TypeScript's reverse mapping). */
const nameOf = (values: object, value: number): string => Object.entries(values).find(([, v]) => v === value)?.[0] ?? `?${value}`;

/** One ACL as a comparable key, the way the broker describes it. */
const aclKey = (e: AclEntry): string =>
  [
    nameOf(AclResourceTypes, e.resourceType),
    nameOf(ResourcePatternTypes, e.resourcePatternType),
    e.resourceName,
    e.principal,
    e.host,
    nameOf(AclOperationTypes, e.operation),
    nameOf(AclPermissionTypes, e.permissionType),
  ].join(' ');

const ANY_FOR = (principal: string) => ({
  resourceType: AclResourceTypes.ANY,
  resourcePatternType: ResourcePatternTypes.ANY,
  operation: AclOperationTypes.ANY,
  permissionType: AclPermissionTypes.ANY,
  principal: `User:${principal}`,
});

/** Every ACL the broker holds for `principal`. */
const aclsOf = async (admin: Admin, principal: string): Promise<AclEntry[]> =>
  (await admin.describeAcls(ANY_FOR(principal))).resources.flatMap((r) =>
    r.acls.map((a) => ({ resourceType: r.resourceType, resourceName: r.resourceName, resourcePatternType: r.resourcePatternType, ...a })),
  );

/** A log that keeps its lines, so a test can say what a client was told (kafkajs's refusals included). */
const recordingLog = (lines: string[]): Logger => createLogger('warn', { component: 'test' }, (line) => void lines.push(line));

/** Polls /readyz until stopped; every answer is kept. */
const readySampler = (c: CoordinatorProcess, everyMs = 250): { readonly answers: number[]; stop(): Promise<void> } => {
  const answers: number[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      answers.push(await c.readyz());
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    answers,
    stop: async () => {
      on = false;
      await loop;
    },
  };
};

/**
 * A real deployment on nothing but `coordctl acl plan`'s ACLs: a fresh prefix outside the test
 * family, the ACLs `asRole` (as `coordctl acl apply --role R`) puts in place for the coordinator,
 * a frontend and a worker, each connecting (SCRAM) and signing as its own principal, with the
 * keys registered under the roles `make infra` gives them. The run's own wide grant (the
 * principal `coordinator` over the whole `t…` family) is set aside for the suite and put back
 * after, so the coordinator process has its planned ACLs and nothing else.
 */
describe('least privilege: the ACLs `coordctl acl plan` gives the coordinator, worker and frontend roles are enough for a real deployment', function () {
  this.timeout(300_000);
  const prefix = `lp${process.pid}x${Date.now().toString(36)}-least-privilege`;
  const groupId = `${prefix}-coordinator`;
  const env = {
    COORD_TICK_INTERVAL_MS: '200',
    COORD_SESSION_TIMEOUT_MS: '6000',
    // A checkpoint every 2 s, so the checkpoint producer and its topic are part of what is shown.
    COORD_CHECKPOINT_INTERVAL_MS: '2000',
    // The coordinator's own debug lines are few (its role's moves, a refused offset commit for monitoring, which must show too).
    COORD_LOG_LEVEL: 'debug',
  };
  let secure: SecureBroker;
  let base: Config;
  let superUser: Admin;
  let adminParts: Parts;
  /** The run principal's ACLs as they were, put back after the suite; undefined until they are set aside. */
  let saved: AclEntry[] | undefined;
  let coordinatorConfig: Config;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let sampleA: ReturnType<typeof readySampler> | undefined;
  let sampleB: ReturnType<typeof readySampler> | undefined;
  let frontend: Client;
  let workerClient: Client;
  let agent: WorkerAgent;
  let sessionBeats: NodeJS.Timeout | undefined;
  const clients: Client[] = [];
  const clientLines: string[] = [];

  const connectedAs = async (role: Role): Promise<{ config: Config; parts: Parts; client: Client }> => {
    // As `coordctl acl apply --role ROLE` does: the role's planned ACLs and its private reply topic; nothing else.
    const config = makeConfig({ ...(await asRole(secure, base, role)), replyTopic: privateReplyTopic(prefix, role) });
    assert.equal(config.kafkaSaslUsername, role);
    const log = recordingLog(clientLines);
    const parts = createParts(config, `test-lp-${role}`, log);
    const client = createClient({ kafka: parts.kafka, codec: parts.codec, log, topicPrefix: prefix, replyTopic: config.replyTopic, askTimeoutMs: 30_000, signer: parts.signer });
    await client.start();
    clients.push(client);
    return { config, parts, client };
  };
  const ok = async (c: Client, type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await c.ask(type, value);
    assert.equal(r.status, 'OK', `${type} ${JSON.stringify(value)}: ${r.status} ${r.message}`);
    return r;
  };
  const getQuery = async (name: string): Promise<Query> => (await ok(frontend, 'coord.v1.GetQuery', { name, asOfTs: null })).payload?.value as unknown as Query;
  const workers = async (c: Client): Promise<Worker[]> => ((await ok(c, 'coord.v1.ListWorkers', { includeGone: true })).payload?.value as { workers: Worker[] }).workers;

  before(async () => {
    const s = testStack().secure;
    if (s === undefined) throw new Error('this suite needs the secured stack: run it with TEST_SECURE=1 or TEST_SECURE_REGISTRY=1 (make test-secure)');
    secure = s;
    base = makeConfig({ kafkaBrokers: testStack().brokers.split(','), schemaRegistryUrl: testStack().registryUrl, topicPrefix: prefix, groupId, ...secure.connection(SUPER_USER) });
    const adminConfig = asAdmin(secure, base);
    superUser = createKafka(adminConfig, 'test-lp-admin', testLog()).admin();
    await superUser.connect();

    // The run's wide grant goes (and comes back after): only what the plan grants may count.
    const held = await aclsOf(superUser, RUN_PRINCIPAL);
    saved = held;
    if (held.length > 0) await superUser.deleteAcls({ filters: [ANY_FOR(RUN_PRINCIPAL)] });

    // As an admin deploys it: `coordctl provision` (topics, schemas), then every principal's key under its own roles.
    adminParts = createParts(adminConfig, 'test-lp-provision', testLog());
    for (let attempt = 1; ; attempt++) {
      try {
        await provision({ config: adminConfig, codec: adminParts.codec, log: testLog() });
        break;
      } catch (err) {
        if (attempt >= 4 || (err as { code?: string }).code !== 'SCHEMA_REGISTRY') throw err;
        await new Promise((r) => setTimeout(r, 2_000 * attempt));
      }
    }
    await registerSigningKeys(
      { kafka: adminParts.kafka, codec: adminParts.codec, topicPrefix: prefix, signer: adminParts.signer },
      [...secure.signingKeys].map(([principal, k]) => ({ keyId: k.keyId, principal, roles: signingRoles(principal), publicKey: k.publicKey })),
    );
    a = await coordinatorProcess(testStack(), { prefix, name: 'least-privilege-a', env });
    b = await coordinatorProcess(testStack(), { prefix, name: 'least-privilege-b', env });
  });

  after(async () => {
    clearInterval(sessionBeats);
    await sampleA?.stop();
    await sampleB?.stop();
    await agent?.die();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await a?.stop();
    await b?.stop();
    if (saved !== undefined) {
      // Exactly as it was: the plan's ACLs for this prefix go, the run's grant comes back.
      const back = saved;
      await superUser.deleteAcls({ filters: [ANY_FOR(RUN_PRINCIPAL)] });
      if (back.length > 0) await superUser.createAcls({ acl: back });
      await waitFor("the run principal's ACLs back", async () => (await aclsOf(superUser, RUN_PRINCIPAL)).length === back.length, 30_000, 200);
    }
    await superUser?.disconnect().catch(() => undefined);
  });

  it('gives the coordinator principal nothing on the deployment but its planned ACLs', async () => {
    // Without its ACLs, the principal may not even describe the deployment's topics: no other grant reaches them.
    const bare = createKafka(makeConfig({ ...base, ...secure.connection('coordinator') }), 'test-lp-bare', createLogger('error', {}, () => undefined)).admin({ retry: { retries: 0 } });
    await bare.connect();
    try {
      let seen: unknown;
      await waitFor('the coordinator principal to be refused its topics', async () => {
        seen = await bare.fetchTopicOffsets(topicName(prefix, 'requests.catalog')).then(
          () => undefined,
          (e: unknown) => e,
        );
        return seen !== undefined && errorTypes(seen).includes('TOPIC_AUTHORIZATION_FAILED');
      }, 15_000, 250);
    } finally {
      await bare.disconnect().catch(() => undefined);
    }

    coordinatorConfig = await asRole(secure, base, 'coordinator');
    assert.equal(coordinatorConfig.kafkaSaslUsername, 'coordinator');
    const planned = planAcls({ topicPrefix: prefix, groupId }, { roles: ['coordinator'] }).map((p) =>
      aclKey({
        resourceType: AclResourceTypes[p.resource],
        resourcePatternType: ResourcePatternTypes[p.pattern],
        resourceName: p.name,
        principal: `User:${p.principal}`,
        host: '*',
        operation: AclOperationTypes[p.operation],
        permissionType: AclPermissionTypes.ALLOW,
      }),
    );
    let held: string[] = [];
    await waitFor('the planned ACLs in place', async () => {
      held = (await aclsOf(superUser, 'coordinator')).map(aclKey);
      return held.length === planned.length;
    }, 15_000, 200);
    assert.deepEqual(new Set(held), new Set(planned));
    // Nor does any ACL for every principal (`User:*`) stand beside the plan.
    assert.deepEqual((await aclsOf(superUser, '*')).map(aclKey), []);
  });

  it('runs the coordinator as principal coordinator on those ACLs alone: it registers its schemas, becomes active and ready, and requires signatures', async () => {
    const own = connectionEnv(coordinatorConfig);
    assert.equal(own.KAFKA_SASL_USERNAME, 'coordinator');
    assert.equal(own.COORD_SIGNING_KEY_ID, secure.signingKeys.get('coordinator')?.keyId);
    assert.deepEqual(signingRoles('coordinator'), ['coordinator'], 'its key has the coordinator role only, as `make infra` registers it');
    Object.assign(env, own, { COORD_REQUIRE_SIGNATURES: 'true' });
    const started = Date.now();
    await a.start(env);
    console.log(`      the coordinator was ready ${Date.now() - started} ms after its start`);
    sampleA = readySampler(a);
    const status = await a.status();
    assert.equal(status?.role, 'active');
    assert.deepEqual(status?.problems, []);

    ({ client: frontend } = await connectedAs('frontend'));
    // Its initial settings, signed by its key, come after the keys on the log.
    await waitFor('signatures required on the log', async () => {
      const r = await frontend.ask('coord.v1.GetSettings', {});
      return (r.payload?.value as { after: Record<string, bigint> } | undefined)?.after.signaturesRequired === 1n;
    }, 60_000, 250);
  });

  it('answers a frontend (its own principal, its own reply topic): create and get of a logical source', async () => {
    await ok(frontend, 'coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }] });
    const got = await ok(frontend, 'coord.v1.GetLogicalSource', { name: 'cars', asOfTs: null });
    assert.equal((got.payload?.value as { name?: string }).name, 'cars');
  });

  it('lets a worker (its own principal and ACLs) register, heartbeat and ask a system request on its own reply topic', async () => {
    const w = await connectedAs('worker');
    workerClient = w.client;
    agent = createWorkerAgent({
      client: workerClient,
      // Its commands read with its own connection: principal `worker`, group `<prefix>.worker.…`.
      commands: { kafka: w.parts.kafka, codec: w.parts.codec, topicPrefix: prefix },
      log: recordingLog(clientLines),
      workerId: 'w-lp',
      slots: 2,
      heartbeatMs: 250,
    });
    await agent.start();
    let first: Worker | undefined;
    await waitFor('the worker ACTIVE', async () => {
      first = (await workers(workerClient)).find((x) => x.workerId === 'w-lp');
      return first?.state === 'ACTIVE';
    }, 30_000, 250);
    assert.ok(first !== undefined);
    await waitFor('a later heartbeat on the log', async () => {
      const now = (await workers(workerClient)).find((x) => x.workerId === 'w-lp');
      return now !== undefined && now.state === 'ACTIVE' && now.lastHeartbeatMs > (first as Worker).lastHeartbeatMs;
    }, 30_000, 250);
  });

  it("starts a frontend's query on the worker: the worker reads its DeployFragment and reports RUNNING, and the query is RUNNING", async () => {
    await ok(frontend, 'coord.v1.CreatePhysicalSource', { name: 'cars-lp', logicalSource: 'cars', workerId: 'w-lp', connectorType: 'tcp', options: {} });
    await ok(frontend, 'coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
    // In a session of its own (events.session), kept alive by its heartbeats: the coordinator refuses a query in a session it has not folded.
    await frontend.send('coord.v1.SessionOpened', { sessionId: 's-lp', client: 'least-privilege' }, { key: 's-lp' });
    sessionBeats = setInterval(() => void frontend.send('coord.v1.SessionHeartbeat', { sessionId: 's-lp' }, { key: 's-lp' }).catch(() => undefined), 1_000);
    await ok(frontend, 'coord.v1.CreateQuery', { name: 'q1', plan: JSON.stringify({ sources: ['cars'], sink: 'out', operators: [] }), session: { string: 's-lp' }, temporary: false });
    await ok(frontend, 'coord.v1.StartQuery', { name: 'q1' });
    let q: Query | undefined;
    await waitFor('query q1 RUNNING', async () => {
      q = await getQuery('q1');
      return q.state === 'RUNNING';
    }, 60_000, 250);
    assert.ok(q !== undefined);
    assert.equal(q.owner?.string, 'frontend', 'the query belongs to the verified principal that made it');
    assert.deepEqual(q.session, { string: 's-lp' });
    assert.ok(q.fragments.length > 0);
    for (const f of q.fragments) {
      assert.equal(f.workerId, 'w-lp');
      assert.equal(f.status, 'RUNNING', `fragment ${f.fragmentId}`);
      assert.ok(agent.received.some((c) => c.type === 'coord.v1.DeployFragment' && c.fragmentId === f.fragmentId), `the worker read DeployFragment ${f.fragmentId}`);
      assert.ok(agent.fragments.has(f.fragmentId));
    }
  });

  it('writes checkpoints and commits its offsets for monitoring, on the same ACLs', async () => {
    await waitFor('a checkpoint written', async () => {
      const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
      return Number(/^coord_checkpoint_snapshot_id (\S+)$/m.exec(metrics)?.[1] ?? 0) > 0;
    }, 60_000, 500);
    const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
    assert.equal(Number(/^coord_checkpoint_failures_total (\S+)$/m.exec(metrics)?.[1] ?? NaN), 0, 'no checkpoint failed');
    const [cp] = await superUser.fetchTopicOffsets(topicName(prefix, 'checkpoints'));
    assert.ok(BigInt(cp.high) > 0n, 'records on the checkpoints topic');
    const inputs = INPUT_KINDS.map((k) => topicName(prefix, k));
    let seen = '';
    await waitFor('committed offsets on every input topic', async () => {
      const offsets = await superUser.fetchOffsets({ groupId, topics: inputs });
      seen = JSON.stringify(offsets);
      return offsets.length === inputs.length && offsets.every((t) => t.partitions.every((p) => BigInt(p.offset) >= 0n));
    }, 30_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}: ${seen}`);
    });
  });

  it('keeps a standby following as the same principal, which takes over after kill -9 of the active one and serves the frontend and the worker', async () => {
    // A standby's rebalance is no failure of the first: its samples end here.
    await sampleA?.stop();
    void b.start(env).catch(() => undefined); // never ready while it stands by
    let standby: Awaited<ReturnType<CoordinatorProcess['status']>>;
    await waitFor('the second instance to stand by and follow', async () => {
      standby = await b.status();
      return standby?.role === 'standby' && standby.following.state === 'following';
    }, 120_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}; it says ${JSON.stringify({ role: standby?.role, following: standby?.following, problems: standby?.problems })}`);
    });
    await waitFor('the first instance active after the rebalance', async () => (await a.status())?.role === 'active', 60_000, 250);
    await ok(frontend, 'coord.v1.CreateLogicalSource', { name: 'while-followed', fields: [{ name: 'id', type: 'INT64' }] });
    const active = await a.status();
    assert.ok(active !== undefined);
    // Ticks move the active one on every 200 ms: the standby passes its snapshot of now, folding each as published.
    await waitFor("the standby past the active one's snapshot", async () => BigInt((await b.status())?.snapshotId ?? -1) >= BigInt(active.snapshotId), 60_000, 250);
    assert.equal((await b.status())?.role, 'standby');

    // Its folder was empty: it started from the checkpoint the first one wrote (read under a `coord-replay-` group).
    assert.match(readFileSync(b.logFile, 'utf8'), /restored the state from a checkpoint/);
    await a.kill();
    await waitFor('the standby to become active and ready', async () => (await b.readyz()) === 200, 120_000, 250);
    sampleB = readySampler(b);
    assert.equal((await getQuery('q1')).state, 'RUNNING');
    await ok(frontend, 'coord.v1.GetLogicalSource', { name: 'while-followed', asOfTs: null });
    const beat = (await workers(workerClient)).find((x) => x.workerId === 'w-lp');
    assert.equal(beat?.state, 'ACTIVE');
    await waitFor('a heartbeat folded by the new active instance', async () => {
      const now = (await workers(workerClient)).find((x) => x.workerId === 'w-lp');
      return now !== undefined && now.lastHeartbeatMs > (beat as Worker).lastHeartbeatMs;
    }, 30_000, 250);

    // Its worker commands go out under the same transactional id, fencing the dead one: the worker reads them and reports STOPPED.
    await ok(frontend, 'coord.v1.StopQuery', { name: 'q1' });
    await waitFor('query q1 STOPPED', async () => (await getQuery('q1')).state === 'STOPPED', 60_000, 250);
    assert.ok(agent.received.some((c) => c.type === 'coord.v1.StopFragment'), 'the worker read StopFragment');
    assert.equal(agent.fragments.size, 0);
  });

  it('stayed ready, refused no record of the three roles, and logged no authorization error', async () => {
    await sampleB?.stop();
    for (const [name, s] of [['first', sampleA], ['second', sampleB]] as const) {
      assert.ok(s !== undefined && s.answers.length > 0, `${name} instance sampled`);
      // 0: no answer within the probe's 2 s (a busy machine), not an answer of not ready; a few are let pass, never many.
      const notReady = s.answers.filter((x) => x !== 200 && x !== 0);
      const unanswered = s.answers.filter((x) => x === 0).length;
      assert.equal(notReady.length, 0, `the ${name} instance's /readyz answered ${notReady.join(', ')} in ${s.answers.length} samples`);
      assert.ok(unanswered * 10 <= s.answers.length, `the ${name} instance's /readyz left ${unanswered} of ${s.answers.length} probes unanswered`);
    }
    const status = await b.status();
    assert.deepEqual(status?.problems, []);
    for (const code of ['SIGNATURE_REFUSED', 'PERMISSION_DENIED']) assert.equal(status?.refusals.dlq[code] ?? 0, 0, `${code} DLQ records`);
    for (const c of [a, b]) {
      const log = readFileSync(c.logFile, 'utf8');
      assert.match(log, /coordinator joined its group/, `${c.logFile} is the coordinator's log`);
      const refused = log.split('\n').filter((l) => AUTHORIZATION.test(l));
      assert.deepEqual(refused, [], `authorization errors in ${c.logFile}`);
    }
    const clientRefusals = clientLines.filter((l) => AUTHORIZATION.test(l));
    assert.deepEqual(clientRefusals, [], 'authorization errors in the frontend and worker clients');
  });
});
