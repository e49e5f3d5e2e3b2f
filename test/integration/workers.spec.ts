import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import type { WorkerImage } from '../../projections/workers/workers';
import type { Client } from '../../src/client/client';
import { replay } from '../../src/engine/replay';
import { loadState } from '../../src/engine/load';
import { openStore } from '../../src/store/rocks';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

describe('workers on the log’s clock', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  let replays = 0;

  before(async () => {
    d = await deployment(testStack(), 'workers');
    coordinator = await coordinatorProcess(testStack(), {
      prefix: d.config.topicPrefix,
      name: 'workers',
      env: { COORD_TICK_INTERVAL_MS: '200', COORD_WORKER_SUSPECT_MS: '1000', COORD_WORKER_TIMEOUT_MS: '2000' },
    });
    await coordinator.start();
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  /** The workers as the log says they are: a replay into a fresh store, verified snapshot by snapshot. */
  const workersOnTheLog = async (): Promise<Map<string, WorkerImage>> => {
    const store = await openStore(join(testStack().dir, `workers-replay-${replays++}`));
    try {
      const report = await replay({ kafka: d.parts.kafka, codec: d.parts.codec, store, log: testLog(), topicPrefix: d.config.topicPrefix, verify: true });
      assert.equal(report.mismatch, undefined);
      const { state } = await loadState(store);
      return new Map([...state.list('worker')].map(([k, v]) => [k, v as WorkerImage]));
    } finally {
      await store.close();
    }
  };

  it('keeps a heartbeating worker ACTIVE and declares a silent one DEAD within workerTimeoutMs of log time', async () => {
    await client.send('coord.v1.WorkerRegistered', { workerId: 'alive', incarnation: 'a1', host: 'alive.local', slots: 4, capabilities: [] });
    await client.send('coord.v1.WorkerRegistered', { workerId: 'silent', incarnation: 's1', host: 'silent.local', slots: 2, capabilities: ['gpu'] });
    const beats = setInterval(() => void client.send('coord.v1.WorkerHeartbeat', { workerId: 'alive', incarnation: 'a1' }).catch(() => undefined), 300);
    try {
      // DEAD 2 s of log time after its last sign of life; the ticks come every 200 ms. The replay reads what is on the log by then.
      let workers = new Map<string, WorkerImage>();
      await waitFor(
        'the silent worker DEAD on the log, the heartbeating one ACTIVE',
        async () => {
          workers = await workersOnTheLog();
          return workers.get('silent')?.state === 'DEAD' && workers.get('alive')?.state === 'ACTIVE';
        },
        20_000,
        500,
      );
      assert.equal(workers.get('silent')?.slots, 2);
    } finally {
      clearInterval(beats);
    }
  });

  it('marks the other one DEAD too once its heartbeats stop', async () => {
    await waitFor('the worker to be declared dead', async () => (await workersOnTheLog()).get('alive')?.state === 'DEAD', 30_000, 1_000);
  });
});
