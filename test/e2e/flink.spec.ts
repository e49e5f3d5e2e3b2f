import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { changelogTopic } from '../../src/messaging/changelog';
import { readTableTopic, rebuildTable } from '../../src/messaging/changelog-table';
import { projectRoot } from '../../src/messaging/schemas';
import { assertHolds, listAnswers, runScenario, startDeployment, type ScenarioRun } from '../support/changelog-scenario';
import { testStack } from '../support/stack';
import { readTopic } from '../support/topics';

const ROOT = projectRoot();
/** Made by `make flink` (PyPI apache-flink in a virtualenv, the connector jars from Maven Central). */
const PYTHON = join(ROOT, '.cache/flink/venv/bin/python');
const JARS = join(ROOT, '.cache/flink/jars');
/** Flink's JVM starts, plans and runs three jobs: slow on a busy machine, never unbounded. */
const FLINK_TIMEOUT_MS = 300_000;

const TABLES = ['logical_sources', 'queries', 'workers'] as const;

/** The README's Flink SQL, run by Flink itself in local mode to the end of each topic; Flink writes its tables to `<prefix>.flink.<table>`. */
const runFlink = (prefix: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [join(ROOT, 'test/flink/read_tables.py'), testStack().brokers, testStack().registryUrl, prefix, JARS, join(ROOT, 'README.md')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Flink did not finish within ${FLINK_TIMEOUT_MS} ms\n${err.slice(-3_000)}`));
    }, FLINK_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || last !== JSON.stringify(TABLES)) reject(new Error(`Flink exited ${code}\n${out.slice(-2_000)}\n${err.slice(-4_000)}`));
      else resolve();
    });
  });

/** A table as Flink wrote it with upsert-kafka (JSON key and value, a tombstone for a removed row), rebuilt by key. */
const flinkTable = async (kafka: Kafka, topic: string): Promise<Record<string, unknown>[]> => {
  const admin = kafka.admin();
  await admin.connect();
  const [end] = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const high = BigInt(end.high);
  const read = await readTopic(kafka, topic, (all) => high === 0n || all.some((r) => BigInt(r.message.offset) >= high - 1n), 60_000);
  const rows = new Map<string, Record<string, unknown>>();
  for (const { message } of read) {
    const key = message.key?.toString() ?? '';
    if (message.value === null) rows.delete(key);
    else rows.set(key, JSON.parse(message.value.toString()) as Record<string, unknown>);
  }
  return [...rows.values()];
};

describe('Flink SQL reads the changelog as the coordinator’s tables, with no code of ours', function () {
  this.timeout(600_000);
  let run: ScenarioRun;

  before(async function () {
    if (!existsSync(PYTHON) || !existsSync(JARS)) throw new Error(`Flink is not set up: run 'make flink' (needs ${PYTHON} and ${JARS})`);
    run = await startDeployment('flink');
  });

  after(async () => {
    await run?.close();
  });

  it('ends with the logical sources, queries and workers the coordinator lists at the same snapshot, after creates, updates, drops with cascade and dead workers', async () => {
    await runScenario(run);
    const answers = await listAnswers(run);
    // The List answers describe the tables' final state: no table changed after their snapshot.
    for (const entity of ['logical-source', 'query', 'worker']) {
      const table = rebuildTable(await readTableTopic({ kafka: run.d.parts.kafka, codec: run.d.parts.codec, topic: changelogTopic(run.d.config.topicPrefix, entity) }));
      for (const [key, row] of table.rows) assert.ok(row.snapshotId <= answers.snapshotId, `${entity}/${key} changed at snapshot ${row.snapshotId}, after the List answers' ${answers.snapshotId}`);
    }
    const prefix = run.d.config.topicPrefix;
    const admin = run.d.parts.kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: TABLES.map((t) => ({ topic: `${prefix}.flink.${t}`, numPartitions: 1 })) }).finally(() => admin.disconnect());
    await runFlink(prefix);
    const flink = Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, { rows: await flinkTable(run.d.parts.kafka, `${prefix}.flink.${t}`) }] as const)));
    const cases = [
      ['logical_sources', answers.logicalSources, 'name'],
      ['queries', answers.queries, 'name'],
      ['workers', answers.workers, 'workerId'],
    ] as const;
    for (const [table, items, key] of cases) {
      const rows = flink[table]?.rows ?? [];
      assert.deepStrictEqual(rows.map((r) => String(r[key])).sort(), items.map((i) => String(i[key])).sort(), `Flink's ${table}: ${JSON.stringify(rows).slice(0, 500)}`);
      for (const item of items)
        assertHolds(
          rows.find((r) => r[key] === item[key]),
          item,
          `Flink's ${table}/${String(item[key])}`,
        );
    }
    // What the scenario did shows in Flink's tables: a cascade's drops, a dead worker's failed fragment.
    assert.deepStrictEqual(flink.logical_sources.rows.map((r) => r.name).sort(), ['bikes', 'cars']);
    assert.deepStrictEqual(flink.queries.rows.map((r) => r.name).sort(), ['fast-cars', 'idle']);
    assert.ok(flink.workers.rows.every((r) => r.state === 'DEAD'));
    const fastCars = flink.queries.rows.find((r) => r.name === 'fast-cars') as { fragments: { workerId: string; status: string }[] };
    assert.equal(fastCars.fragments.find((f) => f.workerId === 'w2')?.status, 'FAILED');
  });
});
