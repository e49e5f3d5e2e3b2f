/** The operator's HTTP door: /healthz (the process is up), /readyz (it consumes), /metrics (Prometheus text). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CoordinatorStatus } from '../engine/coordinator';

export interface AdminServer {
  readonly url: string;
  close(): Promise<void>;
}

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
