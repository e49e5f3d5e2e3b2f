/** Running coordctl as users do, in its own process, without blocking the test's event loop (its worker agents keep beating). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/messaging/schemas';
import { testStack } from './stack';

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `coordctl ARGS...` against the test stack and the deployment of `prefix` (as the run's principal, or as `as` says); killed after `timeoutMs`. */
export const coordctl = (args: readonly string[], prefix?: string, timeoutMs = 120_000, as: Readonly<Record<string, string>> = {}): Promise<Run> =>
  new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...testStack().env, ...as, KAFKA_BROKERS: testStack().brokers, SCHEMA_REGISTRY_URL: testStack().registryUrl };
    if (prefix !== undefined) env.COORD_TOPIC_PREFIX = prefix;
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot(), 'src/cli/main.ts'), ...args], { cwd: projectRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`coordctl ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });

/** `coordctl ARGS... --json` that must exit 0: its one JSON line. */
export const coordctlJson = async <T = Record<string, unknown>>(args: readonly string[], prefix?: string): Promise<T> => {
  const r = await coordctl([...args, '--json'], prefix);
  if (r.code !== 0) throw new Error(`coordctl ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null') as T;
};
