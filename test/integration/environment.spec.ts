/**
 * The environment is checked, not assumed: input topics stamped by producers, a topic deleted
 * and created again, a corrupt store, a full disk, and a stop while the broker is away.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, Reply } from '../../src/client/client';
import { makeConfig } from '../../src/config';
import { provision } from '../../src/messaging/provision';
import { createParts } from '../../src/runtime';
import { stateKey } from '../../src/store/keys';
import { openStore } from '../../src/store/rocks';
import { coordinatorProcess, whereItStands, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, uniquePrefix, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';
import { readTopicToEnd } from '../support/topics';
import { waitFor, within } from '../support/wait';

const logOf = (c: CoordinatorProcess): string => readFileSync(join(c.dataDir, '..', 'coordinator.log'), 'utf8');

const create = (client: Client, name: string) => client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `env-${name}`, timeoutMs: 60_000 });

describe('the environment is checked, not assumed', function () {
  this.timeout(300_000);

  it('refuses to start on input topics that producers stamp (CreateTime), saying how to fix it', async () => {
    const prefix = uniquePrefix('stamped');
    const config = makeConfig({ kafkaBrokers: [testStack().brokers], schemaRegistryUrl: testStack().registryUrl, topicPrefix: prefix, groupId: `${prefix}-coordinator` });
    const parts = createParts(config, 'test-stamped', testLog());
    const admin = parts.kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: `${prefix}.requests.catalog`, numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'CreateTime' }] }] });
    } finally {
      await admin.disconnect();
    }
    await provision({ config, codec: parts.codec, log: testLog() });
    const c = await coordinatorProcess(testStack(), { prefix, name: 'stamped' });
    await assert.rejects(c.start(), /exited during start/);
    assert.match(logOf(c), /requests\.catalog has message\.timestamp\.type=CreateTime; the coordinator needs LogAppendTime/);
  });

  describe('with a running deployment', () => {
    let d: Deployment;
    let c: CoordinatorProcess;
    let client: Client;

    before(async () => {
      d = await deployment(testStack(), 'env');
      c = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'env', env: { COORD_STALL_THRESHOLD_MS: '2000', COORD_CLOSE_TIMEOUT_MS: '5000' } });
      await c.start();
      client = await d.client();
      for (const n of ['one', 'two', 'three']) assert.equal((await create(client, n)).status, 'OK');
    });

    after(async () => {
      await d?.close();
      await c?.stop();
    });

    it('finds a corrupt store in the background and stops; the next start moves it aside and rebuilds it from the log, with one log line', async () => {
      await c.stop();
      const store = await openStore(c.dataDir);
      await store.write({ puts: [[stateKey('logical-source', 'two'), Buffer.from('{"name":"two","fields":[],"createdAtTs":"1"}')]] });
      await store.close();
      // Nothing at start reads the whole store: the check runs once the instance serves, finds the damage and stops it.
      await c.start().catch((err: unknown) => assert.match(String(err), /exited during start/));
      await within('the coordinator to stop on its damaged store', c.ended(), 60_000);
      assert.equal(logOf(c).split('\n').filter((l) => l.includes('the store is damaged')).length, 1, 'one line says why it stopped');
      await c.start();
      assert.equal((await c.readyz()), 200);
      const lines = logOf(c).split('\n').filter((l) => l.includes('the store is corrupt'));
      assert.equal(lines.length, 1, 'one clear line');
      const aside = readdirSync(join(c.dataDir, '..')).filter((f) => f.startsWith('rocksdb.corrupt-'));
      assert.equal(aside.length, 1, 'the corrupt store is kept aside for a look');
      const two = await client.ask('coord.v1.GetLogicalSource', { name: 'two' });
      assert.equal(two.status, 'OK');
      assert.deepEqual((two.payload?.value as { fields: unknown[] }).fields.length, 1, 'rebuilt from the log, not from the damaged image');
      const { report, live } = await replayToLive(d, c.httpUrl);
      assert.equal(report.mismatch, undefined);
      assert.equal(report.digest, live.digest);
    });

    it('stops within closeTimeoutMs on SIGTERM while the broker is away', async () => {
      const down = testStack().restartKafka({ downMs: 20_000 });
      try {
        // The broker is away: the coordinator's ticks, fetches and commits all wait on it.
        await new Promise((r) => setTimeout(r, 3_000));
        const started = Date.now();
        await c.stop();
        const tookMs = Date.now() - started;
        assert.ok(tookMs < 5_000 + 3_000, `stopped in ${tookMs} ms (closeTimeoutMs 5000)`);
      } finally {
        await down;
      }
      await c.start();
      // A miss says where the coordinator and the client stood: their logs are gone after the run.
      const after = await create(client, 'after-broker').catch(async (err: Error) => {
        throw new Error(`${err.message}; the client: ${JSON.stringify(client.stats)}; ${await whereItStands(c)}`);
      });
      assert.equal(after.status, 'OK');
    });

    it('refuses to serve when an input topic was deleted and created again, and says why on /readyz', async () => {
      await c.stop();
      const topic = `${d.config.topicPrefix}.requests.catalog`;
      const admin = d.parts.kafka.admin();
      await admin.connect();
      try {
        await admin.deleteTopics({ topics: [topic] });
        await waitFor('the topic to be gone', async () => !(await admin.listTopics()).includes(topic), 30_000);
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }, { name: 'retention.ms', value: '-1' }] }] });
      } finally {
        await admin.disconnect();
      }
      void c.start().catch(() => undefined); // it never becomes ready
      await waitFor('/readyz to say why', async () => JSON.stringify((await c.status())?.problems ?? []).includes('deleted and created again'), 60_000);
      const s = await c.status();
      assert.equal(s?.ready, false);
      assert.equal(await c.readyz(), 503);
      const metrics = await (await fetch(`${c.httpUrl}/metrics`)).text();
      assert.match(metrics, /coord_stalled\{what="environment"\} 1/);
      await c.stop();
    });
  });

  describe('a full disk', () => {
    let d: Deployment;
    let c: CoordinatorProcess;
    let client: Client;
    let mnt = '';

    before(async () => {
      mnt = join(testStack().dir, 'small-disk');
      mkdirSync(mnt, { recursive: true });
      // A small filesystem of its own, so filling it touches nothing else (root can mount a tmpfs here). Smaller than the
      // 17.6 MB RocksDB sets aside for a write-ahead log (1.1 times a 16 MB memtable), which then takes no space ahead:
      // with a log set aside, writes would go on into it after the disk filled.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mnt]);
      d = await deployment(testStack(), 'disk');
      c = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'disk', env: { COORD_DATA_DIR: join(mnt, 'rocksdb'), COORD_STALL_THRESHOLD_MS: '2000' } });
      await c.start();
      client = await d.client();
      assert.equal((await create(client, 'before-full')).status, 'OK');
    });

    after(async () => {
      await d?.close();
      await c?.stop();
      if (mnt !== '' && existsSync(mnt)) execFileSync('umount', ['-l', mnt]);
    });

    it('stops folding while the disk is full, says so on /readyz, and resumes when space returns, publishing nothing twice', async () => {
      // RocksDB frees the space it had set aside for its log when it reopens after a failed write,
      // so the disk is filled again, and again, until every write fails.
      let filling = true;
      let n = 0;
      const fill = (async () => {
        while (filling) {
          try {
            execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, `filler-${n++}`)}`, 'bs=64k', 'count=2000'], { stdio: 'ignore' });
          } catch {
            // dd stops with an error once the disk is full: that is the point.
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      let pending: Promise<Reply> | undefined;
      try {
        pending = create(client, 'while-full');
        await waitFor('/readyz to report the store', async () => JSON.stringify((await c.status())?.problems ?? []).includes('"store"'), 60_000);
        assert.equal(await c.readyz(), 503);
        assert.equal(c.exited, false, 'it waits, it does not crash');
      } finally {
        filling = false;
        await fill;
      }
      const snapshotWhileFull = (await c.status())?.snapshotId;
      for (const f of readdirSync(mnt).filter((x) => x.startsWith('filler-'))) rmSync(join(mnt, f));
      const reply = await (pending as Promise<Reply>);
      assert.equal(reply.status, 'OK', 'the request held while the disk was full is answered once space returns');
      await waitFor('ready again', async () => (await c.readyz()) === 200, 30_000);
      assert.ok(BigInt((await c.status())?.snapshotId ?? '0') > BigInt(snapshotWhileFull ?? '0'));
      const markers = await readTopicToEnd(d.parts.kafka, `${d.config.topicPrefix}.snapshots`);
      const ids = markers.map((m) => m.message.key?.toString());
      assert.equal(new Set(ids).size, ids.length, 'every snapshot was published once');
      const { report, live } = await replayToLive(d, c.httpUrl);
      assert.equal(report.mismatch, undefined);
      assert.equal(report.digest, live.digest);
    });
  });
});
