/** Replies for people (a status line, then tables or key/value blocks) and for scripts (one clean JSON line). */
import type * as avro from 'avsc';
import type { QueryImage } from '../../projections/model';
// Payloads with no union to unwrap are the schema's own types.
import type { CoordinatorInfo, PhysicalSource } from '../../projections/protocol.gen';
import type { ExplainRecord, LogPosition as StoredPosition } from '../../projections/system/explain';
import { LOGICAL_BITS } from '../../projections/system/hybrid';
import type { Reply } from '../client/client';

/** The payload record types of Reply, by full name: what `unwrapReply` reads the payload's shape from. */
export const payloadTypes = (replyType: avro.Type): ReadonlyMap<string, avro.Type> => {
  const payload = (replyType as avro.types.RecordType).fields.find((f) => f.name === 'payload');
  const branches = payload === undefined ? [] : (payload.type as avro.types.WrappedUnionType).types;
  return new Map(branches.filter((t) => t.name !== undefined).map((t) => [t.name as string, t]));
};

/**
 * `v` with every union wrapper taken off (`{ string: 'x' }` becomes 'x'), led by its schema, so
 * a map whose key happens to be `string` or `long` is left as it is. Longs stay bigint.
 */
const unwrap = (type: avro.Type, v: unknown): unknown => {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  switch (type.typeName) {
    case 'union:wrapped': {
      const [branch, inner] = Object.entries(v)[0] ?? [undefined, null];
      const t = (type as avro.types.WrappedUnionType).types.find((b) => b.branchName === branch);
      return t === undefined ? inner : unwrap(t, inner);
    }
    case 'record':
    case 'error': {
      const out: Record<string, unknown> = {};
      const fields = new Map((type as avro.types.RecordType).fields.map((f) => [f.name, f.type]));
      for (const [k, x] of Object.entries(v)) {
        const t = fields.get(k);
        out[k] = t === undefined ? x : unwrap(t, x);
      }
      return out;
    }
    case 'map': {
      const values = (type as avro.types.MapType).valuesType as avro.Type;
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(values, x)]));
    }
    case 'array':
      return Array.isArray(v) ? v.map((x) => unwrap((type as avro.types.ArrayType).itemsType, x)) : v;
    default:
      return v;
  }
};

/** The reply with its payload's unions unwrapped; a payload of a type we do not know stays as it came. */
export const unwrapReply = (reply: Reply, types: ReadonlyMap<string, avro.Type>): Reply => {
  const t = reply.payload === null ? undefined : types.get(reply.payload.type);
  return t === undefined || reply.payload === null ? reply : { ...reply, payload: { type: reply.payload.type, value: unwrap(t, reply.payload.value) as Record<string, unknown> } };
};

/** Longs (bigint) as decimal strings, since they pass 2^53. */
export const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

/** One JSON line for scripts. */
export const replyJson = (reply: Reply): string => `${json(reply)}\n`;

// The payloads as unwrapReply leaves them.
interface Field {
  readonly name: string;
  readonly type: string;
}
interface LogicalSource {
  readonly name: string;
  readonly fields: readonly Field[];
}
interface WorkerInfo {
  readonly workerId: string;
  readonly state: string;
  readonly slots: number;
  readonly host: string;
  readonly capabilities: readonly string[];
  readonly lastHeartbeatMs: bigint;
}
interface Sink {
  readonly name: string;
  readonly type: string;
  readonly options: Readonly<Record<string, string>>;
}
interface Fragment {
  readonly fragmentId: string;
  readonly kind: string;
  readonly workerId: string;
  readonly physicalSource: string | null;
  readonly status: string;
}
/** The Query payload: the stored query's own fields as they are, then how it stands (test/unit/protocol.spec.ts holds it to the schema). */
interface Query extends Pick<QueryImage, 'name' | 'session' | 'temporary' | 'plan' | 'sources' | 'sink'> {
  readonly state: string;
  readonly reason: string;
  readonly reused: number;
  readonly fragments: readonly Fragment[];
  readonly owner: string | null;
}
interface Range {
  readonly first: bigint;
  readonly count: number;
}
interface ReadHold {
  readonly name: string;
  readonly ts: bigint;
  readonly expiresAtMs: bigint;
}
/** DescribeCoordinator's payload: it has no union to unwrap, so it is the schema's own type. */
export type { CoordinatorInfo };

