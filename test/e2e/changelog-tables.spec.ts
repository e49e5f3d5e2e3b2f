import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ConfigResourceTypes } from 'kafkajs';
import type { Config } from '../../src/config';
import { changelogTables, changelogTopic } from '../../src/messaging/changelog';
import { envelopeOf, readTableLog, readTableTopic, rebuildTable, type TableRecord } from '../../src/messaging/changelog-table';
import { loadContracts, projectRoot } from '../../src/messaging/schemas';
import { tailTopic, type Tail } from '../../src/messaging/tail';
import { createKafka } from '../../src/messaging/kafka';
import { createParts, type Parts } from '../../src/runtime';
import { assertHolds, listAnswers, runScenario, startDeployment, type ScenarioRun } from '../support/changelog-scenario';
import { coordctl } from '../support/coordctl';
import { testLog } from '../support/deployment';
import { FLINK_SETUP, FLINK_TIMEOUT_MS, flinkReady, flinkTable, runFlink, TABLES } from '../support/flink';
import { asAdmin, asRole, connectionEnv } from '../support/secure';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const ENTITIES = [...changelogTables(loadContracts()).keys()];

// One deployment and one scenario for every test of the tables, Flink's included: Flink's JVM is the cost, started once.
// Whoever reads the tables reads them as the reader role: on the secured stack, its principal with the ACLs of
// `coordctl acl plan --role reader`, its registry credentials, and for Flink the README's options for a secured cluster.
describe('the changelog’s tables: compacted topics that a late consumer, coordctl and Flink SQL read as the coordinator’s tables', function () {
  this.timeout(600_000);
  let run: ScenarioRun;
  let midTs: bigint;
  /** The reader role's configuration for this deployment (the deployment's own on a plain stack), its clients, and the same for coordctl. */
  let readerConfig: Config;
  let reader: Parts;
  let readerEnv: Record<string, string>;
  /** What a consumer that followed from the start saw, per entity, in order. */
  const live = new Map<string, { offset: bigint; record: TableRecord }[]>();
  const tails: Tail[] = [];
  const topic = (entity: string): string => changelogTopic(run.d.config.topicPrefix, entity);

  before(async () => {
    if (!flinkReady()) throw new Error(FLINK_SETUP);
    run = await startDeployment('tables');
    const { secure } = testStack();
    readerConfig = await asRole(secure, run.d.config, 'reader');
    reader = createParts(readerConfig, 'test-reader', testLog());
    readerEnv = secure === undefined ? {} : connectionEnv(readerConfig);
    // Segments that roll every half second and a cleaner that takes any dirt: compaction within the test, not within days.
    // The logical sources keep the coordinator's own settings, whose last hour is never compacted: there, a table
    // --as-of a time in that hour is exact, as the README says; the others show what compaction leaves.
    // Altering a topic's configuration is an operator's act: on the secured stack, the super user's.
    const admin = createKafka(asAdmin(secure, run.d.config), 'test-tables-admin', testLog()).admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: ENTITIES.filter((e) => e !== 'logical-source').map((e) => ({
          type: ConfigResourceTypes.TOPIC,
          name: topic(e),
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'segment.ms', value: '500' },
            { name: 'min.cleanable.dirty.ratio', value: '0.01' },
            { name: 'min.compaction.lag.ms', value: '0' },
          ],
        })),
      });
    } finally {
      await admin.disconnect();
    }
    for (const entity of ENTITIES) {
      const seen: { offset: bigint; record: TableRecord }[] = [];
      live.set(entity, seen);
      const t = tailTopic({
        kafka: reader.kafka,
        topic: topic(entity),
        // A group of the reader's own (`<prefix>.reader.` prefixed).
        groupId: `${run.d.config.topicPrefix}.reader.live-${entity}`,
        from: 'beginning',
        onRecord: async (r) => {
          const envelope = r.value === null ? null : envelopeOf((await reader.codec.decode(r.value)).value);
          seen.push({ offset: BigInt(r.offset), record: { key: r.key?.toString() ?? '', envelope } });
        },
      });
      await t.start();
      tails.push(t);
    }
    ({ midTs } = await runScenario(run));
  });

  after(async () => {
    for (const t of tails) await t.close();
    await run?.close();
  });

  /** Until the live consumer has everything up to the topic's end (a commit marker may close it). */
  const liveCaughtUp = async (): Promise<void> => {
    const admin = reader.kafka.admin();
    await admin.connect();
    try {
      for (const entity of ENTITIES) {
        const [end] = await admin.fetchTopicOffsets(topic(entity));
        const high = BigInt(end.high);
        await waitFor(`the live consumer of ${entity} at the end`, () => high === 0n || (live.get(entity)?.at(-1)?.offset ?? -1n) >= high - 2n, 30_000);
      }
    } finally {
      await admin.disconnect();
    }
  };

  it('lets a consumer that joins late, after compaction, rebuild the same tables as one that read everything live', async () => {
    await liveCaughtUp();
    const liveWorkers = live.get('worker')?.length ?? 0;
    // The workers' heartbeats made hundreds of images of three keys: compaction leaves far fewer.
    let late: TableRecord[] = [];
    await waitFor(
      'compaction of the worker table',
      async () => {
        late = await readTableTopic({ kafka: reader.kafka, codec: reader.codec, topic: topic('worker') });
        return late.length < liveWorkers;
      },
      90_000,
      2_000,
    );
    assert.ok(late.length < liveWorkers, `compacted: ${late.length} records left of ${liveWorkers}`);
    for (const entity of ENTITIES) {
      const records = entity === 'worker' ? late : await readTableTopic({ kafka: reader.kafka, codec: reader.codec, topic: topic(entity) });
      const lateTable = rebuildTable(records);
      const liveTable = rebuildTable((live.get(entity) ?? []).map((x) => x.record));
      assert.deepStrictEqual(lateTable.rows, liveTable.rows, `the ${entity} table`);
    }
    assert.deepStrictEqual([...rebuildTable(late).rows.keys()].sort(), ['w1', 'w2', 'w3']);
  });

  /**
   * Until compaction has left of the dropped query heavy only its tombstone: its create and its delete are gone. A
   * segment rolls only on an append, so this needs the scenario's later changes of fast-cars (its workers die seconds
   * after the drops) to close the segment that holds heavy's tombstone; the cleaner looks every 15 s.
   */
  const queriesCompacted = async (): Promise<void> =>
    waitFor(
      'compaction of the query table down to heavy’s tombstone',
      async () => {
        const heavy = (await readTableTopic({ kafka: reader.kafka, codec: reader.codec, topic: topic('query') })).filter((r) => r.key === 'heavy');
        return heavy.length === 1 && heavy[0].envelope === null;
      },
      90_000,
      2_000,
    );

  /** `coordctl changelog table query --as-of ts --json`: its code, its rows by key, the keys it names as unknown, its stderr. */
  const queriesAsOf = async (ts: bigint) => {
    const r = await coordctl(['changelog', 'table', 'query', '--as-of', ts.toString(), '--json'], run.d.config.topicPrefix, undefined, readerEnv);
    const rows = new Map(
      r.stdout
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { key: string; snapshotId: number | string; image: Record<string, unknown> })
        .map((row) => [row.key, row]),
    );
    const named = /What \d+ keys were then is gone \((\[[^\]]*\])/.exec(r.stderr);
    return { code: r.code, rows, unknown: named === null ? [] : (JSON.parse(named[1]) as string[]), stderr: r.stderr };
  };

  /** Each row printed is the query as a consumer that read everything live rebuilds it as of `ts`, to its snapshot. */
  const assertRowsAsOf = (rows: Map<string, { snapshotId: number | string; image: Record<string, unknown> }>, ts: bigint): void => {
    const then = rebuildTable((live.get('query') ?? []).map((x) => x.record), ts).rows;
    for (const [key, row] of rows) {
      assert.equal(String(row.snapshotId), String(then.get(key)?.snapshotId), `${key}'s snapshot as of ${ts}`);
      assertHolds(row.image, then.get(key)?.image ?? {}, `query/${key} as of ${ts}`);
    }
  };

  it('has coordctl changelog table --as-of, on a table compacted since, print only rows it knows exactly, name the keys it cannot know, and exit 3', async () => {
    await queriesCompacted();
    const then = rebuildTable((live.get('query') ?? []).map((x) => x.record), midTs).rows;
    assert.deepStrictEqual([...then.keys()].sort(), ['bike-audit', 'fast-cars', 'heavy', 'idle']);
    const r = await queriesAsOf(midTs);
    assert.equal(r.code, 3, `records written after the time asked are gone: ${r.stderr}`);
    assert.match(r.stderr, /compaction has removed records of .* that a table as of \d+ needs/);
    assertRowsAsOf(r.rows, midTs);
    // idle never changed after its create, which compaction therefore kept: its row is there, exact.
    assert.ok(r.rows.has('idle'), `idle is printed: ${[...r.rows.keys()].join(', ')}`);
    // Of the dropped queries only tombstones are left, published after the time asked: named, not left out in silence.
    assert.ok(r.unknown.includes('heavy') && r.unknown.includes('bike-audit'), r.stderr);
    // Every query then is printed or named: none left out in silence, none made up.
    assert.deepStrictEqual([...r.rows.keys(), ...r.unknown].sort(), [...then.keys()].sort(), r.stderr);
  });

  it('has coordctl changelog table --as-of, after a drop compaction reduced to its tombstone, place the tombstone by its headers and print the exact table', async () => {
    await queriesCompacted();
    const { queries } = await listAnswers(run);
    const now = (await run.ok('coord.v1.ListQueries', { session: null, asOfTs: null })).snapshotTs;
    const r = await queriesAsOf(now);
    assert.equal(r.code, 0, r.stderr);
    assertRowsAsOf(r.rows, now);
    assert.deepStrictEqual([...r.rows.keys()].sort(), queries.map((q) => String(q.name)).sort());
    for (const q of queries) assertHolds(r.rows.get(String(q.name))?.image, q, `query/${String(q.name)} as of ${now}`);
  });

  it('follows a delete with a tombstone under the same key (a drop with cascade included), which compaction keeps as the key’s last record', async () => {
    const deleted = [
      ['sink', 'audit'],
      ['logical-source', 'trucks'],
      ['physical-source', 'trucks-w3'],
      ['query', 'heavy'],
      ['query', 'bike-audit'],
    ] as const;
    for (const [entity, key] of deleted) {
      // As published: the delete, with the image before, then at once the tombstone.
      const all = (live.get(entity) ?? []).map((x) => x.record).filter((r) => r.key === key);
      assert.deepStrictEqual(
        all.slice(-2).map((r) => r.envelope?.op ?? 'tombstone'),
        ['d', 'tombstone'],
        `${entity}/${key} as published`,
      );
      assert.equal(all.at(-2)?.envelope?.before?.name, key, 'the delete carries the image before');
      assert.equal(all.at(-2)?.envelope?.after, null);
      // As a late reader finds it: whatever compaction left, the tombstone last.
      const kept = (await readTableTopic({ kafka: reader.kafka, codec: reader.codec, topic: topic(entity) })).filter((r) => r.key === key);
      assert.equal(kept.at(-1)?.envelope, null, `${entity}/${key} ends with a tombstone on the topic`);
    }
  });

  it('rebuilds, for sources, queries and workers, the tables the coordinator answers to List at the same snapshot', async () => {
    const answers = await listAnswers(run);
    const tableOf = async (entity: string): Promise<Map<string, Record<string, unknown>>> => {
      const table = rebuildTable(await readTableTopic({ kafka: reader.kafka, codec: reader.codec, topic: topic(entity) }));
      // No change after the snapshot the List answers were given at: they describe the state the tables reach.
      for (const [key, row] of table.rows) assert.ok(row.snapshotId <= answers.snapshotId, `${entity}/${key} changed at snapshot ${row.snapshotId}, after ${answers.snapshotId}`);
      return new Map([...table.rows].map(([key, row]) => [key, row.image]));
    };
    const cases = [
      ['logical-source', answers.logicalSources, 'name'],
      ['query', answers.queries, 'name'],
      ['worker', answers.workers, 'workerId'],
    ] as const;
    for (const [entity, items, key] of cases) {
      const table = await tableOf(entity);
      assert.deepStrictEqual([...table.keys()].sort(), items.map((i) => String(i[key])).sort(), `the ${entity} table's keys`);
      for (const item of items) assertHolds(table.get(String(item[key])), item, `${entity}/${String(item[key])}`);
    }
    assert.deepStrictEqual([...(await tableOf('logical-source')).keys()].sort(), ['bikes', 'cars']);
  });

  it('has coordctl changelog table --as-of print the table the coordinator answers asOf that time', async () => {
    // The reader may read the table's compaction lag (the coordinator's hour, kept here): what says a time in it is exact.
    const read = await readTableLog({ kafka: reader.kafka, codec: reader.codec, topic: topic('logical-source') });
    const expected = Date.now() - 3_600_000 + 60_000;
    assert.ok(read.removableBeforeMs !== undefined && Math.abs(read.removableBeforeMs - expected) < 60_000, `removable before ${read.removableBeforeMs}, not about ${expected}`);
    const asOf = await run.ok('coord.v1.ListLogicalSources', { asOfTs: { long: midTs } });
    const want = (asOf.payload?.value as { logicalSources: Record<string, unknown>[] }).logicalSources;
    const r = await coordctl(['changelog', 'table', 'logical-source', '--as-of', midTs.toString(), '--json'], run.d.config.topicPrefix, undefined, readerEnv);
    assert.equal(r.code, 0, r.stderr);
    const rows = new Map(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { key: string; image: Record<string, unknown> })
        .map((row) => [row.key, row.image]),
    );
    assert.deepStrictEqual([...rows.keys()].sort(), ['bikes', 'cars', 'trucks']);
    for (const item of want) assertHolds(rows.get(String(item.name)), item, `logical-source/${String(item.name)} as of ${midTs}`);
  });

  it('has coordctl changelog tail show typed images', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot(), 'src/cli/main.ts'), 'changelog', 'tail', '--from-beginning', '--entity', 'sink', '--json'], {
      cwd: projectRoot(),
      env: { ...process.env, ...readerEnv, KAFKA_BROKERS: testStack().brokers, SCHEMA_REGISTRY_URL: testStack().registryUrl, COORD_TOPIC_PREFIX: run.d.config.topicPrefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // Compaction may have left only the last record of each key: the sink out's create, audit's tombstone.
      await waitFor(`the tail to print the sinks (stderr: ${err.slice(0, 300)})`, () => out.includes('"key":"out"') && out.includes('"tombstone":true'), 60_000);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; op?: string; tombstone?: boolean; after?: Record<string, unknown> | null });
    const created = lines.find((l) => l.key === 'out' && l.op === 'c');
    assert.deepStrictEqual(created?.after, { name: 'out', type: 'print', options: { format: 'json' }, createdAtTs: created?.after?.createdAtTs });
    assert.equal(typeof created?.after?.createdAtTs, 'string', 'a hybrid timestamp passes 2^53: printed as text');
    assert.ok(lines.some((l) => l.key === 'audit' && l.tombstone === true));
  });

  it('has Flink SQL, reading the compacted topics with the README’s statements, end with the logical sources, queries and workers the coordinator lists at the same snapshot', async function () {
    // Room for a second Flink run (runFlink retries a failed one) after a first that took all its time.
    this.timeout(2 * FLINK_TIMEOUT_MS + 120_000);
    const answers = await listAnswers(run);
    // The List answers describe the tables' final state: no table changed after their snapshot.
    for (const entity of ['logical-source', 'query', 'worker']) {
      const table = rebuildTable(await readTableTopic({ kafka: reader.kafka, codec: reader.codec, topic: changelogTopic(run.d.config.topicPrefix, entity) }));
      for (const [key, row] of table.rows) assert.ok(row.snapshotId <= answers.snapshotId, `${entity}/${key} changed at snapshot ${row.snapshotId}, after the List answers' ${answers.snapshotId}`);
    }
    const prefix = run.d.config.topicPrefix;
    const admin = run.d.parts.kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: TABLES.map((t) => ({ topic: `${prefix}.flink.${t}`, numPartitions: 1 })) }).finally(() => admin.disconnect());
    await runFlink(prefix, readerConfig);
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
