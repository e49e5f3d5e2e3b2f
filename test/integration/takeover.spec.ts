import { strict as assert } from 'node:assert';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { instancePair, UNSTARTED } from '../support/instance-pair';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const role = async (c: CoordinatorProcess): Promise<string | undefined> => (await c.status())?.role;

describe('a standby takes over when the active coordinator dies', function () {
  this.timeout(300_000);
  const env = { COORD_SESSION_TIMEOUT_MS: '6000' };
  let { d, a, b, client, close } = UNSTARTED;

  before(async () => ({ d, a, b, client, close } = await instancePair('takeover', env)));
  after(() => close());

  const create = async (name: string) => client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `tk-${name}`, timeoutMs: 30_000 });

  it('keeps every partition on the first instance while a second one stands by', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await create(`before-${i}`)).status, 'OK');
    // The second instance joins; the single-active assignor leaves it nothing.
    const started = b.start().catch(() => undefined); // it never becomes ready while it stands by
    await waitFor('the second instance to stand by', async () => (await role(b)) === 'standby', 60_000);
    await waitFor('the first instance to settle as active after the rebalance', async () => (await role(a)) === 'active', 60_000);
    assert.equal((await create('while-standby')).status, 'OK');
    assert.equal(await role(b), 'standby', 'the newcomer did not take over');
    void started;
  });

  it('keeps the standby warm: it folds each snapshot the active one publishes', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await create(`followed-${i}`)).status, 'OK');
    const created = await a.status();
    assert.ok(created !== undefined);
    // Ticks move the active on every second: the standby is compared with the active's snapshot of the same moment
    // (one it may have folded past between two looks at a fixed one, when it catches up on several at once).
    let seen: { active: NonNullable<typeof created>; standby: NonNullable<typeof created> } | undefined;
    await waitFor(
      "the standby to stand at the active one's snapshot, past the creates",
      async () => {
        const standby = await b.status();
        const active = await a.status();
        if (standby === undefined || active === undefined || standby.snapshotId !== active.snapshotId || BigInt(standby.snapshotId) < BigInt(created.snapshotId)) return false;
        seen = { active, standby };
        return true;
      },
      30_000,
    );
    const { active, standby } = seen as NonNullable<typeof seen>;
    assert.equal(standby.role, 'standby');
    assert.equal(standby.digest, active.digest, 'the same state, by its digest');
    assert.deepEqual(standby.following, { state: 'following', behind: 0 });
  });

  it('serves from the standby after kill -9 of the active one, with the state rebuilt from the log', async () => {
    const killedAt = Date.now();
    await a.kill();
    await waitFor('the standby to become active', async () => (await b.readyz()) === 200, 120_000);
    const reply = await create('after-takeover');
    const timeToServeMs = Date.now() - killedAt;
    console.log(`      time to serve after kill -9: ${timeToServeMs} ms (session timeout ${env.COORD_SESSION_TIMEOUT_MS} ms)`);
    assert.equal(reply.status, 'OK');
    for (let i = 0; i < 10; i++) assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: `before-${i}` })).status, 'OK', `before-${i} survived the takeover`);
    const retried = await create('before-3');
    assert.equal(retried.status, 'OK', 'a retry of a request the dead instance applied gets its original reply');
  });

  it('lets the old instance come back as standby and catch up when it takes over again', async () => {
    const back = a.start().catch(() => undefined);
    await waitFor('the old instance to stand by', async () => (await role(a)) === 'standby', 60_000);
    assert.equal((await create('while-a-stands-by')).status, 'OK');
    await b.kill();
    await back;
    await waitFor('the old instance to become active again', async () => (await a.readyz()) === 200, 120_000);
    assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'while-a-stands-by' })).status, 'OK', 'it caught up on what the other applied');
    assert.equal((await create('final')).status, 'OK');

    const { report, live } = await replayToLive(d, a.httpUrl);
    assert.equal(report.mismatch, undefined, 'the markers of both instances form one history');
    assert.equal(report.lastSnapshotId.toString(), live.snapshotId);
    assert.equal(report.digest, live.digest);
  });

  it('says on /readyz why a new instance with an empty folder cannot follow a snapshots topic whose start was deleted', async () => {
    const snapshots = `${d.config.topicPrefix}.snapshots`;
    const admin = d.parts.kafka.admin();
    await admin.connect();
    try {
      const [p] = await admin.fetchTopicOffsets(snapshots);
      // As retention would: the first half of the markers is gone, snapshot 1 with it.
      await admin.deleteTopicRecords({ topic: snapshots, partitions: [{ partition: p.partition, offset: String(Math.floor(Number(p.high) / 2)) }] });
    } finally {
      await admin.disconnect();
    }
    const c = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'takeover-c', env });
    try {
      void c.start().catch(() => undefined); // it stands by, and is never ready
      await waitFor('the newcomer to say why it does not follow', async () => (await c.status())?.following.state === 'failed', 60_000);
      const s = await c.status();
      assert.equal(s?.role, 'standby');
      assert.match(s?.following.error ?? '', /opens at snapshot \d+ .*first snapshots were deleted/);
      assert.equal((await create('after-truncation')).status, 'OK', 'the active instance serves on');
    } finally {
      await c.stop();
    }
  });
});