/** Each Reply payload branch, by full name, and its shape. */
interface Payloads {
  'coord.v1.LogicalSource': LogicalSource;
  'coord.v1.WorkerList': { readonly workers: readonly WorkerInfo[] };
  'coord.v1.LogicalSourceList': { readonly logicalSources: readonly LogicalSource[] };
  'coord.v1.PhysicalSource': PhysicalSource;
  'coord.v1.PhysicalSourceList': { readonly physicalSources: readonly PhysicalSource[] };
  'coord.v1.Sink': Sink;
  'coord.v1.SinkList': { readonly sinks: readonly Sink[] };
  'coord.v1.Query': Query;
  'coord.v1.QueryList': { readonly queries: readonly Query[] };
  'coord.v1.IdRange': Range;
  'coord.v1.TimestampRange': Range;
  'coord.v1.ReadHold': ReadHold;
  'coord.v1.ReadHoldList': { readonly holds: readonly ReadHold[]; readonly frontierTs: bigint };
  'coord.v1.CoordinatorInfo': CoordinatorInfo;
  'coord.v1.SettingsChange': SettingsChange;
  'coord.v1.Explanation': Explanation;
}

/** UpdateSettings' and GetSettings' payload, unwrapped. */
export interface SettingsChange {
  readonly before: Readonly<Record<string, bigint>>;
  readonly after: Readonly<Record<string, bigint>>;
  readonly changed: readonly string[];
}
/**
 * A stored record as the Reply decodes it: the fields the store keeps as decimal strings or
 * numbers because JSON holds no bigint (offsets, ids, log times, timestamps) are Avro longs,
 * so they arrive as bigint. The store's types declare the fields; this says only what changes.
 */
type WireLong = 'offset' | 'logTimeMs' | 'snapshotId' | 'snapshotTs';
type Decoded<T> = T extends readonly (infer E)[]
  ? readonly Decoded<E>[]
  : T extends object
    ? { readonly [K in keyof T as string extends K ? never : K]: K extends WireLong ? bigint : Decoded<T[K]> }
    : T;
type LogPosition = Decoded<StoredPosition>;
/** ExplainRequest's payload, unwrapped: the explain record, and when it expires. */
export type Explanation = Decoded<ExplainRecord> & { readonly keptUntilLogTimeMs: bigint };

/** Columns padded to their widest cell, two spaces apart. */
export const table = (rows: readonly (readonly string[])[], indent = ''): string => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return `${rows.map((r) => `${indent}${r.map((c, i) => c.padEnd(widths[i])).join('  ')}`).join('\n')}\n`;
};

