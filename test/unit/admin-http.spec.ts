import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { Registry } from 'prom-client';
import type { CoordinatorStatus, CoordinatorView } from '../../src/engine/coordinator';
import { MAX_ROWS, stateModel, type ConsoleModel } from '../../src/http/console';
import { startAdminServer, type AdminServer } from '../../src/http/server';
import { registerCoordinatorGauges } from '../../src/metrics/coordinator';

const NOW = 1_800_000_000_000;

const status = (snapshotId = '7'): CoordinatorStatus => ({
  ready: true,
  role: 'active',
  generation: 1,
  snapshotId,
  snapshotTs: (BigInt(NOW) << 18n).toString(),
  digest: '00',
  applied: 0,
  rejected: 0,
  passes: 0,
  buffered: 0,
  cachedImages: 0,
  problems: [],
  refusals: { dlq: {}, setAside: {}, conflicts: 0, repliesTooLarge: 0, markersSkipped: 0 },
  retries: {},
  following: { state: 'stopped', behind: 0 },
});

type Entities = Record<string, [string, Record<string, unknown>][]>;

const deployment = (): Entities => ({
  worker: [
    ['w1', { workerId: 'w1', state: 'ACTIVE', host: 'h1', slots: 4, capabilities: ['gpu'], lastHeartbeatMs: NOW - 300 }],
    ['w2', { workerId: 'w2', state: 'DEAD', host: 'h2', slots: 2, capabilities: [], lastHeartbeatMs: NOW - 20_000 }],
  ],
  allocation: [
    ['a1', { allocationId: 'a1', workerId: 'w1', session: 's1', fragmentId: 'q#1-0', cachedUntilMs: null }],
    ['a2', { allocationId: 'a2', workerId: 'w1', session: 's1', fragmentId: null, cachedUntilMs: NOW + 60_000 }],
  ],
  session: [['s1', { sessionId: 's1', client: 'cli', state: 'OPEN', lastHeartbeatMs: NOW - 100 }]],
  query: [
    [
      'q',
      {
        name: 'q',
        state: 'RUNNING',
        session: 's1',
        temporary: false,
        sources: ['cars'],
        sink: 'out',
        reason: '',
        fragments: [{ fragmentId: 'q#1-0', kind: 'SOURCE', workerId: 'w1', status: 'RUNNING', physicalSource: 'cars-a', allocation: 'a1' }],
      },
    ],
  ],
  'logical-source': [['cars', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }] }]],
  'physical-source': [['cars-a', { name: 'cars-a', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', available: true }]],
  sink: [['out', { name: 'out', type: 'print' }]],
  'read-hold': [['audit', { name: 'audit', ts: ((BigInt(NOW) - 700_000n) << 18n).toString(), expiresAtMs: NOW + 60_000 }]],
});

const view = (entities: Entities): CoordinatorView => ({
  snapshot: { id: '7', ts: '0', logTimeMs: NOW },
  list: (entity) => (entities[entity] ?? []) as never,
  get: (entity, key) => (entities[entity] ?? []).find(([k]) => k === key)?.[1] as never,
  inputs: [{ topic: 'p.events.infra', partition: 0, next: 3n, end: 5n }],
});

/** A plain request, so the Host header and the method are ours to choose. */
const call = (url: string, opts: { method?: string; host?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> =>
  new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? 'GET', headers: opts.host === undefined ? {} : { Host: opts.host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });

/** The first `state` event of the console's stream. */
const firstEvent = async (url: string): Promise<ConsoleModel> => {
  const res = await fetch(`${url}/events`);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended before a state event');
    text += Buffer.from(value).toString();
    const m = /event: state\ndata: (.*)\n\n/.exec(text);
    if (m !== null) {
      await reader.cancel();
      return JSON.parse(m[1]) as ConsoleModel;
    }
  }
};

describe('the console model: what the page shows, from the last snapshot', () => {
  it('shows each worker with its slots in use and cached, and each session with its cached slots', () => {
    const m = stateModel(view(deployment()));
    assert.deepEqual(
      m.workers.map((w) => [w.id, w.state, w.inUse, w.cached, w.slots]),
      [['w1', 'ACTIVE', 1, 1, 4], ['w2', 'DEAD', 0, 0, 2]],
    );
    assert.deepEqual(m.sessions[0].cached, [{ allocationId: 'a2', workerId: 'w1', untilMs: NOW + 60_000 }]);
    assert.equal(m.sessions[0].inUse, 1);
  });

  it('shows queries with their fragments and workers, the catalog, the holds and the frontier', () => {
    const m = stateModel(view(deployment()));
    assert.deepEqual(m.queries[0].fragments, [{ id: 'q#1-0', kind: 'SOURCE', workerId: 'w1', status: 'RUNNING' }]);
    assert.deepEqual(m.catalog.logicalSources, [{ name: 'cars', fields: ['id:INT64'] }]);
    assert.equal(m.catalog.physicalSources[0].workerId, 'w1');
    assert.equal(m.holds[0].name, 'audit');
    // The hold reaches further back than the retention (600 s): the frontier is where the hold keeps it.
    assert.equal(m.frontierTs, m.holds[0].ts);
  });

  it('shows at most MAX_ROWS of a kind, and how many there are', () => {
    const many = deployment();
    many.worker = Array.from({ length: MAX_ROWS + 100 }, (_, i) => [`w${String(i).padStart(4, '0')}`, { workerId: `w${i}`, state: 'ACTIVE', host: 'h', slots: 1, capabilities: [], lastHeartbeatMs: NOW }]);
    const m = stateModel(view(many));
    assert.equal(m.workers.length, MAX_ROWS);
    assert.equal(m.totals.workers, MAX_ROWS + 100);
  });
});

describe('the admin HTTP server: /metrics, the console and its stream', () => {
  let server: AdminServer;
  let entities: Entities;
  let snapshotId: string;

  beforeEach(async () => {
    entities = deployment();
    snapshotId = '7';
    const registry = new Registry();
    const coordinator = { status: () => status(snapshotId), read: async <T>(fn: (v: CoordinatorView) => T) => fn(view(entities)) };
    registerCoordinatorGauges({ registry, coordinator });
    server = await startAdminServer({ host: '127.0.0.1', port: 0, coordinator, registry, console: { intervalMs: 50 } });
  });
  afterEach(async () => server.close());

  it('serves /metrics from the registry in the Prometheus text format', async () => {
    const r = await call(`${server.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^coord_workers\{state="ACTIVE"\} 1$/m);
    assert.match(r.body, /^coord_input_lag_records\{topic="p.events.infra",partition="0"\} 2$/m);
  });

  it('serves the page and its own script and style, nothing from elsewhere, under a strict policy', async () => {
    const page = await call(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(refs.sort(), ['/console.css', '/console.js']);
    assert.equal((await call(`${server.url}/console.js`)).status, 200);
    assert.equal((await call(`${server.url}/console.css`)).status, 200);
  });

  it('is read-only: anything but GET and HEAD is refused', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) assert.equal((await call(`${server.url}/`, { method })).status, 405, method);
    assert.equal((await call(`${server.url}/metrics`, { method: 'HEAD' })).status, 200);
  });

  it('answers the console only to a loopback host name, so a rebound foreign name reads nothing', async () => {
    assert.equal((await call(`${server.url}/`, { host: 'evil.example:80' })).status, 403);
    assert.equal((await call(`${server.url}/events`, { host: 'evil.example' })).status, 403);
    assert.equal((await call(`${server.url}/`, { host: 'localhost:1234' })).status, 200);
  });

  it('pushes the state at once when a page connects, and again when it changes', async () => {
    const first = await firstEvent(server.url);
    assert.deepEqual(first.workers.map((w) => w.id), ['w1', 'w2']);
    assert.equal(first.coordinator.snapshotId, '7');
    entities.worker = [entities.worker[0]];
    snapshotId = '8';
    const res = await fetch(`${server.url}/events`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    let seen: ConsoleModel | undefined;
    while (seen === undefined) {
      const { value } = await reader.read();
      text += Buffer.from(value ?? new Uint8Array()).toString();
      for (const m of text.matchAll(/event: state\ndata: (.*)\n\n/g)) {
        const model = JSON.parse(m[1]) as ConsoleModel;
        if (model.coordinator.snapshotId === '8' && model.series.length > 0) seen = model;
      }
    }
    await reader.cancel();
    assert.deepEqual(seen.workers.map((w) => w.id), ['w1']);
    assert.equal(seen.series[seen.series.length - 1].lag, 2);
  });

  it('closes while pages are still connected', async () => {
    const res = await fetch(`${server.url}/events`);
    assert.equal(res.status, 200);
    await server.close();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (;;) if ((await reader.read()).done) break;
    server = { url: '', close: async () => undefined };
  });
});
