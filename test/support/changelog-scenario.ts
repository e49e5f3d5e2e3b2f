/**
 * A short life of a deployment for the changelog's tests: sources, sinks and queries created,
 * updated (started, stopped) and dropped with cascade, and workers that die. It ends quiet
 * (every worker DEAD, nothing left to change), so the coordinator's List answers and the
 * changelog's tables describe one and the same snapshot.
 */
import { strict as assert } from 'node:assert';
import type { Client, Reply } from '../../src/client/client';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordinatorProcess, type CoordinatorProcess } from './coordinator-process';
import { deployment, testLog, type Deployment } from './deployment';
import { testStack } from './stack';
import { waitFor } from './wait';

export interface ScenarioRun {
  readonly d: Deployment;
  readonly coordinator: CoordinatorProcess;
  readonly client: Client;
  readonly agents: WorkerAgent[];
  ok(type: string, value: Record<string, unknown>): Promise<Reply>;
  close(): Promise<void>;
}

/** A deployment with its coordinator (fast liveness: DEAD after 2 s of silence) and three workers that follow their commands. */
export const startDeployment = async (name: string): Promise<ScenarioRun> => {
  const d = await deployment(testStack(), name);
  const coordinator = await coordinatorProcess(testStack(), {
    prefix: d.config.topicPrefix,
    name,
    env: { COORD_TICK_INTERVAL_MS: '200', COORD_WORKER_SUSPECT_MS: '1000', COORD_WORKER_TIMEOUT_MS: '2000' },
  });
  await coordinator.start();
  const client = await d.client();
  const agents = ['w1', 'w2', 'w3'].map((workerId) =>
    createWorkerAgent({ client, log: testLog(), workerId, slots: 4, heartbeatMs: 200, commands: { kafka: d.parts.kafka, codec: d.parts.codec, topicPrefix: d.config.topicPrefix } }),
  );
  for (const a of agents) await a.start();
  const ok = async (type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await client.ask(type, value);
    assert.equal(r.status, 'OK', `${type} ${JSON.stringify(value, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))}: ${r.status} ${r.message}`);
    return r;
  };
  return {
    d,
    coordinator,
    client,
    agents,
    ok,
    close: async () => {
      for (const a of agents) await a.die().catch(() => undefined);
      await d.close();
      await coordinator.stop();
    },
  };
};

export const workersIn = async (run: ScenarioRun): Promise<{ workerId: string; state: string }[]> =>
  ((await run.ok('coord.v1.ListWorkers', { includeGone: true })).payload?.value as { workers: { workerId: string; state: string }[] }).workers;

const queriesIn = async (run: ScenarioRun): Promise<{ name: string; state: string }[]> =>
  ((await run.ok('coord.v1.ListQueries', { session: null, asOfTs: null })).payload?.value as { queries: { name: string; state: string }[] }).queries;

/**
 * The scenario; resolves once every worker is DEAD and the queries have settled, with the
 * snapshot timestamp of a moment in its middle (every source created, nothing dropped yet).
 */
