/** Starting and stopping the JVM services: attached (tests, `make run`) or detached with a pid file (`make infra`). */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { CoordError } from '../errors';

export interface Service {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code once the process has gone. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly logFile: string;
  /** Outlive this node process (for `make infra`); the pid goes to `pidFile`. */
  readonly detached?: boolean;
  readonly pidFile?: string;
  readonly env?: NodeJS.ProcessEnv;
}

const attached = new Set<number>();
let exitHookInstalled = false;

/** An attached service must not outlive its parent, even when a test run fails or is interrupted. */
const installExitHook = (): void => {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of attached) killGroup(pid, 'SIGKILL');
  });
};

const killGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
};

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const waitGone = async (pid: number, ms: number): Promise<boolean> => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
};

export const spawnService = (opts: SpawnOptions): Service => {
  const fd = openSync(opts.logFile, 'a');
  // Every service leads its own process group, so a stop reaches the JVM and anything it forked.
  const child = spawn(opts.command, [...opts.args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new CoordError('INFRA_START_FAILED', `could not start ${opts.name}: ${opts.command}`);
  const pid = child.pid;
  if (opts.detached) {
    child.unref();
    if (opts.pidFile !== undefined) writeFileSync(opts.pidFile, `${pid}\n`);
  } else {
    installExitHook();
    attached.add(pid);
  }
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      attached.delete(pid);
      resolve(code);
    });
  });
  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    stop: async (graceMs = 15_000) => {
      killGroup(pid, 'SIGTERM');
      if (!(await waitGone(pid, graceMs))) killGroup(pid, 'SIGKILL');
      await waitGone(pid, 5_000);
      attached.delete(pid);
      if (opts.pidFile !== undefined) rmSync(opts.pidFile, { force: true });
    },
  };
};

/** Stops a detached service recorded in a pid file; true when something was running. */
export const stopByPidFile = async (pidFile: string, graceMs = 15_000): Promise<boolean> => {
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid)) return false;
  killGroup(pid, 'SIGTERM');
  if (!(await waitGone(pid, graceMs))) killGroup(pid, 'SIGKILL');
  await waitGone(pid, 5_000);
  return true;
};

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

/** Polls `probe` until it resolves true; fails with the service's log tail when it dies or time runs out. */
export const waitUntil = async (
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; service?: Service },
): Promise<void> => {
  const until = Date.now() + opts.timeoutMs;
  let died = false;
  void opts.service?.exited.then(() => {
    died = true;
  });
  while (Date.now() < until) {
    if (died) throw new CoordError('INFRA_START_FAILED', `${what} exited during start-up; see ${opts.service?.logFile}\n${tail(opts.service?.logFile)}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new CoordError('INFRA_TIMEOUT', `${what} did not answer within ${opts.timeoutMs} ms; see ${opts.service?.logFile ?? 'its log'}\n${tail(opts.service?.logFile)}`, {
    retriable: true,
  });
};

const tail = (file: string | undefined): string => {
  if (file === undefined || !existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
};
