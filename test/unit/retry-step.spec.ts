import { strict as assert } from 'node:assert';
import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { CoordError } from '../../src/errors';
import { createLogger } from '../../src/log';
import { Health } from '../../src/engine/health';
import { MOOT, retryWhilePassing } from '../../src/engine/retry-step';

const log = createLogger('error', { component: 'test' });
const notLeader = (): Error => Object.assign(new KafkaJSProtocolError('This server is not the leader for that topic-partition'), { type: 'NOT_LEADER_FOR_PARTITION', retriable: true });

describe('an activation step tried again while the trouble passes', () => {
  it('tries a step Kafka failed for a passing reason again, shows it on /readyz meanwhile, and clears it once it succeeds', async () => {
    const health = new Health();
    const seen: string[] = [];
    const out = await retryWhilePassing({ health, log, moot: () => false, mayFence: () => true, maxWaitMs: 10 }, 'log ends', async (tries) => {
      if (tries === 1) throw notLeader();
      if (tries === 2) {
        seen.push(JSON.stringify(health.all().map((t) => [t.kind, t.error.slice(0, 9)])));
        throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
      }
      return 'ends';
    });
    assert.equal(out, 'ends');
    assert.deepEqual(seen, ['[["activation","log ends:"]]'], 'the problem names the step while it lasts');
    assert.deepEqual(health.all(), [], 'and is gone once the step succeeds');
  });

  it('waits for a registry that does not answer under its own problem', async () => {
    const health = new Health();
    let kinds: string[] = [];
    await retryWhilePassing({ health, log, moot: () => false, mayFence: () => true, maxWaitMs: 10 }, 'catch-up', async (tries) => {
      if (tries === 1) throw new CoordError('SCHEMA_REGISTRY', 'registry unreachable');
      kinds = health.all().map((t) => t.kind);
    });
    assert.deepEqual(kinds, ['registry']);
    assert.deepEqual(health.all(), []);
  });

  it('throws at once what is not passing: a fencing, a divergence', async () => {
    const health = new Health();
    const fenced = new KafkaJSNumberOfRetriesExceeded(Object.assign(new KafkaJSProtocolError('fenced'), { type: 'INVALID_PRODUCER_EPOCH' }), { retryCount: 5, retryTime: 100 });
    let calls = 0;
    await assert.rejects(
      retryWhilePassing({ health, log, moot: () => false, mayFence: () => true, maxWaitMs: 10 }, 'catch-up', async () => {
        calls++;
        throw fenced;
      }),
      (err) => err === fenced,
    );
    assert.equal(calls, 1);
    await assert.rejects(retryWhilePassing({ health, log, moot: () => false, mayFence: () => true }, 'catch-up', async () => Promise.reject(new Error('catching up diverged at snapshot 7'))), /diverged/);
  });

  it('ends quietly once the attempt is moot, whatever failed, and leaves no problem behind', async () => {
    const health = new Health();
    let moot = false;
    const out = await retryWhilePassing({ health, log, moot: () => moot, mayFence: () => true, maxWaitMs: 10 }, 'catch-up', async (tries) => {
      if (tries === 2) moot = true;
      throw tries === 1 ? notLeader() : new Error('anything at all');
    });
    assert.equal(out, MOOT);
    assert.deepEqual(health.all(), []);
  });

  it('does not try again, so does not fence again, until the group has confirmed the member', async () => {
    const health = new Health();
    let confirmed = false;
    const tried: number[] = [];
    const started = Date.now();
    setTimeout(() => (confirmed = true), 700);
    await retryWhilePassing({ health, log, moot: () => false, mayFence: () => confirmed, maxWaitMs: 10 }, 'catch-up', async (tries) => {
      tried.push(Date.now() - started);
      if (tries === 1) throw notLeader();
    });
    assert.equal(tried.length, 2);
    assert.ok(tried[1] >= 650, `the second try came ${tried[1]} ms after the first, before the group's word`);
  });
});
