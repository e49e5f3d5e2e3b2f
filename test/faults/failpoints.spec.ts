import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { Client } from '../../src/client/client';
import type { FailPointName } from '../../src/engine/failpoints';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { withAdmin } from '../../src/messaging/clients';
import { notOk, steadyLoad } from '../support/load';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { startProbe } from './probe';
import { recordUnavailability } from './report';
import { assertVerdict } from './verdict';

/** SOAK=1 repeats each scenario; the short form runs each once. */
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? (process.env.SOAK === '1' ? 5 : 1));
const REQUESTS = Number(process.env.FAULT_REQUESTS ?? (process.env.SOAK === '1' ? 400 : 80));
const env = { COORD_SESSION_TIMEOUT_MS: '6000' };

const fired = (c: CoordinatorProcess, point: FailPointName): boolean => readFileSync(c.logFile, 'utf8').includes(`"point":"${point}"`);

/**
 * One scenario: a client asks steadily; the armed instance crashes at the point; recovery is a
 * restart of the same instance, or a standby that takes over. `standby` arms the standby, which
 * reaches the point only once the active is killed under it.
 */
interface Scenario {
  readonly point: FailPointName;
  readonly spec: string;
  /** Which instance carries the armed point. */
  readonly armed: 'active' | 'standby';
  /** How service comes back after the crash: `restart` starts the crashed one again unarmed; `takeover` leaves it to the other. */
  readonly recover: 'restart' | 'takeover' | 'restart-old-active';
  readonly what: string;
}

const SCENARIOS: Scenario[] = [
  { point: 'commit.before-publish', spec: 'crash@25', armed: 'active', recover: 'restart', what: 'after a pass is committed, before it is published; the same instance restarts' },
  { point: 'publish.before-outbox-clear', spec: 'crash@10', armed: 'active', recover: 'takeover', what: 'after a publication, before its outbox is cleared; the standby takes over' },
  { point: 'catch-up.mid', spec: 'crash@3', armed: 'standby', recover: 'restart', what: 'in the middle of a standby catching up; it restarts and resumes the catch-up' },
  { point: 'activation.after-fence', spec: 'crash', armed: 'standby', recover: 'restart-old-active', what: 'between an activation fencing and its first pass; the old active comes back' },
];

describe('fail points: a crash at each one, under load', function () {
  this.timeout(900_000);

  for (const s of SCENARIOS)
    for (let round = 1; round <= ROUNDS; round++)
      describe(`${s.point}${ROUNDS > 1 ? ` (round ${round})` : ''}`, () => {
        let d: Deployment;
        let a: CoordinatorProcess;
        let b: CoordinatorProcess;
        let client: Client;

        before(async () => {
          d = await deployment(testStack(), `fp-${s.point.replace(/\./g, '-')}`);
          a = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${d.config.topicPrefix}-a`, env });
          b = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${d.config.topicPrefix}-b`, env });
          await a.start(s.armed === 'active' ? { COORD_FAILPOINTS: `${s.point}=${s.spec}` } : {});
          if (s.armed === 'standby' || s.recover === 'takeover') {
            void b.start(s.armed === 'standby' ? { COORD_FAILPOINTS: `${s.point}=${s.spec}` } : {}).catch(() => undefined);
            await waitFor('the second instance to stand by', async () => (await b.status())?.role === 'standby', 90_000);
          }
          client = await d.client();
        });

        after(async () => {
          await d?.close();
          await Promise.all([a?.stop(), b?.stop()]);
        });

        it(`crash ${s.what}: every request one effect, no reply lost, replay identical`, async () => {
          const probe = startProbe(client);
          const load = steadyLoad(client, `fp${round}`, REQUESTS);
          const armed = s.armed === 'active' ? a : b;
          let faultAt: number | undefined;
          if (s.armed === 'standby') {
            // The active dies under load; the standby reaches the point while it activates.
            await waitFor('load under way', () => load.sent > REQUESTS / 4, 120_000);
            faultAt = Date.now();
            await a.kill();
          }
          await Promise.race([armed.ended(), load.done.then(() => assert.fail(`the load finished before ${s.point} fired`))]);
          const crashedAt = faultAt ?? Date.now();
          assert.ok(fired(armed, s.point), `the process ended at ${s.point} (see ${armed.logFile})`);

          let serving: CoordinatorProcess;
          if (s.recover === 'restart') {
            await armed.start({ COORD_FAILPOINTS: '' });
            serving = armed;
          } else if (s.recover === 'takeover') {
            await waitFor('the standby to take over', async () => (await b.readyz()) === 200, 120_000);
            serving = b;
          } else {
            await a.start({ COORD_FAILPOINTS: '' });
            serving = a;
          }
          const replies = await load.done;
          await probe.stop();
          const gap = probe.longestGapSince(crashedAt);
          recordUnavailability(`fail point ${s.point} (${s.recover})`, gap);
          console.log(`      longest time a client went unanswered: ${gap} ms`);
          await waitFor('the serving instance to be active', async () => (await serving.status())?.role === 'active', 60_000);
          await assertVerdict(d, client, serving.httpUrl, load.names, replies);
        });
      });
});