export const runScenario = async (run: ScenarioRun): Promise<{ midTs: bigint }> => {
  const { ok } = run;
  await waitFor('three workers ACTIVE', async () => (await workersIn(run)).filter((w) => w.state === 'ACTIVE').length === 3, 60_000, 200);
  const fields = (...names: string[]) => names.map((name) => ({ name, type: 'INT64' }));
  await ok('coord.v1.CreateLogicalSource', { name: 'cars', fields: fields('id', 'speed') });
  await ok('coord.v1.CreateLogicalSource', { name: 'bikes', fields: fields('id', 'gear') });
  await ok('coord.v1.CreateLogicalSource', { name: 'trucks', fields: fields('id', 'load') });
  await ok('coord.v1.CreatePhysicalSource', { name: 'cars-w1', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: { port: '7001' } });
  await ok('coord.v1.CreatePhysicalSource', { name: 'cars-w2', logicalSource: 'cars', workerId: 'w2', connectorType: 'tcp', options: { port: '7002' } });
  await ok('coord.v1.CreatePhysicalSource', { name: 'bikes-w2', logicalSource: 'bikes', workerId: 'w2', connectorType: 'csv', options: {} });
  await ok('coord.v1.CreatePhysicalSource', { name: 'trucks-w3', logicalSource: 'trucks', workerId: 'w3', connectorType: 'tcp', options: { port: '7003' } });
  await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: { format: 'json' } });
  await ok('coord.v1.CreateSink', { name: 'audit', type: 'file', options: { path: '/tmp/audit' } });
  const plan = (sources: string[], sink: string): string => JSON.stringify({ sources, sink, operators: [] });
  await ok('coord.v1.CreateQuery', { name: 'fast-cars', plan: plan(['cars'], 'out'), session: null, temporary: false });
  await ok('coord.v1.CreateQuery', { name: 'bike-audit', plan: plan(['bikes'], 'audit'), session: null, temporary: false });
  await ok('coord.v1.CreateQuery', { name: 'heavy', plan: plan(['trucks'], 'out'), session: null, temporary: false });
  await ok('coord.v1.CreateQuery', { name: 'idle', plan: plan(['cars', 'bikes'], 'out'), session: null, temporary: false });
  for (const q of ['fast-cars', 'bike-audit', 'heavy']) await ok('coord.v1.StartQuery', { name: q });
  const midTs = (await ok('coord.v1.ListLogicalSources', { asOfTs: null })).snapshotTs;
  // Updates: a query stopped, then dropped with the sink it wrote to; a source dropped with cascade.
  await ok('coord.v1.StopQuery', { name: 'bike-audit' });
  await ok('coord.v1.DropQuery', { name: 'bike-audit' });
  await ok('coord.v1.DropSink', { name: 'audit' });
  await ok('coord.v1.DropLogicalSource', { name: 'trucks', cascade: true });
  // A worker dies while a query runs on it; then the rest, so that the deployment goes quiet.
  await run.agents[1].die();
  await waitFor('w2 DEAD', async () => (await workersIn(run)).find((w) => w.workerId === 'w2')?.state === 'DEAD', 60_000, 200);
  await waitFor('fast-cars no longer RUNNING', async () => (await queriesIn(run)).find((q) => q.name === 'fast-cars')?.state !== 'RUNNING', 60_000, 200);
  await run.agents[0].die();
  await run.agents[2].die();
  await waitFor('every worker DEAD', async () => (await workersIn(run)).every((w) => w.state === 'DEAD'), 60_000, 200);
  await waitFor('queries settled', async () => (await queriesIn(run)).every((q) => ['CREATED', 'STOPPED', 'FAILED'].includes(q.state)), 60_000, 200);
  return { midTs };
};

/** Replies and images side by side: longs and numbers as text, Avro's wrapped unions unwrapped. */
export const norm = (v: unknown): unknown => {
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(norm);
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.entries(v);
  if (entries.length === 1 && /^(string|long|int|double|boolean|map|array|coord\.v1\..*)$/.test(entries[0][0])) return norm(entries[0][1]);
  return Object.fromEntries(entries.map(([k, x]) => [k, norm(x)]));
};

/** `got` cut to the shape of `want`: the fields a reply carries, in records nested at any depth. */
const shaped = (got: unknown, want: unknown): unknown => {
  if (Array.isArray(want) && Array.isArray(got)) return got.map((g, i) => shaped(g, want[i]));
  if (want !== null && typeof want === 'object' && got !== null && typeof got === 'object' && !Array.isArray(got))
    return Object.fromEntries(Object.keys(want).map((k) => [k, shaped((got as Record<string, unknown>)[k], (want as Record<string, unknown>)[k])]));
  return got;
};

/** The fields of `want` (a List item) in `got` (a table's image): what the coordinator answers, the table must hold. */
export const assertHolds = (got: Record<string, unknown> | undefined, want: Record<string, unknown>, what: string): void => {
  assert.ok(got !== undefined, `${what} is missing from the table`);
  for (const [field, value] of Object.entries(want)) {
    const w = norm(value);
    assert.deepStrictEqual(shaped(norm(got[field]), w), w, `${what}.${field}`);
  }
};

/** The coordinator's List answers, with the snapshot they were given at. */
export const listAnswers = async (run: ScenarioRun) => {
  const sources = await run.ok('coord.v1.ListLogicalSources', { asOfTs: null });
  const queries = await run.ok('coord.v1.ListQueries', { session: null, asOfTs: null });
  const workers = await run.ok('coord.v1.ListWorkers', { includeGone: true });
  return {
    snapshotId: [sources, queries, workers].reduce((m, r) => (BigInt(r.snapshotId) < m ? BigInt(r.snapshotId) : m), BigInt(sources.snapshotId)),
    logicalSources: (sources.payload?.value as { logicalSources: Record<string, unknown>[] }).logicalSources,
    queries: (queries.payload?.value as { queries: Record<string, unknown>[] }).queries,
    workers: (workers.payload?.value as { workers: Record<string, unknown>[] }).workers,
  };
};
