import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, logLevel, ResourcePatternTypes } from 'kafkajs';
import { createClient, type Client } from '../../src/client/client';
import { makeConfig, type Config } from '../../src/config';
import { provisionAccess } from '../../src/cli/secure-infra';
import { SUPER_USER } from '../../src/infra/secure';
import { createLogger, silentLogger } from '../../src/log';
import { CLIENT_GROUP_PREFIX, privateReplyTopic } from '../../src/messaging/acl';
import { createKafka, plaintext } from '../../src/messaging/kafka';
import { kafkaSaslOptions, kafkaSslOptions } from '../../src/messaging/security';
import { topicName } from '../../src/messaging/topics';
import { createParts } from '../../src/runtime';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { errorTypes } from '../support/kafka-errors';
import { waitFor } from '../support/wait';

const refusedWith = async (what: Promise<unknown>, type: string): Promise<void> => {
  const err = await what.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err !== undefined, `expected the broker to refuse with ${type}, but it allowed it`);
  assert.ok(errorTypes(err).includes(type), `expected ${type}, got ${errorTypes(err).join(', ') || String(err)}`);
};

describe('the secured stack refuses what a role may not do (SASL_SSL, SCRAM-SHA-512, ACLs)', function () {
  this.timeout(300_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  const kafkas: { disconnect(): Promise<void> }[] = [];

  const as = (principal: string, overrides: Partial<Config> = {}): Config => {
    const secure = testStack().secure;
    if (secure === undefined) throw new Error('this suite needs the secured stack: run it with TEST_SECURE=1 (make test-secure)');
    return makeConfig({ ...d.config, ...secure.connection(principal), ...overrides });
  };
  // The refusals are expected: their kafkajs error lines would only be noise.
  const kafkaAs = (principal: string): Kafka => createKafka(as(principal), `test-${principal}`, silentLogger());
  /**
   * kafkajs reports a refused FindCoordinator (the first step of joining a group or beginning a
   * transaction) as "coordinator not found" and keeps the broker's error code in its debug log:
   * this client keeps those codes so a test can show what the broker answered.
   */
  const kafkaWithBrokerErrors = (principal: string): { kafka: Kafka; brokerErrors: Set<string> } => {
    const conn = as(principal);
    const brokerErrors = new Set<string>();
    const kafka = new Kafka({
      clientId: `test-${principal}`,
      brokers: [...conn.kafkaBrokers],
      ssl: kafkaSslOptions(conn),
      sasl: kafkaSaslOptions(conn),
      logLevel: logLevel.DEBUG,
      logCreator: () => (entry) => {
        const type = (entry.log.error as { type?: unknown } | undefined)?.type;
        if (typeof type === 'string') brokerErrors.add(type);
      },
    });
    return { kafka, brokerErrors };
  };

  before(async () => {
    d = await deployment(testStack(), 'secure');
    // As `coordctl acl apply` does it: the roles' ACLs for this deployment, with two frontends and two workers.
    await provisionAccess(as(SUPER_USER), testLog(), {
      roles: ['frontend', 'worker', 'reader'],
      principals: { frontend: ['frontend', 'frontend-2'], worker: ['worker', 'worker-2'] },
    });
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'access' });
    await coordinator.start();
  });

  after(async () => {
    await Promise.all(kafkas.map((k) => k.disconnect().catch(() => undefined)));
    await d?.close();
    await coordinator?.stop();
  });

  it('does not let a client without credentials connect', async () => {
    const ca = as(SUPER_USER).kafkaSslCaLocation;
    const anonymous = createKafka({ ...plaintext([testStack().brokers]), kafkaSslCaLocation: ca }, 'test-anonymous', silentLogger()).admin({ retry: { retries: 0 } });
    const err = await anonymous.connect().then(
      () => anonymous.listTopics(),
    ).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    await anonymous.disconnect().catch(() => undefined);
    assert.ok(err !== undefined, 'a client with TLS but no SASL was served');
    // The SASL_SSL listener closes a connection that skips the SASL handshake.
    assert.match(`${err.name}: ${err.message}`, /KafkaJSConnection(Closed)?Error|Closed connection|Connection (closed|error)|ECONNRESET/);
  });

  it('does not let a client with a wrong password connect', async () => {
    const admin = createKafka({ ...as('frontend'), kafkaSaslPassword: 'not-the-password' }, 'test-wrong-password', silentLogger()).admin({ retry: { retries: 0 } });
    const err = await admin.connect().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    await admin.disconnect().catch(() => undefined);
    assert.ok(err !== undefined, 'a wrong password was accepted');
    assert.match(`${err.name}: ${err.message}`, /KafkaJSSASLAuthenticationError|SASL SCRAM SHA512 authentication failed/);
  });

  describe('a frontend principal', () => {
    let client: Client;

    before(async () => {
      const config = as('frontend', { replyTopic: privateReplyTopic(d.config.topicPrefix, 'frontend') });
      const parts = createParts(config, 'test-frontend', testLog());
      client = createClient({ kafka: parts.kafka, codec: parts.codec, log: testLog(), topicPrefix: config.topicPrefix, replyTopic: config.replyTopic, askTimeoutMs: 30_000, signer: parts.signer });
      await client.start();
      kafkas.push({ disconnect: () => client.close() });
    });

    it('completes a create and a get on its own reply topic', async () => {
      const created = await client.ask('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }] });
      assert.equal(created.status, 'OK', created.message);
      const got = await client.ask('coord.v1.GetLogicalSource', { name: 'cars' });
      assert.equal(got.status, 'OK', got.message);
      assert.match(JSON.stringify(got.payload, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), /cars/);
    });

    for (const kind of ['internal.ticks', 'snapshots', 'worker-commands', 'changelog', 'replies'] as const) {
      it(`is refused writing to ${kind}`, async () => {
        const producer = kafkaAs('frontend').producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
        await producer.connect();
        kafkas.push(producer);
        await refusedWith(producer.send({ topic: topicName(d.config.topicPrefix, kind), messages: [{ key: 'k', value: 'forged' }] }), 'TOPIC_AUTHORIZATION_FAILED');
      });
    }

    it("is refused joining the coordinator's group", async () => {
      const { kafka, brokerErrors } = kafkaWithBrokerErrors('frontend');
      const consumer = kafka.consumer({ groupId: d.config.groupId, retry: { retries: 0 } });
      kafkas.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: [privateReplyTopic(d.config.topicPrefix, 'frontend')] });
      const crashed = new Promise<Error>((resolve) => consumer.on(consumer.events.CRASH, (e) => resolve(e.payload.error)));
      await consumer.run({ eachMessage: async () => undefined });
      const err = await crashed;
      assert.match(err.message, /group coordinator/i);
      assert.ok(brokerErrors.has('GROUP_AUTHORIZATION_FAILED'), `the broker's answers: ${[...brokerErrors].join(', ')}`);
    });

    it("is refused using the coordinator's transactional id", async () => {
      const { kafka, brokerErrors } = kafkaWithBrokerErrors('frontend');
      const producer = kafka.producer({ transactionalId: `${d.config.groupId}.outbox`, idempotent: true, maxInFlightRequests: 1, retry: { retries: 1 } });
      kafkas.push(producer);
      await producer.connect();
      await assert.rejects(producer.transaction());
      assert.ok(brokerErrors.has('TRANSACTIONAL_ID_AUTHORIZATION_FAILED'), `the broker's answers: ${[...brokerErrors].join(', ')}`);
    });

    it("is refused reading another frontend's reply topic", async () => {
      const consumer = kafkaAs('frontend').consumer({ groupId: `coord-client-${randomUUID()}`, retry: { retries: 0 } });
      kafkas.push(consumer);
      await consumer.connect();
      await refusedWith(consumer.subscribe({ topics: [privateReplyTopic(d.config.topicPrefix, 'frontend-2')] }), 'TOPIC_AUTHORIZATION_FAILED');
    });
  });

  it("goes on from where its reply consumer got to when the broker refused the consumer's group for a while", async () => {
    const lines: string[] = [];
    const config = as('frontend-2', { replyTopic: privateReplyTopic(d.config.topicPrefix, 'frontend-2') });
    // kafkajs's own lines about the refusals would only be noise.
    const parts = createParts(config, 'test-frontend-2', silentLogger());
    const log = createLogger('warn', { component: 'test' }, (line) => void lines.push(line));
    const client = createClient({ kafka: parts.kafka, codec: parts.codec, log, topicPrefix: config.topicPrefix, replyTopic: config.replyTopic, askTimeoutMs: 30_000, signer: parts.signer });
    await client.start();
    kafkas.push({ disconnect: () => client.close() });
    const fields = [{ name: 'id', type: 'INT64' }];
    assert.equal((await client.ask('coord.v1.CreateLogicalSource', { name: 'before-refusal', fields })).status, 'OK');

    const admin = kafkaAs(SUPER_USER).admin();
    kafkas.push(admin);
    await admin.connect();
    // The client's own groups refused (a DENY outweighs the role's ALLOW): its running consumer's next heartbeat is refused, which kafkajs gives up for good.
    const deny = {
      resourceType: AclResourceTypes.GROUP,
      resourceName: CLIENT_GROUP_PREFIX,
      resourcePatternType: ResourcePatternTypes.PREFIXED,
      principal: 'User:frontend-2',
      host: '*',
      operation: AclOperationTypes.READ,
      permissionType: AclPermissionTypes.DENY,
    };
    const replyEnd = async (): Promise<bigint> => BigInt((await admin.fetchTopicOffsets(config.replyTopic)).reduce((n, p) => n + BigInt(p.high), 0n));
    const droppedBefore = client.stats.dropped;
    await admin.createAcls({ acl: [deny] });
    let during: Promise<{ status: string; message: string }> | undefined;
    try {
      await waitFor('kafkajs to give the reply consumer up', () => lines.some((l) => l.includes('the reply consumer stopped for good')), 60_000);
      // Its reply is written while no consumer of this client reads: the next one must not skip it.
      const end = await replyEnd();
      during = client.ask('coord.v1.CreateLogicalSource', { name: 'during-refusal', fields }, { timeoutMs: 120_000 });
      during.catch(() => undefined);
      await waitFor('the reply to be written', async () => (await replyEnd()) > end, 30_000);
    } finally {
      await admin.deleteAcls({ filters: [deny] });
    }
    const reply = await during;
    assert.equal(reply.status, 'OK', reply.message);
    assert.ok(client.stats.renewals >= 1, `renewals: ${client.stats.renewals}`);
    assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'during-refusal' })).status, 'OK');
    // A new consumer that began again where the first one began would read the earlier replies a second time, and drop them.
    assert.equal(client.stats.dropped, droppedBefore, 'no reply was read twice');
  });

  it('lets a reader read the changelog and refuses it the requests', async () => {
    const admin = kafkaAs('reader').admin({ retry: { retries: 0 } });
    kafkas.push(admin);
    await admin.connect();
    assert.ok((await admin.fetchTopicOffsets(topicName(d.config.topicPrefix, 'changelog'))).length > 0);
    await refusedWith(admin.fetchTopicOffsets(topicName(d.config.topicPrefix, 'requests.catalog')), 'TOPIC_AUTHORIZATION_FAILED');
  });

  it('applies the ACLs idempotently: a second apply creates nothing', async () => {
    const again = await provisionAccess(as(SUPER_USER), testLog(), { roles: ['frontend', 'worker', 'reader'], principals: { frontend: ['frontend', 'frontend-2'], worker: ['worker', 'worker-2'] } });
    assert.equal(again.created, 0);
    assert.ok(again.present > 0);
  });
});
