/**
 * Least-privilege ACLs per role: the plan (pure, printed by `coordctl acl plan`) and its
 * application through the admin API (`coordctl acl apply`), which creates only what is missing.
 */
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, type Admin, type AclEntry } from 'kafkajs';
import { CoordError } from '../errors';
import { topicName, type TopicKind } from './topics';

export const ROLES = ['coordinator', 'worker', 'frontend', 'reader', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const isRole = (s: string): s is Role => (ROLES as readonly string[]).includes(s);

export type AclResource = 'TOPIC' | 'GROUP' | 'TRANSACTIONAL_ID' | 'CLUSTER';
export type AclPattern = 'LITERAL' | 'PREFIXED';
export type AclOperation = 'READ' | 'WRITE' | 'CREATE' | 'DESCRIBE' | 'DESCRIBE_CONFIGS' | 'IDEMPOTENT_WRITE';

/** One ALLOW rule, from any host. */
export interface PlannedAcl {
  readonly role: Role;
  readonly principal: string;
  readonly resource: AclResource;
  readonly pattern: AclPattern;
  readonly name: string;
  readonly operation: AclOperation;
}

export interface AclScope {
  readonly topicPrefix: string;
  /** The coordinator's consumer group; its transactional ids start with it too. */
  readonly groupId: string;
}

/** Reply topic of one principal: prefixed ACLs on it keep one frontend from reading another's replies. */
export const privateReplyTopic = (topicPrefix: string, principal: string): string => `${topicPrefix}.replies.${principal}`;

/** Whether a principal is named for `role`, as the secured stack names them (`worker`, `worker-2`, …). */
export const namedFor = (principal: string, role: Role): boolean => principal === role || principal.startsWith(`${role}-`);

/**
 * The reply topic a principal of the frontend or worker role (`frontend`, `worker-2`, …) reads,
 * the only one its ACLs let it read; undefined for any other principal.
 */
export const ownReplyTopic = (topicPrefix: string, principal: string): string | undefined =>
  namedFor(principal, 'frontend') || namedFor(principal, 'worker') ? privateReplyTopic(topicPrefix, principal) : undefined;

/** Group ids the tools choose (clients, tail, replay); a role's consumers may only use their own family. */
export const CLIENT_GROUP_PREFIX = 'coord-client-';
export const TAIL_GROUP_PREFIX = 'coordctl-tail-';
export const REPLAY_GROUP_PREFIX = 'coord-replay-';
/** `coordctl changelog table` reads a table topic under a group of its own. */
export const TABLE_GROUP_PREFIX = 'coord-table-';
/** A standby follows the log under a group of its own, named after the coordinator's (src/engine/follower.ts). */
export const followerGroupPrefix = (groupId: string): string => `${groupId}.follower.`;

type Rule = Omit<PlannedAcl, 'role' | 'principal'>;

const topic = (pattern: AclPattern, name: string, ...ops: AclOperation[]): Rule[] => ops.map((operation) => ({ resource: 'TOPIC', pattern, name, operation }));
const group = (pattern: AclPattern, name: string): Rule[] => [{ resource: 'GROUP', pattern, name, operation: 'READ' }];

/**
 * The principal's own reply topic, and any under it (`<prefix>.replies.<principal>.<more>`): the
 * dot keeps `alice` from matching `alice2`'s topics.
 */
const replyTopicRules = (prefix: string, principal: string): Rule[] => [
  ...topic('LITERAL', privateReplyTopic(prefix, principal), 'READ', 'DESCRIBE'),
  ...topic('PREFIXED', `${privateReplyTopic(prefix, principal)}.`, 'READ', 'DESCRIBE'),
];

/** The rules of one role for one principal; the admin is a super user and needs none. */
export const roleRules = (role: Role, principal: string, s: AclScope): Rule[] => {
  const t = (kind: TopicKind): string => topicName(s.topicPrefix, kind);
  switch (role) {
    case 'coordinator':
      // Its inputs, its outputs and the reply topics all live under the prefix; it creates missing ones at start.
      return [
        ...topic('PREFIXED', `${s.topicPrefix}.`, 'READ', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'CREATE'),
        ...group('LITERAL', s.groupId),
        ...group('PREFIXED', REPLAY_GROUP_PREFIX),
        ...group('PREFIXED', followerGroupPrefix(s.groupId)),
        { resource: 'TRANSACTIONAL_ID', pattern: 'PREFIXED', name: `${s.groupId}.`, operation: 'WRITE' },
        { resource: 'TRANSACTIONAL_ID', pattern: 'PREFIXED', name: `${s.groupId}.`, operation: 'DESCRIBE' },
        { resource: 'CLUSTER', pattern: 'LITERAL', name: 'kafka-cluster', operation: 'IDEMPOTENT_WRITE' },
      ];
    case 'worker':
      return [
        ...topic('LITERAL', t('events.infra'), 'WRITE', 'DESCRIBE'),
        ...topic('LITERAL', t('requests.system'), 'WRITE', 'DESCRIBE'),
        ...topic('LITERAL', t('worker-commands'), 'READ', 'DESCRIBE'),
        ...replyTopicRules(s.topicPrefix, principal),
        ...group('PREFIXED', `${s.topicPrefix}.worker.`),
        ...group('PREFIXED', CLIENT_GROUP_PREFIX),
      ];
    case 'frontend':
      return [
        ...(['requests.catalog', 'requests.query', 'requests.system', 'events.session'] as const).flatMap((k) => topic('LITERAL', t(k), 'WRITE', 'DESCRIBE')),
        ...replyTopicRules(s.topicPrefix, principal),
        // The client's optional throttle reads the coordinator's published lag from the markers.
        ...topic('LITERAL', t('snapshots'), 'READ', 'DESCRIBE'),
        ...group('PREFIXED', CLIENT_GROUP_PREFIX),
      ];
    case 'reader':
      return [
        ...topic('LITERAL', t('changelog'), 'READ', 'DESCRIBE'),
        // The changelog's tables, one compacted topic per entity type; their settings say how far back a table as of a time is exact.
        ...topic('PREFIXED', `${t('changelog')}.`, 'READ', 'DESCRIBE', 'DESCRIBE_CONFIGS'),
        ...topic('LITERAL', t('snapshots'), 'READ', 'DESCRIBE'),
        ...group('PREFIXED', TAIL_GROUP_PREFIX),
        ...group('PREFIXED', TABLE_GROUP_PREFIX),
        ...group('PREFIXED', `${s.topicPrefix}.reader.`),
      ];
    case 'admin':
      return [];
    default: {
      const never: never = role;
      return never;
    }
  }
};

/** The plan for the given roles, each role's principal named after it unless `principals` says otherwise. */
export const planAcls = (s: AclScope, opts: { roles?: readonly Role[]; principals?: Partial<Record<Role, readonly string[]>> } = {}): PlannedAcl[] =>
  (opts.roles ?? ROLES).flatMap((role) => (opts.principals?.[role] ?? [role]).flatMap((principal) => roleRules(role, principal, s).map((r) => ({ role, principal, ...r }))));

const toEntry = (a: PlannedAcl): AclEntry => ({
  resourceType: AclResourceTypes[a.resource],
  resourceName: a.name,
  resourcePatternType: ResourcePatternTypes[a.pattern],
  principal: `User:${a.principal}`,
  host: '*',
  operation: AclOperationTypes[a.operation],
  permissionType: AclPermissionTypes.ALLOW,
});

const entryKey = (e: AclEntry): string => [e.resourceType, e.resourcePatternType, e.resourceName, e.principal, e.host, e.operation, e.permissionType].join('|');

/** What the broker already allows, as comparable keys. */
const existingAcls = async (admin: Admin): Promise<Set<string>> => {
  const res = await admin.describeAcls({
    resourceType: AclResourceTypes.ANY,
    resourcePatternType: ResourcePatternTypes.ANY,
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ANY,
  });
  const keys = new Set<string>();
  for (const r of res.resources) for (const a of r.acls) keys.add(entryKey({ ...r, ...a }));
  return keys;
};

/** Creates the planned ACLs the broker does not have yet; a second run creates nothing. */
export const applyAcls = async (admin: Admin, plan: readonly PlannedAcl[]): Promise<{ created: number; present: number }> => {
  const have = await existingAcls(admin);
  const missing = [...new Map(plan.map(toEntry).filter((e) => !have.has(entryKey(e))).map((e) => [entryKey(e), e])).values()];
  if (missing.length > 0) {
    try {
      await admin.createAcls({ acl: missing });
    } catch (err) {
      throw new CoordError('ACL_APPLY_FAILED', `the broker refused to create ${missing.length} ACLs (is this principal a super user or allowed ALTER on the cluster?): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return { created: missing.length, present: plan.length - missing.length };
};

/** The plan as a table, one rule a line. */
export const formatPlan = (plan: readonly PlannedAcl[]): string => {
  const rows = [['ROLE', 'PRINCIPAL', 'RESOURCE', 'PATTERN', 'NAME', 'OPERATION'], ...plan.map((a) => [a.role, `User:${a.principal}`, a.resource, a.pattern, a.name, a.operation])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
};
