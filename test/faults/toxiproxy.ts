/**
 * Toxiproxy (github.com/Shopify/toxiproxy v2.5.0, built into .cache/toxiproxy by `make
 * test-faults`) started for a test file, and a small typed client of its HTTP API: the npm
 * clients are unmaintained (toxiproxy-node-client's last release predates v2.5), and five calls
 * over fetch need no library.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnService, waitUntil, type Service } from '../../src/infra/process';
import { projectRoot } from '../../src/messaging/schemas';

export const TOXIPROXY_BIN = join(projectRoot(), '.cache', 'toxiproxy', 'bin', 'server');

export type Toxic =
  | { readonly type: 'latency'; readonly attributes: { readonly latency: number; readonly jitter?: number } }
  /** No data passes, connections stay open: a blackhole. */
  | { readonly type: 'timeout'; readonly attributes: { readonly timeout: number } };

export interface Toxiproxy {
  readonly url: string;
  /** A proxy listening on 127.0.0.1:`listen` that forwards to `upstream`. */
  proxy(name: string, listen: number, upstream: string): Promise<void>;
  /** Adds `toxic` in both directions of `proxy`; returns its names, for `heal`. */
  poison(proxy: string, name: string, toxic: Toxic): Promise<void>;
  /** Removes every toxic of every proxy. */
  heal(): Promise<void>;
  stop(): Promise<void>;
}

export const startToxiproxy = async (dir: string): Promise<Toxiproxy> => {
  if (!existsSync(TOXIPROXY_BIN)) throw new Error(`toxiproxy is not built at ${TOXIPROXY_BIN}: run 'make test-faults' (it builds it from the Go module proxy)`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const service: Service = spawnService({ name: 'toxiproxy', command: TOXIPROXY_BIN, args: ['-host', '127.0.0.1', '-port', String(port)], cwd: dir, logFile: join(dir, 'toxiproxy.log') });
  await waitUntil(`toxiproxy on ${url}`, async () => (await fetch(`${url}/version`, { signal: AbortSignal.timeout(2_000) })).ok, { timeoutMs: 30_000, service });

  const call = async (method: string, path: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${(await res.text()).slice(0, 200)}`);
  };

  return {
    url,
    proxy: (name, listen, upstream) => call('POST', '/proxies', { name, listen: `127.0.0.1:${listen}`, upstream, enabled: true }),
    poison: async (proxy, name, toxic) => {
      for (const stream of ['upstream', 'downstream'] as const) await call('POST', `/proxies/${proxy}/toxics`, { name: `${name}-${stream}`, stream, toxicity: 1, ...toxic });
    },
    heal: () => call('POST', '/reset'),
    stop: () => service.stop(5_000),
  };
};
