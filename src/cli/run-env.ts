/** `.coord/run.env`: the addresses of the running deployment, for any tool to source. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULTS } from '../config';
import { signingRoles } from '../infra/secure';
import { privateReplyTopic } from '../messaging/acl';

export const RUN_DIR = '.coord';
export const runEnvPath = (root: string): string => join(root, RUN_DIR, 'run.env');

export const readRunEnv = (file: string): Record<string, string> => {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m !== null) out[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return out;
};

export const writeRunEnv = (file: string, vars: Record<string, string>): void => {
  mkdirSync(dirname(file), { recursive: true });
  const merged = { ...readRunEnv(file), ...vars };
  writeFileSync(file, `${Object.entries(merged).map(([k, v]) => `${k}=${v}`).join('\n')}\n`);
};

/**
 * A secured deployment's credentials for `role` (`<COORD_SECRETS_DIR>/<role>.env`, the folder
 * named in run.env), or nothing on a plain one. COORD_ROLE picks another role's file. A frontend
 * or a worker may read only its own reply topic (`<prefix>.replies.<principal>`), so its replies
 * go there unless COORD_REPLY_TOPIC says otherwise.
 */
export const roleSecrets = (runEnv: Record<string, string>, role: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> => {
  const dir = env.COORD_SECRETS_DIR ?? runEnv.COORD_SECRETS_DIR;
  if (dir === undefined || dir === '') return {};
  const secrets = readRunEnv(join(dir, `${env.COORD_ROLE ?? role}.env`));
  const principal = secrets.KAFKA_SASL_USERNAME;
  const ownReplies = principal !== undefined && signingRoles(principal).some((r) => r === 'frontend' || r === 'worker');
  if (!ownReplies || env.COORD_REPLY_TOPIC !== undefined || secrets.COORD_REPLY_TOPIC !== undefined) return secrets;
  return { ...secrets, COORD_REPLY_TOPIC: privateReplyTopic(env.COORD_TOPIC_PREFIX ?? runEnv.COORD_TOPIC_PREFIX ?? DEFAULTS.topicPrefix, principal) };
};
