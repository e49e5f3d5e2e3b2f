/**
 * The coordinator's transactions on the real broker: what a publication costs in round trips.
 * The kafkajs parts are patched (patches/kafkajs+2.2.4.patch); unpatched, both tests fail.
 */
import { strict as assert } from 'node:assert';
import type { Producer } from '../../src/messaging/clients';
import { outboxProducer } from '../../src/messaging/kafka';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';

describe('transactions as the coordinator publishes', function () {
  this.timeout(180_000);
  let d: Deployment;
  const producers: Producer[] = [];

  before(async () => {
    d = await deployment(testStack(), 'txn');
  });
  after(async () => {
    await Promise.all(producers.map((p) => p.disconnect()));
    await d?.close();
  });

  /** A transactional producer as the publisher makes one, counting its requests by API once a first transaction to the topic committed (which finds the coordinator and the topic's metadata). */
  const counted = async (id: string) => {
    const p = outboxProducer(d.parts.kafka, id);
    producers.push(p);
    await p.connect();
    const once = async (i: number): Promise<void> => {
      const txn = await p.transaction();
      await txn.send({ topic: d.config.replyTopic, acks: -1, messages: [{ key: `k${i}`, value: `v${i}` }] });
      await txn.commit();
    };
    await once(-1);
    const requests: Record<string, number> = {};
    p.on(p.events.REQUEST, (e) => void (requests[e.payload.apiName] = (requests[e.payload.apiName] ?? 0) + 1));
    return { requests, once };
  };

  it('finds the transaction coordinator once, not before every AddPartitionsToTxn and EndTxn', async () => {
    const { requests, once } = await counted(`${d.config.groupId}.probe-coordinator`);
    for (let i = 0; i < 10; i++) await once(i);
    assert.equal(requests.EndTxn, 10, `ten transactions committed (${JSON.stringify(requests)})`);
    assert.equal(requests.GroupCoordinator ?? 0, 0, `no FindCoordinator after the first transaction (${JSON.stringify(requests)})`);
  });

  it('retries CONCURRENT_TRANSACTIONS without refreshing the metadata each time', async () => {
    // Back to back under one id, a transaction's AddPartitionsToTxn often arrives while the broker still writes the last one's markers.
    const { requests, once } = await counted(`${d.config.groupId}.probe-concurrent`);
    let n = 0;
    while (n < 300 && (requests.AddPartitionsToTxn ?? 0) - n < 3) await once(n++);
    const refused = (requests.AddPartitionsToTxn ?? 0) - n;
    assert.ok(refused >= 3, `some AddPartitionsToTxn were answered CONCURRENT_TRANSACTIONS and sent again (${refused} in ${n} transactions)`);
    assert.equal(requests.Metadata ?? 0, 0, `no metadata refresh for them (${JSON.stringify(requests)})`);
  });
});
