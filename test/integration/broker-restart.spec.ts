import { strict as assert } from 'node:assert';
import type { Client, Reply } from '../../src/client/client';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { replayToLive } from '../support/replay';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

describe('a broker restart in the middle of load', function () {
  this.timeout(600_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;

  before(async () => {
    d = await deployment(testStack(), 'broker');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'broker' });
    await coordinator.start();
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  it('resumes without help and loses nothing', async () => {
    const names = Array.from({ length: 200 }, (_, i) => `b${i}`);
    let next = 0;
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        const replies: Reply[] = [];
        while (next < names.length) {
          const name = names[next++];
          replies.push(
            await client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `broker-${name}`, timeoutMs: 5_000, retries: 60 }),
          );
          await new Promise((r) => setTimeout(r, 25));
        }
        return replies;
      }),
    );
    await waitFor('load under way', () => next > 40, 60_000);
    await testStack().restartKafka({ downMs: 2_000 });
    const replies = (await load).flat();

    assert.equal(replies.length, names.length);
    assert.deepEqual(replies.filter((r) => r.status !== 'OK').map((r) => `${r.correlationId} ${r.status}`), [], 'every create had exactly one effect');
    assert.equal(coordinator.exited, false, 'the coordinator process was never restarted');
    await waitFor('the coordinator to be ready', async () => (await coordinator.readyz()) === 200, 60_000);
    for (const name of names) assert.equal((await client.ask('coord.v1.GetLogicalSource', { name })).status, 'OK', name);

    const { report, live } = await replayToLive(d, coordinator.httpUrl);
    assert.equal(report.mismatch, undefined);
    assert.equal(report.lastSnapshotId.toString(), live.snapshotId);
    assert.equal(report.digest, live.digest);
  });
});
