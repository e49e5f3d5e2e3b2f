import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Partitioners, type Producer } from 'kafkajs';
import type { Client } from '../../src/client/client';
import { frame } from '../../src/messaging/wire';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const status = async (c: CoordinatorProcess) => {
  const s = await c.status();
  assert.ok(s, 'the coordinator answers /readyz');
  return s;
};

/** What a coordinator process logged from byte `from` on (its log file is appended across restarts). */
const logOf = (c: CoordinatorProcess, from = 0): string => readFileSync(join(dirname(c.dataDir), 'coordinator.log'), 'utf8').slice(from);
const logSize = (c: CoordinatorProcess): number => statSync(join(dirname(c.dataDir), 'coordinator.log')).size;

interface SkipLine {
  readonly offset: string;
  readonly reason: string;
}
const skipsIn = (log: string): SkipLine[] =>
  log
    .split('\n')
    .filter((l) => l.includes('not part of the snapshot chain'))
    .map((l) => JSON.parse(l) as SkipLine & { level: string })
    .map((l) => (assert.equal(l.level, 'warn'), { offset: l.offset, reason: l.reason }));

describe('the snapshots topic cannot be poisoned', function () {
  this.timeout(300_000);
  let d: Deployment;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let client: Client;
  let raw: Producer;
  let snapshots: string;
  // Passes only on requests: no tick commits a snapshot between the last answer and a kill, so each
  // store stands exactly at a published marker and any rebuild the test saw would be the poison's doing.
  const env = { COORD_SESSION_TIMEOUT_MS: '6000', COORD_TICK_INTERVAL_MS: '600000' };

  before(async () => {
    d = await deployment(testStack(), 'poison');
    snapshots = `${d.config.topicPrefix}.snapshots`;
    a = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'poison-a', env });
    b = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'poison-b', env });
    await a.start();
    client = await d.client();
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
  });

  after(async () => {
    await raw?.disconnect();
    await d?.close();
    await a?.stop();
    await b?.stop();
  });

  const create = async (name: string) => client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `poison-${name}`, timeoutMs: 30_000 });

  /**
   * Appends what anyone with write access could: bytes that are no Avro, a frame of a schema the
   * registry does not know, a well-formed marker 2^62 snapshots ahead under a high generation,
   * and the very next marker but without the coordinator's generation header. Returns their offsets.
   */
  const poison = async (next: bigint): Promise<string[]> => {
    const forged = (snapshotId: bigint) =>
      d.parts.codec.encode(snapshots, 'coord.v1.SnapshotMarker', {
        snapshotId,
        snapshotTs: BigInt(Date.now()) << 18n,
        logTimeMs: BigInt(Date.now()),
        digest: 'f'.repeat(64),
        inputs: [{ topic: `${d.config.topicPrefix}.requests.catalog`, partition: 0, fromOffset: 1_000_000n, toOffset: 1_000_010n }],
        records: 11,
        changes: 1,
      });
    const messages = [
      { key: 'garbage', value: Buffer.from('this is not a snapshot marker'), headers: { generation: '1' } },
      { key: 'unknown-schema', value: frame(987_654_321, Buffer.from([2, 97])), headers: { generation: '1' } },
      { key: (2n ** 62n).toString(), value: await forged(2n ** 62n), headers: { generation: '999' } },
      { key: next.toString(), value: await forged(next) },
    ];
    const offsets: string[] = [];
    // One send each, so every record's offset is known.
    for (const m of messages) offsets.push((await raw.send({ topic: snapshots, acks: -1, messages: [m] }))[0].baseOffset as string);
    return offsets;
  };

  /** Every poison offset (of each round appended) was skipped with a reason of its own kind, and nothing else was. */
  const assertSkipped = (skips: readonly SkipLine[], rounds: readonly (readonly string[])[]) => {
    assert.deepEqual([...new Set(skips.map((s) => s.offset))].sort(), rounds.flat().sort(), `skipped exactly the poison: ${JSON.stringify(skips)}`);
    for (const offsets of rounds) {
      const reason = (i: number) => skips.find((s) => s.offset === offsets[i])?.reason ?? '';
      assert.match(reason(0), /does not decode \(WIRE_MALFORMED\)/);
      assert.match(reason(1), /does not decode \(SCHEMA_UNKNOWN\)/);
      assert.match(reason(2), /was not written in a transaction/);
      assert.match(reason(3), /no generation header/);
    }
  };

  let firstPoison: string[] = [];
  let aGeneration = 0;

  it('lets a standby with an empty store take over past the poison after kill -9, without a rebuild', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await create(`before-${i}`)).status, 'OK');
    const started = b.start().catch(() => undefined); // a standby never becomes ready
    await waitFor('the second instance to stand by', async () => (await b.status())?.role === 'standby', 60_000);
    await waitFor('the first instance to settle as active', async () => (await a.status())?.role === 'active', 60_000);
    assert.equal((await create('while-standby')).status, 'OK');
    const before = await status(a);
    aGeneration = before.generation;
    firstPoison = await poison(BigInt(before.snapshotId) + 1n);

    const killedAt = Date.now();
    await a.kill();
    await waitFor('the standby to become active past the poison', async () => (await b.readyz()) === 200, 120_000);
    const askedAt = Date.now();
    const reply = await create('after-takeover');
    const serveMs = Date.now() - askedAt;
    console.log(`      time to serve after kill -9: ${Date.now() - killedAt} ms; the first ask once ready: ${serveMs} ms`);
    assert.equal(reply.status, 'OK');
    assert.ok(serveMs < 5_000, `an ordinary ask is served promptly (${serveMs} ms)`);
    for (let i = 0; i < 10; i++) assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: `before-${i}` })).status, 'OK', `before-${i} survived`);

    const now = await status(b);
    assert.equal(now.generation, aGeneration + 1, 'one past the last trusted generation: the forged 999 did not count');
    assert.ok(BigInt(now.snapshotId) > BigInt(before.snapshotId) && BigInt(now.snapshotId) < 2n ** 62n, `the forged snapshot id did not count (${now.snapshotId})`);
    const log = logOf(b);
    assert.ok(!log.includes('local state differs'), 'no rebuild');
    assertSkipped(skipsIn(log), [firstPoison]);
    void started;
  });

  it('lets the killed instance come back and take over again, its store kept and caught up, past poison before and after its last marker', async () => {
    const from = logSize(a);
    const back = a.start().catch(() => undefined);
    await waitFor('the old instance to stand by', async () => (await a.status())?.role === 'standby', 60_000);
    assert.equal((await create('while-a-stands-by')).status, 'OK');
    const bNow = await status(b);
    const secondPoison = await poison(BigInt(bNow.snapshotId) + 1n);

    await b.kill();
    await back;
    await waitFor('the old instance to become active again', async () => (await a.readyz()) === 200, 120_000);
    const askedAt = Date.now();
    assert.equal((await create('final')).status, 'OK');
    assert.ok(Date.now() - askedAt < 5_000, 'an ordinary ask is served promptly');
    for (const name of ['before-0', 'before-9', 'while-standby', 'after-takeover', 'while-a-stands-by'])
      assert.equal((await client.ask('coord.v1.GetLogicalSource', { name })).status, 'OK', `${name} is there`);

    const log = logOf(a, from);
    assert.ok(!log.includes('local state differs'), 'the store was not wiped');
    // As a standby it follows the log (or, had it not caught up by then, its activation catches up): either way onto its own store.
    assert.match(log, /following the log as a standby|catching up from the log/, 'it folded only the snapshots it missed, onto its own store');
    assertSkipped(skipsIn(log), [firstPoison, secondPoison]);
    // Every activation, a rebalance's too, takes one past the newest trusted generation; 999 was never trusted.
    assert.equal((await status(a)).generation, bNow.generation + 1, 'the forged generation 999 did not count');
  });

  it('replays the whole log with every digest matching, the poison skipped', async () => {
    const { report, live } = await replayToLive(d, a.httpUrl);
    assert.equal(report.mismatch, undefined);
    assert.equal(report.lastSnapshotId.toString(), live.snapshotId);
    assert.equal(report.digest, live.digest);
  });
});