describe('a consumer that goes silent inside kafkajs, under load', function () {
  this.timeout(600_000);
  let d: Deployment;
  let a: CoordinatorProcess;
  let client: Client;

  before(async () => {
    d = await deployment(testStack(), 'fp-group-silent');
    a = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: `${d.config.topicPrefix}-a`, env });
    // The 20th heartbeat's answer is the last the instance hears from that consumer: it publishes nothing more, and waits.
    await a.start({ COORD_FAILPOINTS: 'group.heartbeat=lose@20' });
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    await a?.stop();
  });

  it('gives the silent consumer up once two rebalances and a session passed without a word, joins again, and serves: every request one effect, replay identical', async () => {
    const probe = startProbe(client);
    await waitFor('the fail point to fire', async () => fired(a, 'group.heartbeat'), 120_000);
    const silentFrom = Date.now();
    // Asked over the silence and past its deadline (2 × 35 s + 6 s), and over the new consumer's join.
    const load = steadyLoad(client, 'silent', REQUESTS, { senders: 2, gapMs: 2_500 });
    const replies = await load.done;
    await probe.stop();
    const log = readFileSync(a.logFile, 'utf8');
    const gaveUp = log.split('\n').find((l) => l.includes('no word from the group for longer than a rebalance may take'));
    assert.ok(gaveUp !== undefined, `the instance gave the silent consumer up (see ${a.logFile})`);
    const silentMs = (JSON.parse(gaveUp) as { silentMs: number }).silentMs;
    assert.ok(silentMs > 76_000 && silentMs < 80_000, `given up at the deadline, not before nor long after: ${silentMs} ms`);
    const gap = probe.longestGapSince(silentFrom);
    recordUnavailability('a consumer silent inside kafkajs', gap);
    console.log(`      given up after ${silentMs} ms of silence; longest time a client went unanswered: ${gap} ms`);
    await waitFor('the instance to serve under its new consumer', async () => (await a.status())?.role === 'active', 60_000);
    const status = await a.status();
    assert.ok((status?.retries.consumer ?? 0) >= 1, `the consumer given up is counted on /readyz: ${JSON.stringify(status?.retries)}`);
    // The consumer given up left the group: a member nobody listens to could be chosen active.
    const members = await withAdmin(d.parts.kafka, async (admin) => (await admin.describeGroups([d.config.groupId])).groups[0].members.length);
    assert.equal(members, 1, 'the group has one member: the new consumer');
    assert.equal(a.exited, false, 'the instance was never restarted');
    assert.deepEqual(notOk(replies), [], 'every create took effect exactly once');
    await assertVerdict(d, client, a.httpUrl, load.names, replies);
  });
});
