import { strict as assert } from 'node:assert';
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { backoffMs, Health } from '../../src/engine/health';
import { chunksOf, createPublication, createPublisher, type Commits, type Publisher } from '../../src/engine/publisher';
import type { Outbox } from '../../src/engine/layout';
import type { Store } from '../../src/store/rocks';
import { silentLogger } from '../../src/log';
import type { Kafka } from '../../src/messaging/clients';
import { classifyProduceError, endsPublication, isPassingKafkaTrouble } from '../../src/messaging/kafka';
import type { OutRecord } from '../../src/store/outbox';

const protocol = (type: string, retriable = false): Error => Object.assign(new KafkaJSProtocolError(type), { type, retriable });
/** The broker's refusal of a transactional id, as kafkajs's retrier gives it up: non-retriable, the protocol error as its cause. */
const authorizationFailed = (): Error => {
  const cause = protocol('TRANSACTIONAL_ID_AUTHORIZATION_FAILED');
  return Object.assign(new KafkaJSNonRetriableError(cause), { cause });
};

describe('publication: what a failed produce means', () => {
  it('is fenced when another producer took our transactional id', () => {
    assert.equal(classifyProduceError(protocol('PRODUCER_FENCED')), 'fenced');
    assert.equal(classifyProduceError(protocol('INVALID_PRODUCER_EPOCH')), 'fenced');
  });

  it('finds the cause inside retries that kafkajs gave up on', () =>
    assert.equal(classifyProduceError(new KafkaJSNumberOfRetriesExceeded(protocol('INVALID_PRODUCER_EPOCH'), { retryCount: 5, retryTime: 100 })), 'fenced'));

  it('is a record refused for good when it is too large or invalid', () => {
    for (const t of ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']) assert.equal(classifyProduceError(protocol(t)), 'record-refused', t);
  });

  it('is a topic refused for good when it is gone, internal or not ours to write, even after retries', () => {
    for (const t of ['UNKNOWN_TOPIC_OR_PARTITION', 'INVALID_TOPIC_EXCEPTION', 'TOPIC_AUTHORIZATION_FAILED', 'POLICY_VIOLATION'])
      assert.equal(classifyProduceError(new KafkaJSNumberOfRetriesExceeded(protocol(t, true), { retryCount: 5, retryTime: 100 })), 'topic-refused', t);
  });

  it('is worth another try when the broker is away or a leader moves', () => {
    assert.equal(classifyProduceError(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092')), 'retriable');
    assert.equal(classifyProduceError(protocol('NOT_LEADER_FOR_PARTITION', true)), 'retriable');
    assert.equal(classifyProduceError(protocol('REQUEST_TIMED_OUT', true)), 'retriable');
    assert.equal(classifyProduceError(new Error('something else')), 'retriable');
  });

  it('is fenced for PRODUCER_FENCED, which kafkajs knows only by its code (90)', () =>
    assert.equal(classifyProduceError(Object.assign(new KafkaJSProtocolError('Unknown error code 90'), { type: 'KAFKAJS_UNKNOWN_ERROR_CODE', code: -99 })), 'fenced'));

  it('is not fenced for a message that only says so: fencing is read from the error type', () => {
    assert.equal(classifyProduceError(new KafkaJSNonRetriableError('The producer has been fenced by another producer')), 'retriable');
    assert.equal(classifyProduceError(protocol('TRANSACTION_COORDINATOR_FENCED')), 'retriable');
    assert.equal(classifyProduceError(protocol('FENCED_LEADER_EPOCH', true)), 'retriable');
    assert.equal(classifyProduceError(Object.assign(new KafkaJSProtocolError('Unknown error code 91'), { type: 'KAFKAJS_UNKNOWN_ERROR_CODE', code: -99 })), 'retriable');
  });

  it('does not call an error fenced for mentioning a word near it', () => assert.equal(classifyProduceError(new Error('epochs of history')), 'retriable'));

  it('is a refused transactional id, not a fencing, when the principal lacks its ACL; publication ends after both', () => {
    const refused = authorizationFailed();
    assert.equal(classifyProduceError(refused), 'transactional-id-refused');
    assert.equal(isPassingKafkaTrouble(refused), false);
    assert.deepStrictEqual((['fenced', 'transactional-id-refused', 'record-refused', 'topic-refused', 'retriable'] as const).filter(endsPublication), ['fenced', 'transactional-id-refused']);
  });
});

describe('publication: a principal refused its transactional id', () => {
  const refused = authorizationFailed;

  /** A cluster that refuses the transactional id when the producer takes it (the fencing) or when it sends, counting what is sent and committed. */
  const cluster = (refuses: 'fencing' | 'sends') => {
    const seen = { transactions: 0, sends: 0, commits: 0 };
    const kafka = {
      producer: () => ({
        connect: async () => undefined,
        disconnect: async () => undefined,
        transaction: async () => {
          seen.transactions++;
          if (refuses === 'fencing') throw refused();
          return {
            sendBatch: async () => {
              seen.sends++;
              throw refused();
            },
            commit: async () => void seen.commits++,
            abort: async () => undefined,
          };
        },
      }),
      admin: () => ({ connect: async () => undefined, disconnect: async () => undefined, listTopics: async () => ['coord.replies'] }),
    } as unknown as Kafka;
    const publisher = createPublisher({
      kafka,
      log: silentLogger(),
      health: new Health(() => 0),
      transactionalId: 'coord-coordinator.outbox',
      dlqTopic: 'coord.dlq',
      protectedTopics: new Set(),
      maxRequestBytes: 1_000_000,
      mayPublish: () => true,
    });
    return { seen, publisher };
  };

  const record: OutRecord = { topic: 'coord.replies', key: 'c1', value: Buffer.from('r'), headers: {} };
  const saysWhichAcl = { code: 'TRANSACTIONAL_ID_FORBIDDEN', message: /TRANSACTIONAL_ID_AUTHORIZATION_FAILED.*not a fencing.*WRITE and DESCRIBE transactional id coord-coordinator\.outbox/ };

  it('says so at the fencing, naming the ACL to grant, not that another instance fenced it', async () => {
    const { publisher } = cluster('fencing');
    await assert.rejects(publisher.fence(), saysWhichAcl);
  });

  it('publishes nothing when its sends are refused, and stops at once: no retry, no record set aside, nothing committed', async () => {
    const { seen, publisher } = cluster('sends');
    await publisher.fence();
    await assert.rejects(publisher.publish([record], 'coord.snapshots', {}, {}), saysWhichAcl);
    assert.deepStrictEqual(seen, { transactions: 2, sends: 1, commits: 0 }, 'the fencing, then one send refused');
    assert.deepStrictEqual(publisher.setAside, {});
  });
});

describe('activation: which failures of a step are tried again', () => {
  it('tries again when a broker is away, a leader moved or a request timed out, even after kafkajs gave up', () => {
    assert.ok(isPassingKafkaTrouble(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092')));
    assert.ok(isPassingKafkaTrouble(protocol('NOT_LEADER_FOR_PARTITION', true)), 'the ListOffsets a restarted controller answered');
    assert.ok(isPassingKafkaTrouble(new KafkaJSNumberOfRetriesExceeded(protocol('COORDINATOR_NOT_AVAILABLE', true), { retryCount: 5, retryTime: 100 })));
  });

  it("does not for a fencing, a refusal for good, or an error that is not the cluster's", () => {
    assert.equal(isPassingKafkaTrouble(new KafkaJSNumberOfRetriesExceeded(protocol('INVALID_PRODUCER_EPOCH'), { retryCount: 5, retryTime: 100 })), false);
    assert.equal(isPassingKafkaTrouble(protocol('TOPIC_AUTHORIZATION_FAILED')), false);
    assert.equal(isPassingKafkaTrouble(new Error('catching up diverged at snapshot 7')), false);
  });
});

describe('publication: produce requests sized to the broker', () => {
  const rec = (bytes: number, topic = 't'): OutRecord => ({ topic, key: 'k', value: Buffer.alloc(bytes), headers: { seq: '0' } });

  it('keeps records in order, each request within the budget', () => {
    const records = Array.from({ length: 10 }, () => rec(300));
    const chunks = chunksOf(records, 1_000);
    assert.deepStrictEqual(chunks.flat(), records, 'every record once, in order');
    assert.ok(chunks.length >= 4);
    for (const c of chunks) assert.ok(c.length <= 2, 'at most what fits in 1 000 bytes');
  });

  it('sends a record heavier than the budget alone', () => {
    const chunks = chunksOf([rec(10), rec(5_000), rec(10)], 1_000);
    assert.deepStrictEqual(
      chunks.map((c) => c.map((r) => r.value?.length)),
      [[10], [5_000], [10]],
    );
  });

  it('makes one request of a snapshot that fits', () => assert.equal(chunksOf([rec(10), rec(10, 'u')], 1_000_000).length, 1));
});

describe('health: troubles retried through', () => {
  it('counts a trouble as stalled only once it lasts the threshold', () => {
    let now = 1_000;
    const h = new Health(() => now);
    h.failing('publish', 'broker away');
    assert.deepStrictEqual(h.stalled(500), []);
    now += 600;
    h.failing('publish', 'still away');
    const [t] = h.stalled(500);
    assert.equal(t.kind, 'publish');
    assert.equal(t.sinceMs, 1_000, 'since the first failure of the run');
    assert.equal(t.attempts, 2);
    assert.equal(t.error, 'still away');
    h.ok('publish');
    assert.deepStrictEqual(h.stalled(0), []);
    assert.equal(h.retries.publish, 2, 'the count stays for /metrics');
  });

  it('counts a trouble of the environment at once: retrying does not mend it', () => {
    const h = new Health(() => 0);
    h.failing('environment', 'topic recreated');
    assert.equal(h.stalled(60_000).length, 1);
  });

  it('backs off exponentially up to a ceiling', () => {
    assert.equal(backoffMs(1), 100);
    assert.equal(backoffMs(2), 200);
    assert.equal(backoffMs(30), 5_000);
  });
});

describe('publication: deletes of published outboxes beside the next transaction', () => {
  /** A deferred: a promise and the hands that settle it. */
  const deferred = <T>() => {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  };
  const outbox = (n: number): Outbox => ({ key: `o/${n}`, records: [{ topic: 'coord.snapshots', key: String(n), value: Buffer.from('m'), headers: {} }] });
  const settle = () => new Promise((r) => setImmediate(r));

  /** A publication whose transactions and store writes finish when the test says, logging what happens in order. */
  const world = () => {
    const events: string[] = [];
    const sends: { n: string; done: ReturnType<typeof deferred<bigint | undefined>> }[] = [];
    const writes: { deletes: string; done: ReturnType<typeof deferred<void>> }[] = [];
    const failures: unknown[] = [];
    const caught: Commits[] = [];
    const publisher = {
      fence: async () => undefined,
      close: async () => undefined,
      setAside: {},
      publish: (records: readonly OutRecord[]) => {
        const n = records.map((r) => r.key).join(',');
        events.push(`publish ${n}`);
        const done = deferred<bigint | undefined>();
        sends.push({ n, done });
        return done.promise;
      },
    } as unknown as Publisher;
    const publication = createPublication({
      publisher,
      store: {} as Store,
      log: silentLogger(),
      snapshotsTopic: 'coord.snapshots',
      write: (ops) => {
        const deletes = (ops.deletes ?? []).join(',');
        events.push(`write ${deletes}`);
        const done = deferred<void>();
        writes.push({ deletes, done });
        return done.promise.then(() => void events.push(`written ${deletes}`));
      },
      generation: () => 1,
      lag: () => 0n,
      stoodDown: () => false,
      failed: (err) => void failures.push(err),
      caughtUp: (commits) => void caught.push(commits),
    });
    return { events, sends, writes, failures, caught, publication };
  };

  /** Snapshots 1 and 2 committed: 1 published and its delete begun, 2 being published. */
  const oneOutTwoGoing = async () => {
    const w = world();
    await w.publication.enqueue(outbox(1), []);
    await w.publication.enqueue(outbox(2), []);
    await settle();
    w.sends[0].done.resolve(10n);
    await settle();
    return w;
  };

  it('begins the next transaction before the last one’s delete is written, and writes the deletes in order', async () => {
    const w = await oneOutTwoGoing();
    assert.deepStrictEqual([...w.events].sort(), ['publish 1', 'publish 2', 'write o/1'], 'snapshot 2 goes out while o/1 is deleted');
    w.sends[1].done.resolve(11n);
    await settle();
    assert.deepStrictEqual(w.events.slice(3), [], 'the delete of o/2 waits for the one of o/1');
    let published = false;
    void w.publication.published().then(() => (published = true));
    w.writes[0].done.resolve();
    await settle();
    assert.deepStrictEqual(w.events.slice(3), ['written o/1', 'write o/2']);
    assert.equal(published, false, 'published() waits for every delete');
    w.writes[1].done.resolve();
    await w.publication.published();
    assert.deepStrictEqual(w.events.slice(5), ['written o/2']);
    assert.deepStrictEqual(w.failures, []);
  });

  it('reports the offsets of every partition the published passes read, not only the last pass’s', async () => {
    const w = world();
    const at = (topic: string, offset: string) => ({ topic, partition: 0, offset });
    await w.publication.enqueue(outbox(1), [at('requests', '5'), at('ticks', '3')]);
    await settle();
    // Snapshots 2 and 3 wait behind snapshot 1 and go out together; each read one partition.
    await w.publication.enqueue(outbox(2), [at('requests', '7')]);
    await w.publication.enqueue(outbox(3), [at('events', '9')]);
    w.sends[0].done.resolve(10n);
    await settle();
    w.sends[1].done.resolve(12n);
    for (const x of w.writes) x.done.resolve();
    await settle();
    for (const x of w.writes) x.done.resolve();
    await w.publication.published();
    assert.deepStrictEqual(w.sends.map((x) => x.n), ['1', '2,3']);
    assert.deepStrictEqual(w.caught.at(-1), [at('requests', '7'), at('ticks', '3'), at('events', '9')]);
    assert.deepStrictEqual(w.failures, []);
  });

  it('publishes an outbox queued while the last deletes were written', async () => {
    const w = world();
    await w.publication.enqueue(outbox(1), []);
    await settle();
    w.sends[0].done.resolve(10n);
    await settle();
    // The queue is empty; the drain waits for the delete of o/1 when snapshot 2 is committed.
    await w.publication.enqueue(outbox(2), []);
    w.writes[0].done.resolve();
    await settle();
    await settle();
    assert.deepStrictEqual(w.events, ['publish 1', 'write o/1', 'written o/1', 'publish 2']);
    w.sends[1].done.resolve(11n);
    await settle();
    w.writes[1].done.resolve();
    await w.publication.published();
    assert.deepStrictEqual(w.failures, []);
  });

  it('ends the drain at a failed publication: what is queued behind it waits, and published() still waits for the deletes begun', async () => {
    const w = await oneOutTwoGoing();
    await w.publication.enqueue(outbox(3), []);
    assert.deepStrictEqual(w.sends.map((x) => x.n), ['1', '2'], 'snapshot 3 is queued behind the publication of snapshot 2');
    const refused = new Error('no longer the active one');
    w.sends[1].done.reject(refused);
    let published = false;
    void w.publication.published().then(() => (published = true));
    await settle();
    await settle();
    assert.deepStrictEqual(w.failures, [refused]);
    assert.equal(published, false, 'the delete of o/1 is still being written');
    w.writes[0].done.resolve();
    await settle();
    assert.equal(published, true);
    assert.deepStrictEqual(w.sends.map((x) => x.n), ['1', '2'], 'snapshot 3 never goes out before snapshot 2');
  });

  it('fails on a delete that cannot be written, and publishes nothing queued after it learnt so', async () => {
    const w = await oneOutTwoGoing();
    const broken = new Error('the store refuses writes');
    w.writes[0].done.reject(broken);
    await settle();
    await w.publication.enqueue(outbox(3), []);
    w.sends[1].done.resolve(11n);
    await w.publication.published();
    assert.deepStrictEqual(w.failures, [broken]);
    assert.deepStrictEqual([...w.events].sort(), ['publish 1', 'publish 2', 'write o/1'], 'neither o/2’s delete nor snapshot 3 after the failure');
  });
});
