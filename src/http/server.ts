/** The operator's HTTP door: /healthz (the process is up), /readyz (it consumes), /metrics (Prometheus text). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CoordinatorStatus } from '../engine/coordinator';

export interface AdminServer {
  readonly url: string;
  close(): Promise<void>;
}

/** A label value as the Prometheus text format wants it. */
const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

const family = (name: string, type: 'counter' | 'gauge', help: string, samples: readonly (readonly [Record<string, string>, number])[]): string[] => [
  `# HELP ${name} ${help}`,
  `# TYPE ${name} ${type}`,
  ...samples.map(([labels, v]) => {
    const ls = Object.entries(labels).map(([k, x]) => `${k}="${label(x)}"`);
    return `${name}${ls.length === 0 ? '' : `{${ls.join(',')}}`} ${v}`;
  }),
];

const metrics = (s: CoordinatorStatus): string =>
  [
    '# HELP coord_ready 1 when the coordinator consumes its input.',
    '# TYPE coord_ready gauge',
    `coord_ready ${s.ready ? 1 : 0}`,
    '# HELP coord_snapshot_id Id of the last committed snapshot.',
    '# TYPE coord_snapshot_id gauge',
    `coord_snapshot_id ${s.snapshotId}`,
    '# HELP coord_messages_applied_total Input messages decided by a projection.',
    '# TYPE coord_messages_applied_total counter',
    `coord_messages_applied_total ${s.applied}`,
    '# HELP coord_messages_rejected_total Input messages sent to the DLQ.',
    '# TYPE coord_messages_rejected_total counter',
    `coord_messages_rejected_total ${s.rejected}`,
    '# HELP coord_passes_total Passes committed.',
    '# TYPE coord_passes_total counter',
    `coord_passes_total ${s.passes}`,
    '# HELP coord_buffered_records Records fetched and waiting for a pass.',
    '# TYPE coord_buffered_records gauge',
    `coord_buffered_records ${s.buffered}`,
    ...family('coord_dlq_records_total', 'counter', 'Input records sent to the DLQ by a pass, by reason code.', Object.entries(s.refusals.dlq).map(([code, n]) => [{ code }, n])),
    ...family('coord_outputs_set_aside_total', 'counter', 'Outputs that could never be published, replaced by a notice in the DLQ, by reason code.', Object.entries(s.refusals.setAside).map(([code, n]) => [{ code }, n])),
    ...family('coord_correlation_conflicts_total', 'counter', 'Requests that reused a correlation id for another request (answered CONFLICT).', [[{}, s.refusals.conflicts]]),
    ...family('coord_replies_too_large_total', 'counter', 'Replies over maxValueBytes, answered RESOURCE_EXHAUSTED instead.', [[{}, s.refusals.repliesTooLarge]]),
    ...family('coord_snapshot_markers_skipped_total', 'counter', 'Records on the snapshots topic skipped at a takeover: undecodable, without a generation, or not continuing the chain.', [[{}, s.refusals.markersSkipped]]),
    ...family('coord_retries_total', 'counter', 'Failed attempts retried, by what failed (publish, store, registry).', Object.entries(s.retries).map(([what, n]) => [{ what }, n])),
    ...family('coord_stalled', 'gauge', '1 while a trouble has been retried for longer than stallThresholdMs (then /readyz is 503), by what.', ['publish', 'store', 'registry', 'consumer', 'environment'].map((what) => [{ what }, s.problems.some((p) => p.kind === what) ? 1 : 0])),
    '',
  ].join('\n');

export const startAdminServer = (opts: { host: string; port: number; status: () => CoordinatorStatus }): Promise<AdminServer> =>
  new Promise((resolve, reject) => {
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const s = opts.status();
      const send = (code: number, body: string, type = 'application/json'): void => {
        res.writeHead(code, { 'Content-Type': type });
        res.end(body);
      };
      if (path === '/healthz') send(200, JSON.stringify({ status: 'up' }));
      else if (path === '/readyz') send(s.ready ? 200 : 503, JSON.stringify(s));
      else if (path === '/metrics') send(200, metrics(s), 'text/plain; version=0.0.4');
      else send(404, JSON.stringify({ error: `no such path ${path}; try /healthz, /readyz or /metrics` }));
    });
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://${opts.host}:${port}`,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
