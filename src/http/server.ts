/**
 * The operator's HTTP door: /healthz (the process is up), /readyz (it consumes), /metrics
 * (Prometheus text from the coordinator's registry), and the read-only live console at `/`
 * with its stream at /events. Only GET and HEAD; nothing here changes the deployment.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Coordinator } from '../engine/coordinator';
import { projectRoot } from '../messaging/schemas';
import { createConsoleFeed, type ConsoleFeedOptions } from './console';

export interface AdminServer {
  readonly url: string;
  close(): Promise<void>;
}

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly coordinator: Pick<Coordinator, 'status' | 'read'>;
  /** The coordinator's metrics (src/metrics/coordinator.ts), created for this coordinator by its process. */
  readonly registry: Registry;
  /** How the console samples and pushes (tests make it quicker). */
  readonly console?: Omit<ConsoleFeedOptions, 'coordinator'>;
}

/** The console's files: no framework, no CDN, nothing fetched from anywhere but this server. */
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
};

/** The page may load only its own script and style and talk only to this server. */
const CONSOLE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * On a loopback address, the console answers only requests addressed to a loopback name: a web
 * page elsewhere that rebinds its own name to 127.0.0.1 must not read the deployment through it.
 */
const hostAllowed = (bound: string, header: string | undefined): boolean => {
  if (!LOOPBACK.has(bound) && !bound.startsWith('127.')) return true;
  if (header === undefined) return false;
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0];
  return LOOPBACK.has(name.toLowerCase()) || name.startsWith('127.') || name === bound;
};

const loadAssets = (): Map<string, { body: Buffer; type: string }> => {
  const dir = join(projectRoot(), 'src', 'http', 'assets');
  return new Map(Object.entries(ASSETS).map(([path, a]) => [path, { body: readFileSync(join(dir, a.file)), type: a.type }]));
};

export const startAdminServer = (opts: AdminServerOptions): Promise<AdminServer> =>
  new Promise((resolve, reject) => {
    const assets = loadAssets();
    const feed = createConsoleFeed({ ...opts.console, coordinator: opts.coordinator });
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (code: number, body: string | Buffer, type = 'application/json', headers: Record<string, string> = {}): void => {
        res.writeHead(code, { 'Content-Type': type, ...headers });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: `${req.method} is not allowed: this endpoint is read-only` }), 'application/json', { Allow: 'GET, HEAD' });
      if (path === '/healthz') return send(200, JSON.stringify({ status: 'up' }));
      if (path === '/readyz') {
        const s = opts.coordinator.status();
        return send(s.ready ? 200 : 503, JSON.stringify(s));
      }
      if (path === '/metrics') return send(200, await opts.registry.metrics(), opts.registry.contentType);
      const asset = assets.get(path);
      if (asset === undefined && path !== '/events' && path !== '/api/console')
        return send(404, JSON.stringify({ error: `no such path ${path}; try / (the console), /healthz, /readyz or /metrics` }));
      if (!hostAllowed(opts.host, req.headers.host)) return send(403, JSON.stringify({ error: 'the console answers only to a loopback host name on a loopback address' }));
      if (asset !== undefined) return send(200, asset.body, asset.type, CONSOLE_HEADERS);
      if (path === '/api/console') return send(200, JSON.stringify(await feed.current()), 'application/json', CONSOLE_HEADERS);
      feed.attach(req, res);
    };
    const server: Server = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (res.headersSent) return void res.end();
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
      });
    });
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`,
        close: () =>
          new Promise((r) => {
            // Open console streams and kept-alive connections would hold the server open forever.
            feed.close();
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
