/** `coordctl acl plan [--role R] [--principal NAME]` and `coordctl acl apply ...`: least-privilege ACLs per role. */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { formatPlan, isRole, planAcls, ROLES, type Role } from '../messaging/acl';
import { projectRoot } from '../messaging/schemas';
import { UsageError } from './commands';
import { provisionAccess } from './secure-infra';
import { envWithRunFile } from './serve';

const USAGE = `coordctl acl plan [--role ROLE] [--principal NAME]... [--json]
                       print the ACLs each role needs (roles: ${ROLES.join(', ')})
coordctl acl apply [--role ROLE] [--principal NAME]...
                       create the missing ones through the admin API (as a super user), and each
                       frontend's and worker's private reply topic; running it again changes nothing
--principal names the role's principals (default: the role's own name), e.g. one per frontend.
`;

export const aclCommand = async (argv: readonly string[]): Promise<number> => {
  const [verb, ...restArgs] = argv;
  const { config, rest } = loadConfig(envWithRunFile(projectRoot()), restArgs);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { role: { type: 'string' }, principal: { type: 'string', multiple: true }, json: { type: 'boolean' } }, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message, USAGE);
  }
  const role = parsed.values.role;
  if (role !== undefined && !isRole(role)) throw new UsageError(`unknown role ${role}; roles are ${ROLES.join(', ')}`, USAGE);
  const principals = parsed.values.principal;
  if (principals !== undefined && role === undefined) throw new UsageError('--principal needs --role', USAGE);
  const roles: readonly Role[] = role === undefined ? ROLES : [role];
  const byRole = role !== undefined && principals !== undefined ? { [role]: principals } : {};
  switch (verb) {
    case 'plan': {
      const plan = planAcls({ topicPrefix: config.topicPrefix, groupId: config.groupId }, { roles, principals: byRole });
      process.stdout.write(parsed.values.json === true ? `${JSON.stringify(plan)}\n` : `${formatPlan(plan)}\n${roles.includes('admin') ? 'admin: a super user (super.users), needs no ACL\n' : ''}`);
      return 0;
    }
    case 'apply': {
      const log = createLogger('info', { component: 'coordctl' });
      await provisionAccess(config, log, { roles, principals: byRole });
      return 0;
    }
    default:
      throw new UsageError(verb === undefined ? 'coordctl acl needs plan or apply' : `unknown acl command ${verb}`, USAGE);
  }
};
