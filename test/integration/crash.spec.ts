import { strict as assert } from 'node:assert';
import type { Client, Reply } from '../../src/client/client';
import { isCoordError } from '../../src/errors';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { runSeed, seeded } from '../support/random';
import { testStack } from '../support/stack';

const KILLS = Number(process.env.CRASH_KILLS ?? 10);
const REQUESTS = Number(process.env.CRASH_REQUESTS ?? 400);

describe('kill -9 under load', function () {
  // A soak's hundred kills on a busy machine take longer than the short form's fifteen minutes.
  this.timeout(Math.max(900_000, KILLS * 60_000));
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  const seed = runSeed();

  before(async () => {
    d = await deployment(testStack(), 'crash');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'crash', env: { COORD_SESSION_TIMEOUT_MS: '6000' } });
    await coordinator.start();
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  /** Asks until a reply comes, reusing the correlation id, as a client of a crashing coordinator must. */
  const askUntilAnswered = async (name: string): Promise<Reply> => {
    for (;;) {
      try {
        return await client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'n', type: 'INT64' }] }, { correlationId: `crash-${name}`, timeoutMs: 3_000 });
      } catch (err) {
        if (!isCoordError(err, 'ASK_TIMEOUT') && !isCoordError(err, 'BACKPRESSURE')) throw err;
      }
    }
  };

  it(`gives every request exactly one effect and loses no reply across ${KILLS} kills at seeded points`, async () => {
    console.log(`      seed ${seed} (repeat with TEST_SEED=${seed})`);
    const random = seeded(seed);
    const names = Array.from({ length: REQUESTS }, (_, i) => `src${i}`);
    let sent = 0;
    const load = (async () => {
      const replies: Reply[] = [];
      // Eight senders, so requests are in flight at every kill.
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (sent < names.length) {
            const name = names[sent++];
            replies.push(await askUntilAnswered(name));
            await new Promise((r) => setTimeout(r, 20));
          }
        }),
      );
      return replies;
    })();

    for (let k = 0; k < KILLS; k++) {
      await new Promise((r) => setTimeout(r, 100 + Math.floor(random() * 1_200)));
      await coordinator.kill();
      await coordinator.start();
    }
    const replies = await load;

    assert.equal(replies.length, REQUESTS, 'every request got a reply');
    const notOk = replies.filter((r) => r.status !== 'OK');
    assert.deepEqual(notOk.map((r) => `${r.correlationId}: ${r.status} ${r.message}`), [], 'each create took effect once: a second effect would answer ALREADY_EXISTS');
    for (const name of names) {
      const got = await client.ask('coord.v1.GetLogicalSource', { name });
      assert.equal(got.status, 'OK', `${name} exists`);
    }

    const { report, live } = await replayToLive(d, coordinator.httpUrl);
    assert.equal(report.mismatch, undefined, `replay --verify passes (seed ${seed})`);
    assert.equal(report.lastSnapshotId.toString(), live.snapshotId);
    assert.equal(report.digest, live.digest, 'the live digest equals a from-scratch replay');
  });
});
