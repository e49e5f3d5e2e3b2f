import { strict as assert } from 'node:assert';
import { changelogTopic } from '../../src/messaging/changelog';
import { formatPlan, planAcls, ROLES, type PlannedAcl } from '../../src/messaging/acl';
import { topicName } from '../../src/messaging/topics';

const scope = { topicPrefix: 'coord', groupId: 'coord-coordinator' };

/** Whether `acl` grants `op` on the topic named `topic`, as the broker matches literal and prefixed patterns. */
const grants = (acl: PlannedAcl, resource: PlannedAcl['resource'], name: string, op: PlannedAcl['operation']): boolean =>
  acl.resource === resource && acl.operation === op && (acl.pattern === 'LITERAL' ? acl.name === name : name.startsWith(acl.name));

const allowed = (plan: readonly PlannedAcl[], principal: string, resource: PlannedAcl['resource'], name: string, op: PlannedAcl['operation']): boolean =>
  plan.some((a) => a.principal === principal && grants(a, resource, name, op));

describe('the least-privilege ACL plan', () => {
  const plan = planAcls(scope, { principals: { frontend: ['alice', 'alice2'], worker: ['w1', 'w2'] } });
  const others = ['alice', 'alice2', 'w1', 'w2', 'reader'];

  it('lets nobody but the coordinator write ticks, snapshots, worker commands, the changelog or replies', () => {
    for (const kind of ['internal.ticks', 'snapshots', 'worker-commands', 'changelog', 'replies', 'dlq'] as const) {
      assert.ok(allowed(plan, 'coordinator', 'TOPIC', topicName('coord', kind), 'WRITE'), kind);
      for (const p of others) assert.ok(!allowed(plan, p, 'TOPIC', topicName('coord', kind), 'WRITE'), `${p} may write ${kind}`);
    }
  });

  it("lets nobody but the coordinator join its group or use its transactional id", () => {
    assert.ok(allowed(plan, 'coordinator', 'GROUP', 'coord-coordinator', 'READ'));
    assert.ok(allowed(plan, 'coordinator', 'TRANSACTIONAL_ID', 'coord-coordinator.outbox', 'WRITE'));
    for (const p of others) {
      assert.ok(!allowed(plan, p, 'GROUP', 'coord-coordinator', 'READ'), p);
      assert.ok(!allowed(plan, p, 'TRANSACTIONAL_ID', 'coord-coordinator.outbox', 'WRITE'), p);
      assert.ok(!allowed(plan, p, 'TRANSACTIONAL_ID', 'coord-coordinator.outbox', 'DESCRIBE'), p);
    }
  });

  it("gives each frontend its own reply topics and not another's, even when one name starts with the other", () => {
    assert.ok(allowed(plan, 'alice', 'TOPIC', 'coord.replies.alice', 'READ'));
    assert.ok(allowed(plan, 'alice', 'TOPIC', 'coord.replies.alice.cli', 'READ'));
    assert.ok(!allowed(plan, 'alice', 'TOPIC', 'coord.replies.alice2', 'READ'));
    assert.ok(!allowed(plan, 'alice2', 'TOPIC', 'coord.replies.alice', 'READ'));
    assert.ok(!allowed(plan, 'alice', 'TOPIC', 'coord.replies', 'READ'));
  });

  it('lets frontends write requests and session events, workers infrastructure events and system requests, readers only read (and their tables’ settings)', () => {
    for (const k of ['requests.catalog', 'requests.query', 'requests.system', 'events.session'] as const) assert.ok(allowed(plan, 'alice', 'TOPIC', topicName('coord', k), 'WRITE'), k);
    assert.ok(!allowed(plan, 'alice', 'TOPIC', topicName('coord', 'events.infra'), 'WRITE'));
    assert.ok(allowed(plan, 'w1', 'TOPIC', topicName('coord', 'events.infra'), 'WRITE'));
    assert.ok(allowed(plan, 'w1', 'TOPIC', topicName('coord', 'requests.system'), 'WRITE'));
    assert.ok(allowed(plan, 'w1', 'TOPIC', topicName('coord', 'worker-commands'), 'READ'));
    assert.ok(!allowed(plan, 'w1', 'TOPIC', topicName('coord', 'requests.query'), 'WRITE'));
    assert.ok(allowed(plan, 'reader', 'TOPIC', topicName('coord', 'changelog'), 'READ'));
    assert.ok(allowed(plan, 'reader', 'TOPIC', topicName('coord', 'snapshots'), 'READ'));
    // Nothing but reading, and the tables' settings (their compaction lag says how far back a table as of a time is exact).
    assert.ok(allowed(plan, 'reader', 'TOPIC', changelogTopic('coord', 'query'), 'DESCRIBE_CONFIGS'));
    assert.ok(!allowed(plan, 'reader', 'TOPIC', topicName('coord', 'requests.query'), 'DESCRIBE_CONFIGS'));
    assert.ok(!plan.some((a) => a.principal === 'reader' && a.operation !== 'READ' && a.operation !== 'DESCRIBE' && !(a.operation === 'DESCRIBE_CONFIGS' && a.name === 'coord.changelog.')));
  });

  it('gives the admin, a super user, no ACL; --role narrows the plan to one role', () => {
    assert.ok(!plan.some((a) => a.role === 'admin'));
    const one = planAcls(scope, { roles: ['reader'] });
    assert.deepEqual([...new Set(one.map((a) => a.role))], ['reader']);
    assert.deepEqual(new Set(planAcls(scope).map((a) => a.role)), new Set(ROLES.filter((r) => r !== 'admin')));
  });

  it('prints one rule a line under a header', () => {
    const lines = formatPlan(planAcls(scope, { roles: ['reader'] })).split('\n');
    assert.match(lines[0], /^ROLE\s+PRINCIPAL\s+RESOURCE\s+PATTERN\s+NAME\s+OPERATION$/);
    assert.equal(lines.length, 1 + planAcls(scope, { roles: ['reader'] }).length);
    assert.match(lines[1], /^reader\s+User:reader\s+TOPIC\s+LITERAL\s+coord\.changelog\s+READ$/);
  });
});
