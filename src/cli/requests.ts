/** Request commands: send one request through the public protocol and print its reply. */
import { createClient, type Reply } from '../client/client';
import { loadConfig } from '../config';
import { createLogger } from '../log';
import { projectRoot } from '../messaging/schemas';
import { createParts } from '../runtime';
import { envWithRunFile } from './serve';

export class UsageError extends Error {}

const parseFields = (specs: readonly string[]): { name: string; type: string }[] =>
  specs.map((spec) => {
    const i = spec.indexOf(':');
    if (i <= 0 || i === spec.length - 1) throw new UsageError(`field ${JSON.stringify(spec)} must be NAME:TYPE, e.g. speed:FLOAT64`);
    return { name: spec.slice(0, i), type: spec.slice(i + 1) };
  });

const jsonSafe = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)));

const print = (reply: Reply, json: boolean): void => {
  if (json) {
    process.stdout.write(`${JSON.stringify(jsonSafe(reply))}\n`);
    return;
  }
  process.stdout.write(`${reply.status}${reply.message === '' ? '' : `  ${reply.message}`}   (snapshot ${reply.snapshotId})\n`);
  const workers = (reply.payload?.value as { workers?: { workerId: string; state: string; slots: number; host: string; capabilities: string[]; lastHeartbeatMs: bigint }[] } | undefined)?.workers;
  if (workers !== undefined) {
    const rows = [['WORKER', 'STATE', 'SLOTS', 'HOST', 'CAPABILITIES', 'LAST HEARTBEAT'], ...workers.map((w) => [w.workerId, w.state, String(w.slots), w.host, w.capabilities.join(',') || '-', new Date(Number(w.lastHeartbeatMs)).toISOString()])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    process.stdout.write(`\n${rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n')}\n`);
    return;
  }
  const p = reply.payload?.value as { name?: string; fields?: { name: string; type: string }[] } | undefined;
  if (p?.fields !== undefined) {
    const width = Math.max(5, ...p.fields.map((f) => f.name.length));
    process.stdout.write(`\n${p.name}\n  ${'FIELD'.padEnd(width)}  TYPE\n`);
    for (const f of p.fields) process.stdout.write(`  ${f.name.padEnd(width)}  ${f.type}\n`);
  }
};

/** Builds the request for `noun verb args`; throws UsageError when the words do not make one. */
const requestOf = (noun: string, verb: string, args: readonly string[]): { type: string; value: Record<string, unknown> } => {
  const name = args[0];
  if (noun === 'logical-source') {
    if (name === undefined) throw new UsageError(`coordctl logical-source ${verb} NAME ...`);
    if (verb === 'create') return { type: 'coord.v1.CreateLogicalSource', value: { name, fields: parseFields(args.slice(1)) } };
    if (verb === 'get') return { type: 'coord.v1.GetLogicalSource', value: { name } };
    if (verb === 'drop') return { type: 'coord.v1.DropLogicalSource', value: { name, cascade: args.includes('--cascade') } };
  }
  if (noun === 'workers' && verb === 'list') return { type: 'coord.v1.ListWorkers', value: { includeGone: args.includes('--all') } };
  throw new UsageError(`unknown command: ${noun} ${verb}`);
};

/** Exit code 0 for OK, 2 for any other status. */
export const requestCommand = async (noun: string, verb: string, argv: readonly string[]): Promise<number> => {
  const { config, rest } = loadConfig(envWithRunFile(projectRoot()), argv);
  const json = rest.includes('--json');
  const args = rest.filter((a) => a !== '--json');
  const { type, value } = requestOf(noun, verb, args);
  const log = createLogger('warn', { component: 'coordctl' });
  const { kafka, codec } = createParts(config, 'coordctl', log);
  const client = createClient({ kafka, codec, log, topicPrefix: config.topicPrefix, replyTopic: config.replyTopic, askTimeoutMs: config.askTimeoutMs });
  await client.start();
  try {
    const reply = await client.ask(type, value);
    print(reply, json);
    return reply.status === 'OK' ? 0 : 2;
  } finally {
    await client.close();
  }
};
