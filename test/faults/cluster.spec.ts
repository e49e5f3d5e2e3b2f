import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigResourceTypes } from 'kafkajs';
import type { ClusterNode } from '../../src/infra/cluster';
import { topicName, TOPIC_KINDS } from '../../src/messaging/topics';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';

describe('the embedded stack in cluster mode', function () {
  this.timeout(120_000);
  let d: Deployment;

  before(async () => {
    d = await deployment(testStack(), 'cluster');
  });

  it('runs three KRaft nodes and says where each one is in brokers.json', () => {
    const cluster = testStack().cluster;
    assert.ok(cluster !== undefined, 'the fault tier runs on a cluster (TEST_BROKERS=3)');
    const file = join(testStack().dir, 'infra', 'brokers.json');
    assert.ok(existsSync(file), `${file} exists`);
    const listed = JSON.parse(readFileSync(file, 'utf8')) as ClusterNode[];
    assert.deepEqual(listed.map((n) => n.id), [1, 2, 3]);
    for (const n of listed) {
      assert.ok(Number.isInteger(n.port) && n.port > 0, `node ${n.id} has a port`);
      assert.ok(n.pid !== undefined && n.pid > 0, `node ${n.id} has a pid`);
      assert.ok(existsSync(n.logDir), `node ${n.id}'s log directory exists`);
    }
    assert.equal(testStack().brokers.split(',').length, 3, 'clients bootstrap from every node');
  });

  it('creates every coordinator topic with replication factor 3 and min.insync.replicas 2', async () => {
    const admin = d.parts.kafka.admin();
    await admin.connect();
    try {
      const topics = TOPIC_KINDS.map((k) => topicName(d.config.topicPrefix, k));
      const meta = await admin.fetchTopicMetadata({ topics });
      for (const t of meta.topics) for (const p of t.partitions) assert.equal(p.replicas.length, 3, `${t.name}/${p.partitionId} has three replicas`);
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['min.insync.replicas'] })),
      });
      for (const r of configs.resources) assert.equal(r.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue, '2', `${r.resourceName} min ISR`);
    } finally {
      await admin.disconnect();
    }
  });
});