/** Key/value lines; a value of several lines continues under the first. */
export const block = (pairs: readonly (readonly [string, string])[]): string => {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v.split('\n').join(`\n${' '.repeat(width + 2)}`)}`).join('\n') + '\n';
};

export const iso = (ms: bigint | number): string => {
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};
/** A hybrid timestamp with the wall-clock time of its physical part. */
export const hybrid = (ts: bigint): string => `${ts} (${iso(ts >> LOGICAL_BITS)})`;
const options = (o: Readonly<Record<string, string>>, sep: string): string =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join(sep) || '-';
const fieldList = (s: LogicalSource): string => s.fields.map((f) => `${f.name}:${f.type}`).join(' ') || '-';
const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
const range = (r: Range, one: string, many: string): string => `${r.first}..${r.first + BigInt(r.count) - 1n}  (${plural(r.count, one, many)})`;

const logicalSource = (p: LogicalSource): string => {
  const width = Math.max(5, ...p.fields.map((f) => f.name.length));
  return `${p.name}\n  ${'FIELD'.padEnd(width)}  TYPE\n${p.fields.map((f) => `  ${f.name.padEnd(width)}  ${f.type}\n`).join('')}`;
};

const query = (q: Query): string => {
  const pairs: [string, string][] = [
    ['name', q.name],
    ['state', q.state],
    ['session', q.session ?? '-'],
    ['owner', q.owner ?? '-'],
    ['temporary', yesNo(q.temporary)],
    ['sources', q.sources.join(', ')],
    ['sink', q.sink],
    ['reused slots', String(q.reused)],
  ];
  if (q.reason !== '') pairs.push(['reason', q.reason]);
  pairs.push(['plan', q.plan]);
  if (q.fragments.length === 0) return block([...pairs, ['fragments', 'none']]);
  return `${block(pairs)}\n${table([['FRAGMENT', 'KIND', 'WORKER', 'STATUS'], ...q.fragments.map((f) => [f.fragmentId, f.kind, f.workerId, f.status])], '  ')}`;
};

const at = (p: LogPosition): string => `${p.topic}/${p.partition}@${p.offset}, log time ${iso(p.logTimeMs)}, snapshot ${p.snapshotId}`;

const settingsChange = (p: SettingsChange): string =>
  table([
    ['SETTING', 'BEFORE', 'AFTER'],
    ...Object.keys(p.after)
      .sort()
      .map((k) => [k, String(p.before[k] ?? '-'), `${p.after[k]}${p.changed.includes(k) ? '  (changed)' : ''}`]),
  ]);

const explanation = (p: Explanation): string => {
  const pairs: [string, string][] = [
    ['request', `${p.requestType === '' ? '(undecodable)' : p.requestType}${p.key === null ? '' : ` key ${p.key}`}`],
    ['on the log', at(p.position)],
    ['applied', p.stage === null ? `refused before ordering, in snapshot ${p.position.snapshotId}` : `snapshot ${p.position.snapshotId} (ts ${p.snapshotTs}), stage ${p.stage}, #${p.orderInStage} in the stage`],
    ['retry', p.retries.length === 0 ? 'no retries' : `${plural(p.retries.length, 'retry', 'retries')}, answered with the same reply:\n${p.retries.map(at).join('\n')}`],
    ['reply', p.replyStatus === null ? 'deferred, not sent yet' : `${p.replyStatus}${p.replyMessage === null || p.replyMessage === '' ? '' : `  ${p.replyMessage}`}`],
  ];
  if (p.deferred) pairs.push(['deferred', p.answeredBy === null ? 'waiting' : `sent in snapshot ${p.answeredBy.position.snapshotId}, completed by ${p.answeredBy.recordType} at ${at(p.answeredBy.position)}`]);
  if (p.dlqCode !== null) pairs.push(['DLQ', `${p.dlqCode}: ${p.dlqReason ?? ''}`]);
  pairs.push(['kept until', `log time ${iso(p.keptUntilLogTimeMs)} (dedupeRetentionMs)`]);
  const changes =
    p.changes.length === 0
      ? 'changes: none\n'
      : `changes:\n${table([['ENTITY', 'KEY', 'NET', 'BEFORE', 'AFTER'], ...p.changes.map((c) => [c.entity, c.key, c.net ? 'yes' : 'cancelled out in the snapshot', c.before ?? '-', c.after ?? '-'])], '  ')}${p.changesOmitted > 0 ? `  … and ${p.changesOmitted} more\n` : ''}`;
  const commands = p.commands.length === 0 ? 'worker commands: none\n' : `worker commands:\n${table([['WORKER', 'COMMAND', 'FRAGMENT'], ...p.commands.map((c) => [c.workerId, c.recordType, c.fragmentId])], '  ')}`;
  return `${block(pairs)}\n${changes}${commands}`;
};

