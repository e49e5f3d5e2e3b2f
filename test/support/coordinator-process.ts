/** A coordinator in its own process, as users run it, so tests can kill and restart it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoordinatorStatus } from '../../src/engine/coordinator';
import { freePort } from '../../src/infra/process';
import { projectRoot } from '../../src/messaging/schemas';
import type { TestStack } from './stack';
import { waitFor } from './wait';

const live = new Set<ChildProcess>();
/** How long a stop (SIGTERM) may take before the process is killed. */
const STOP_TIMEOUT_MS = 60_000;
// A test run that ends abruptly must not leave coordinators behind.
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface CoordinatorProcess {
  readonly httpUrl: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** Its log (stdout and stderr of every start). */
  readonly logFile: string;
  /** Starts it; `env` adds to (or overrides) the environment of this start only, e.g. to arm or disarm fail points. */
  start(env?: Record<string, string>): Promise<void>;
  /** Resolves once the process has ended (a crash, a kill or a stop). */
  ended(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Any other signal, e.g. SIGSTOP and SIGCONT to pause and resume it. */
  signal(sig: NodeJS.Signals): void;
  /** Whether the process has ended. */
  readonly exited: boolean;
  readyz(): Promise<number>;
  /** What /readyz says (role, generation, snapshot, digest), or undefined while it does not answer. */
  status(): Promise<CoordinatorStatus | undefined>;
}

export const coordinatorProcess = async (
  stack: TestStack,
  opts: {
    prefix: string;
    name: string;
    env?: Record<string, string>;
    /** Run `./coordctl` (the compiled CLI in `dist/`, as users run it) rather than the sources through tsx: what a benchmark measures. */
    compiled?: boolean;
  },
): Promise<CoordinatorProcess> => {
  const root = projectRoot();
  const dir = join(stack.dir, opts.name);
  mkdirSync(dir, { recursive: true });
  const httpPort = await freePort();
  const dataDir = join(dir, 'rocksdb');
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const env = {
    ...process.env,
    ...stack.env,
    KAFKA_BROKERS: stack.brokers,
    SCHEMA_REGISTRY_URL: stack.registryUrl,
    COORD_TOPIC_PREFIX: opts.prefix,
    COORD_GROUP_ID: `${opts.prefix}-coordinator`,
    COORD_DATA_DIR: dataDir,
    COORD_HTTP_PORT: String(httpPort),
    COORD_PID_FILE: join(dir, 'coordinator.pid'),
    COORD_LOG_LEVEL: 'info',
    ...opts.env,
  };

  const readyz = async (): Promise<number> => {
    try {
      return (await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(2_000) })).status;
    } catch {
      return 0;
    }
  };

  const status = async (): Promise<CoordinatorStatus | undefined> => {
    try {
      return (await (await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(2_000) })).json()) as CoordinatorStatus;
    } catch {
      return undefined;
    }
  };

  const handle: CoordinatorProcess = {
    httpUrl,
    dataDir,
    get pid() {
      return child?.pid;
    },
    logFile: join(dir, 'coordinator.log'),
    readyz,
    status,
    ended: () => exited,
    start: async (extra) => {
      const log = createWriteStream(join(dir, 'coordinator.log'), { flags: 'a' });
      const compiledMain = join(root, 'dist/src/cli/main.js');
      if (opts.compiled === true && !existsSync(compiledMain)) throw new Error(`${compiledMain} is missing: run make build first`);
      // coordctl execs node, so the child's pid is the coordinator's own.
      const [command, args] = opts.compiled === true ? [join(root, 'coordctl'), ['coordinator']] : [process.execPath, ['--require', 'tsx/cjs', join(root, 'src/cli/main.ts'), 'coordinator']];
      child = spawn(command, args, { cwd: root, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
      // The log is ended once, when the process is gone and its output read, not by whichever stream ends first.
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      const c = child;
      live.add(c);
      let spawnError: Error | undefined;
      exited = new Promise((resolve) => {
        let done = false;
        // Ended means the log holds every line the process wrote: a process's exit can come before its last lines
        // (a fail point's, written just before it kills itself) have left the pipe, so the end waits for its streams to
        // close (at most 5 s, should something else hold them) and for the log to be written.
        const ended = (): void => {
          if (done) return;
          done = true;
          log.end(() => {
            live.delete(c);
            resolve();
          });
        };
        c.once('close', ended);
        c.once('exit', () => setTimeout(ended, 5_000).unref());
        // A command that cannot be started (missing, not executable) ends here, with no exit event.
        c.once('error', (err) => {
          spawnError = err;
          ended();
        });
      });
      let gone = false;
      void exited.then(() => (gone = true));
      await waitFor(`coordinator ${opts.name} ready (log: ${join(dir, 'coordinator.log')})`, async () => {
        if (spawnError !== undefined) throw new Error(`coordinator ${opts.name} could not be started: ${spawnError.message}`);
        if (gone) throw new Error(`coordinator ${opts.name} exited during start; see ${join(dir, 'coordinator.log')}`);
        return (await readyz()) === 200;
      }, 60_000);
    },
    stop: async () => {
      child?.kill('SIGTERM');
      // Its own closeTimeoutMs bounds a stop; past a minute it is killed, so no test waits forever.
      const stopped = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS).unref())]);
      if (!stopped) {
        child?.kill('SIGKILL');
        await exited;
      }
    },
    kill: async () => {
      child?.kill('SIGKILL');
      await exited;
    },
    signal: (sig) => {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
    get exited() {
      return child === undefined || child.exitCode !== null || child.signalCode !== null;
    },
  };
  return handle;
};

/** What a test that waited in vain on `c` prints: its /readyz and its log's last `lines` lines. */
export const whereItStands = async (c: CoordinatorProcess, lines = 60): Promise<string> => {
  const tail = existsSync(c.logFile) ? readFileSync(c.logFile, 'utf8').split('\n').slice(-lines).join('\n') : '(no log yet)';
  return `the coordinator's /readyz: ${JSON.stringify(await c.status())}; its log's last lines (${c.logFile}):\n${tail}`;
};
