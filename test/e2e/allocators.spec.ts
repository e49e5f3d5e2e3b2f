import { strict as assert } from 'node:assert';
import type { Client, Reply } from '../../src/client/client';
import { isCoordError } from '../../src/errors';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';

interface Range {
  readonly first: bigint;
  readonly count: number;
}

describe('the id allocator and the timestamp oracle across kill -9', function () {
  this.timeout(300_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;

  before(async () => {
    d = await deployment(testStack(), 'allocators');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'allocators', env: { COORD_SESSION_TIMEOUT_MS: '6000' } });
    await coordinator.start();
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  /** Asks until answered, with one correlation id, as a client of a crashing coordinator must. */
  let n = 0;
  const alloc = async (type: 'coord.v1.AllocIds' | 'coord.v1.AllocTimestamps', count: number): Promise<{ range: Range; reply: Reply }> => {
    const correlationId = `alloc-${n++}`;
    for (;;) {
      try {
        const reply = await client.ask(type, { count }, { correlationId, timeoutMs: 3_000 });
        assert.equal(reply.status, 'OK', reply.message);
        return { range: reply.payload?.value as unknown as Range, reply };
      } catch (err) {
        if (!isCoordError(err, 'ASK_TIMEOUT') && !isCoordError(err, 'BACKPRESSURE')) throw err;
      }
    }
  };

  it('hands out ids and timestamps that strictly increase, and snapshot timestamps after them, across three kills', async () => {
    const ids: bigint[] = [];
    const stamps: bigint[] = [];
    const snapshotTs: bigint[] = [];
    const max = (xs: readonly bigint[]): bigint => xs.reduce((m, x) => (x > m ? x : m), -1n);
    for (let round = 0; round < 4; round++) {
      const before = { ids: ids.length, stamps: stamps.length, maxId: max(ids), maxStamp: max(stamps) };
      // Allocations in flight while the coordinator dies: they are answered after the restart, once.
      const inFlight = Array.from({ length: 6 }, (_, i) => alloc(i % 2 === 0 ? 'coord.v1.AllocIds' : 'coord.v1.AllocTimestamps', 1 + i));
      if (round > 0) {
        await coordinator.kill();
        await coordinator.start();
      }
      for (const { range, reply } of await Promise.all(inFlight)) {
        const into = reply.payload?.type === 'coord.v1.IdRange' ? ids : stamps;
        for (let i = 0n; i < BigInt(range.count); i++) into.push(range.first + i);
        snapshotTs.push(reply.snapshotTs);
      }
      const after = await alloc('coord.v1.AllocTimestamps', 1);
      stamps.push(after.range.first);
      // Every timestamp handed out so far is older than the next snapshot's.
      const next = await alloc('coord.v1.AllocIds', 1);
      ids.push(next.range.first);
      assert.ok(next.reply.snapshotTs > after.range.first, `snapshot ts ${next.reply.snapshotTs} after timestamp ${after.range.first}`);
      // Everything asked for in this round, across the kill, is above everything of the rounds before.
      assert.ok(ids.slice(before.ids).every((x) => x > before.maxId), `round ${round}: ids above ${before.maxId}`);
      assert.ok(stamps.slice(before.stamps).every((x) => x > before.maxStamp), `round ${round}: timestamps above ${before.maxStamp}`);
    }
    for (const [what, values] of [['ids', ids], ['timestamps', stamps]] as const) {
      const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      assert.equal(new Set(values).size, values.length, `${what} never repeat`);
      // Answered out of order across kills, but handed out from one increasing counter: no gaps in ids.
      if (what === 'ids') assert.equal(sorted[sorted.length - 1] - sorted[0] + 1n, BigInt(sorted.length), 'ids come from one counter');
    }
    assert.ok(snapshotTs.every((t) => t > 0n));
  });

  it('replays to the same allocator state', async () => {
    const { report, live } = await replayToLive(d, coordinator.httpUrl);
    assert.equal(report.mismatch, undefined, JSON.stringify(report.mismatch));
    assert.equal(report.digest, live.digest);
  });
});