const RENDER: { readonly [K in keyof Payloads]: (p: Payloads[K]) => string } = {
  'coord.v1.LogicalSource': logicalSource,
  'coord.v1.WorkerList': (p) =>
    table([
      ['WORKER', 'STATE', 'SLOTS', 'HOST', 'CAPABILITIES', 'LAST HEARTBEAT'],
      ...p.workers.map((w) => [w.workerId, w.state, String(w.slots), w.host, w.capabilities.join(',') || '-', iso(w.lastHeartbeatMs)]),
    ]),
  'coord.v1.LogicalSourceList': (p) => table([['NAME', 'FIELDS'], ...p.logicalSources.map((s) => [s.name, fieldList(s)])]),
  'coord.v1.PhysicalSource': (p) =>
    block([
      ['name', p.name],
      ['logical source', p.logicalSource],
      ['worker', p.workerId],
      ['connector', p.connectorType],
      ['available', yesNo(p.available)],
      ['options', options(p.options, '\n')],
    ]),
  'coord.v1.PhysicalSourceList': (p) =>
    table([
      ['NAME', 'LOGICAL SOURCE', 'WORKER', 'CONNECTOR', 'AVAILABLE', 'OPTIONS'],
      ...p.physicalSources.map((s) => [s.name, s.logicalSource, s.workerId, s.connectorType, yesNo(s.available), options(s.options, ',')]),
    ]),
  'coord.v1.Sink': (p) =>
    block([
      ['name', p.name],
      ['type', p.type],
      ['options', options(p.options, '\n')],
    ]),
  'coord.v1.SinkList': (p) => table([['NAME', 'TYPE', 'OPTIONS'], ...p.sinks.map((s) => [s.name, s.type, options(s.options, ',')])]),
  'coord.v1.Query': query,
  'coord.v1.QueryList': (p) =>
    table([
      ['NAME', 'STATE', 'SESSION', 'SOURCES', 'SINK', 'FRAGMENTS', 'REUSED'],
      ...p.queries.map((q) => [
        q.name,
        q.state,
        q.session ?? '-',
        q.sources.join(','),
        q.sink,
        // running of all: a query in DEPLOYING or after a failure shows how far it got
        q.fragments.length === 0 ? '-' : `${q.fragments.filter((f) => f.status === 'RUNNING').length}/${q.fragments.length}`,
        String(q.reused),
      ]),
    ]),
  'coord.v1.IdRange': (p) => `${range(p, 'id', 'ids')}\n`,
  'coord.v1.TimestampRange': (p) => `${range(p, 'timestamp', 'timestamps')}, from ${iso(p.first >> LOGICAL_BITS)}\n`,
  'coord.v1.ReadHold': (p) =>
    block([
      ['name', p.name],
      ['as of', hybrid(p.ts)],
      ['expires', `${iso(p.expiresAtMs)} (log time)`],
    ]),
  'coord.v1.ReadHoldList': (p) =>
    `${block([['frontier', hybrid(p.frontierTs)]])}\n${table([['HOLD', 'AS OF TS', 'AS OF', 'EXPIRES'], ...p.holds.map((h) => [h.name, String(h.ts), iso(h.ts >> LOGICAL_BITS), iso(h.expiresAtMs)])])}`,
  'coord.v1.CoordinatorInfo': (p) =>
    `${block([
      ['snapshot', String(p.snapshotId)],
      ['snapshot ts', hybrid(p.snapshotTs)],
      ['log time', `${p.logTimeMs} (${iso(p.logTimeMs)})`],
      ...standing(p),
    ])}\n${table(
      [['SETTING', 'VALUE'], ...Object.entries(p.settings).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, String(v)])],
      '  ',
    )}`,
  'coord.v1.SettingsChange': settingsChange,
  'coord.v1.Explanation': explanation,
};

/** The Reply payload types this coordctl knows how to show (a unit spec checks them against the Reply schema). */
export const RENDERED_PAYLOADS: readonly string[] = Object.keys(RENDER);

/** Where a coordinator stands, as `describe` (live) and `inspect DIR describe` (a folder) both show it. */
export const standing = (c: Omit<CoordinatorInfo, 'snapshotId' | 'snapshotTs' | 'logTimeMs' | 'settings'>): [string, string][] => [
  ['oracle ts', hybrid(c.oracleTs)],
  ['frontier ts', hybrid(c.frontierTs)],
  ['workers', String(c.workers)],
  ['open sessions', String(c.openSessions)],
  ['queries', String(c.queries)],
  ['allocations', `${c.allocationsInUse} in use, ${c.allocationsCached} cached`],
];

/** A payload as a table (lists) or a key/value block (one entity). Expects an unwrapped payload. */
export const payloadText = (payload: NonNullable<Reply['payload']>): string => {
  const render = RENDER[payload.type as keyof Payloads] as ((p: unknown) => string) | undefined;
  // A payload this coordctl does not know yet (a newer coordinator): show it rather than nothing.
  return render === undefined ? `${payload.type} ${json(payload.value)}\n` : render(payload.value);
};

/** The status line, then the payload as a table (lists) or a key/value block (one entity). Expects an unwrapped reply. */
export const replyText = (reply: Reply): string => {
  const head = `${reply.status}${reply.message === '' ? '' : `  ${reply.message}`}   (snapshot ${reply.snapshotId})\n`;
  return reply.payload === null ? head : `${head}\n${payloadText(reply.payload)}`;
};
