import { strict as assert } from 'node:assert';
import { instancePair, UNSTARTED } from '../support/instance-pair';
import { replayToLive } from '../support/replay';
import { header, readTopicToEnd } from '../support/topics';
import { waitFor } from '../support/wait';

describe('a paused former active (zombie) after a takeover', function () {
  this.timeout(300_000);
  const env = { COORD_SESSION_TIMEOUT_MS: '6000' };
  let { d, a, b, client, close } = UNSTARTED;

  before(async () => {
    ({ d, a, b, client, close } = await instancePair('zombie', env));
    void b.start().catch(() => undefined); // stands by, never ready until it takes over
  });
  after(async () => {
    a?.signal('SIGCONT');
    await close();
  });

  it('publishes no effect once resumed: its sends are fenced and the log keeps one history', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await client.ask('coord.v1.CreateLogicalSource', { name: `z${i}`, fields: [{ name: 'v', type: 'INT64' }] })).status, 'OK');

    const before = await a.status();
    assert.ok(before);
    a.signal('SIGSTOP');
    // Requests the frozen instance has not fetched: after SIGCONT its fetch loop may still pick them up.
    const pending = Array.from({ length: 5 }, (_, i) =>
      client.ask('coord.v1.CreateLogicalSource', { name: `during-${i}`, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `during-${i}`, timeoutMs: 60_000 }),
    );
    await waitFor('the standby to take over from the paused instance', async () => (await b.readyz()) === 200, 120_000);
    for (const r of await Promise.all(pending)) assert.equal(r.status, 'OK', r.message);
    const after = await b.status();
    assert.ok(after);
    assert.ok(after.generation > before.generation, `the new active publishes under a newer generation (${after.generation} > ${before.generation})`);

    a.signal('SIGCONT');
    // Give the zombie time to do whatever it would do: fetch, fold, try to publish.
    await waitFor('the zombie to stop or stand by', async () => a.exited || (await a.readyz()) === 503, 60_000);
    for (let i = 0; i < 5; i++) assert.equal((await client.ask('coord.v1.CreateLogicalSource', { name: `after-${i}`, fields: [{ name: 'v', type: 'INT64' }] })).status, 'OK');

    // One marker per snapshot id, one reply body per correlation id: nothing from the zombie got through.
    const status = await b.status();
    assert.ok(status);
    const markers = await readTopicToEnd(d.parts.kafka, `${d.config.topicPrefix}.snapshots`);
    const digests = new Map<string, Set<string>>();
    for (const m of markers) {
      const v = (await d.parts.codec.decode(m.message.value)).value as { snapshotId: bigint; digest: string };
      const set = digests.get(v.snapshotId.toString()) ?? new Set();
      set.add(v.digest);
      digests.set(v.snapshotId.toString(), set);
    }
    for (const [id, set] of digests) assert.equal(set.size, 1, `snapshot ${id} has one digest on the log`);
    const replies = await readTopicToEnd(d.parts.kafka, d.config.replyTopic);
    for (let i = 0; i < 5; i++) {
      const bodies = new Set(replies.filter((r) => r.message.key?.toString() === `during-${i}`).map((r) => r.message.value?.toString('hex')));
      assert.equal(bodies.size, 1, `during-${i} has one reply, from the new active one`);
      const from = replies.find((r) => r.message.key?.toString() === `during-${i}`);
      assert.ok(from && header(from.message, 'snapshot-id') !== undefined);
      assert.equal(header(from.message, 'generation'), String(after.generation), 'stamped with the new generation');
    }

    const { report, live } = await replayToLive(d, b.httpUrl);
    assert.equal(report.mismatch, undefined);
    assert.equal(report.lastSnapshotId.toString(), live.snapshotId);
    assert.equal(report.digest, live.digest, 'the log replays to the new active instance\'s state');
  });
});
