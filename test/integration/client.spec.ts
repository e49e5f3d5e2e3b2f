import { strict as assert } from 'node:assert';
import { createClient, type Client } from '../../src/client/client';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const source = (name: string) => ({ name, fields: [{ name: 'v', type: 'INT64' }] });

describe('the client library', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  const clients: Client[] = [];

  const client = async (opts: { maxInFlight?: number; maxLag?: number } = {}): Promise<Client> => {
    const c = createClient({ kafka: d.parts.kafka, codec: d.parts.codec, log: testLog(), topicPrefix: d.config.topicPrefix, replyTopic: d.config.replyTopic, askTimeoutMs: 20_000, ...opts });
    await c.start();
    clients.push(c);
    return c;
  };

  before(async () => {
    d = await deployment(testStack(), 'client');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'client' });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await d?.close();
    await coordinator?.stop();
  });

  it('retries with the same correlation id until the coordinator answers, with one effect', async () => {
    const c = await client();
    // No coordinator runs yet: the first attempts time out.
    const pending = c.ask('coord.v1.CreateLogicalSource', source('retry-me'), { correlationId: 'client-retry', timeoutMs: 1_000, retries: 60 });
    await new Promise((r) => setTimeout(r, 2_500));
    await coordinator.start();
    const reply = await pending;
    assert.equal(reply.status, 'OK', 'the attempts were one request: a second effect would answer ALREADY_EXISTS');
    await waitFor('the duplicate replies to the earlier attempts to be dropped', () => c.stats.dropped > 0, 10_000);
  });

  it('rejects an ask whose AbortSignal fires, and one whose signal had already fired', async () => {
    const c = await client();
    const ac = new AbortController();
    const asked = c.ask('coord.v1.GetLogicalSource', { name: 'retry-me' }, { signal: ac.signal, timeoutMs: 60_000 });
    ac.abort();
    await assert.rejects(asked, (err: { code?: string }) => err.code === 'ASK_ABORTED');
    await assert.rejects(c.ask('coord.v1.GetLogicalSource', { name: 'retry-me' }, { signal: ac.signal }), (err: { code?: string }) => err.code === 'ASK_ABORTED');
  });

  it('refuses trySend over the in-flight bound instead of waiting, and close() rejects what is pending', async () => {
    await coordinator.stop();
    try {
      const c = await client({ maxInFlight: 1 });
      const pending = c.ask('coord.v1.GetLogicalSource', { name: 'x' }, { timeoutMs: 60_000 });
      await waitFor('the ask to be in flight', () => c.stats.inFlight === 1, 5_000);
      assert.equal(c.trySend('coord.v1.GetLogicalSource', { name: 'y' }), false);
      const rejected = assert.rejects(pending, (err: { code?: string }) => err.code === 'CLIENT_CLOSED');
      await c.close();
      await rejected;
    } finally {
      await coordinator.start();
    }
  });

  it('sends several requests in one produce with sendMany, and each takes effect', async () => {
    const c = await client();
    await c.sendMany([1, 2, 3].map((i) => ({ type: 'coord.v1.CreateLogicalSource', value: source(`many-${i}`) })));
    for (const i of [1, 2, 3]) await waitFor(`many-${i}`, async () => (await c.ask('coord.v1.GetLogicalSource', { name: `many-${i}` })).status === 'OK', 30_000, 200);
  });

  it('follows the lag the coordinator publishes on its snapshot markers', async () => {
    const c = await client({ maxLag: 10_000 });
    assert.equal((await c.ask('coord.v1.CreateLogicalSource', source('lagged'))).status, 'OK');
    await waitFor('a published lag', () => c.stats.lag !== undefined, 10_000);
    assert.ok((c.stats.lag ?? -1) >= 0);
  });
});
