/** `.coord/run.env`: the addresses of the running deployment, for any tool to source. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const RUN_DIR = '.coord';
/** `.coord/run.env` under the checkout, or the file COORD_RUN_ENV names (a test run points it at a folder of its own). */
export const runEnvPath = (root: string): string => process.env.COORD_RUN_ENV ?? join(root, RUN_DIR, 'run.env');

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
 * named in run.env), or nothing on a plain one. COORD_ROLE picks another role's file; a frontend's
 * or a worker's principal then replies on its own topic (`makeConfig`).
 */
export const roleSecrets = (runEnv: Record<string, string>, role: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> => {
  const dir = env.COORD_SECRETS_DIR ?? runEnv.COORD_SECRETS_DIR;
  if (dir === undefined || dir === '') return {};
  return readRunEnv(join(dir, `${env.COORD_ROLE ?? role}.env`));
};
