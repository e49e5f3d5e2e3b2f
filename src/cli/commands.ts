/** The request commands of coordctl: one table row per request of the protocol, its words, flags and how it builds the record. */
import { parseArgs } from 'node:util';
import { isSettingName, SETTING_BOUNDS } from '../../projections/system/settings';
import { LOGICAL_BITS } from '../../projections/system/hybrid';

/** A command line that does not make a command; `usage` is the help that fits it, when narrower than the whole list. */
export class UsageError extends Error {
  readonly usage: string | undefined;

  constructor(message: string, usage?: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

/** A request record ready to ask, wrapped unions and bigint longs as the codec wants them. */
export interface Request {
  readonly type: string;
  readonly value: Record<string, unknown>;
  /** How long from now the coordinator may take to apply it (the `deadline-ms` header), in ms. */
  readonly deadlineInMs?: number;
}

/** `value`: takes an argument; `switch`: stands alone; `values`: takes an argument and may repeat. */
type FlagKind = 'value' | 'switch' | 'values';

interface Args {
  /** The positional arguments, checked against `labels`: one each, and with `more`, any number after the last. */
  positional(labels: readonly string[], more?: boolean): string[];
  value(flag: string): string | undefined;
  required(flag: string): string;
  switch(flag: string): boolean;
  values(flag: string): string[];
}

export interface Command {
  readonly noun: string;
  /** '' for a noun that is a command by itself (`describe`). */
  readonly verb: string;
  /** What follows the words in the synopsis. */
  readonly args: string;
  readonly summary: string;
  readonly flags: Readonly<Record<string, FlagKind>>;
  readonly build: (a: Args) => Request;
}

const MAX_INT = 2_147_483_647;
const MAX_LONG = 9_223_372_036_854_775_807n;
const A_DAY_MS = 86_400_000;

/** A whole number in [min, max]; anything else (signs, decimals, exponents, hex) is refused. */
const wholeNumber = (what: string, raw: string, min: number, max: number): number => {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`${what} must be from ${min} to ${max}, got ${raw}`);
  return n;
};

/** Whether `raw` is written as an ISO-8601 time rather than a number. */
export const isIsoTime = (raw: string): boolean => /^\d{4}-\d{2}-\d{2}/.test(raw);

/**
 * A hybrid timestamp for `--as-of` (or `flag`): as the coordinator prints them (physical ms << 18 | logical),
 * or an ISO-8601 time, which reads the state as it stood at that instant.
 */
export const hybridTs = (raw: string, flag = '--as-of'): bigint => {
  if (isIsoTime(raw)) {
    const ms = Date.parse(raw);
    if (Number.isNaN(ms) || ms < 0) throw new UsageError(`${flag} ${JSON.stringify(raw)} is not a time; give an ISO-8601 time such as 2026-11-21T15:07:58Z, or a hybrid timestamp`);
    return BigInt(ms) << LOGICAL_BITS;
  }
  if (!/^\d+$/.test(raw) || BigInt(raw) > MAX_LONG)
    throw new UsageError(`${flag} must be a hybrid timestamp (a whole number, as snapshotTs prints it) or an ISO-8601 time, got ${JSON.stringify(raw)}`);
  return BigInt(raw);
};

const asOf = (a: Args): { long: bigint } | null => {
  const raw = a.value('as-of');
  return raw === undefined ? null : { long: hybridTs(raw) };
};

const optionalString = (raw: string | undefined): { string: string } | null => (raw === undefined ? null : { string: raw });

const parseFields = (specs: readonly string[]): { name: string; type: string }[] =>
  specs.map((spec) => {
    const i = spec.indexOf(':');
    if (i <= 0 || i === spec.length - 1) throw new UsageError(`field ${JSON.stringify(spec)} must be NAME:TYPE, e.g. speed:FLOAT64`);
    return { name: spec.slice(0, i), type: spec.slice(i + 1) };
  });

/** `--option k=v`, repeated, as the connector or sink options map. */
const parseOptions = (specs: readonly string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const i = spec.indexOf('=');
    if (i <= 0) throw new UsageError(`--option ${JSON.stringify(spec)} must be KEY=VALUE, e.g. --option topic=cars`);
    const key = spec.slice(0, i);
    if (key in out) throw new UsageError(`--option ${key} is given twice`);
    out[key] = spec.slice(i + 1);
  }
  return out;
};

const planOf = (a: Args): string => {
  const plan = a.value('plan');
  const sources = a.value('sources');
  const sink = a.value('sink');
  if (plan !== undefined) {
    if (sources !== undefined || sink !== undefined) throw new UsageError('give either --plan JSON or --sources and --sink, not both');
    let parsed: unknown;
    try {
      parsed = JSON.parse(plan);
    } catch (err) {
      throw new UsageError(`--plan is not JSON (${(err as Error).message}); e.g. --plan '{"sources":["cars"],"sink":"out"}'`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`--plan must be a JSON object, e.g. '{"sources":["cars"],"sink":"out"}'`);
    return plan;
  }
  if (sources === undefined || sink === undefined) throw new UsageError('query create needs --plan JSON, or --sources A,B and --sink S');
  const names = sources
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UsageError('--sources must name at least one logical source, e.g. --sources cars,trucks');
  return JSON.stringify({ sources: names, sink });
};

const AS_OF = { 'as-of': 'value' } as const;
const CASCADE = { cascade: 'switch' } as const;

const byName = (type: string, extra: (a: Args) => Record<string, unknown> = () => ({})) => (a: Args): Request => {
  const [name] = a.positional(['NAME']);
  return { type, value: { name, ...extra(a) } };
};

const none = (type: string, value: (a: Args) => Record<string, unknown> = () => ({})) => (a: Args): Request => {
  a.positional([]);
  return { type, value: value(a) };
};

const count = (type: string) => (a: Args): Request => {
  const [n] = a.positional(['N']);
  return { type, value: { count: wholeNumber('N', n, 1, MAX_INT) } };
};

/** `NOUN get NAME [--as-of TS]`: one entity, now or as it stood at a hybrid timestamp. */
const getRow = (noun: string, type: string, summary = 'read one'): Command => ({ noun, verb: 'get', args: 'NAME [--as-of TS]', summary, flags: AS_OF, build: byName(type, (a) => ({ asOfTs: asOf(a) })) });

/** `NOUN list [--as-of TS]`: every entity of a kind, now or as they stood at a hybrid timestamp. */
const listRow = (noun: string, type: string, summary: string): Command => ({ noun, verb: 'list', args: '[--as-of TS]', summary, flags: AS_OF, build: none(type, (a) => ({ asOfTs: asOf(a) })) });

/** `NOUN list [--FLAG V] [--as-of TS]`: those of a kind whose `field` is V (all without the flag), now or at TS. */
const filteredListRow = (noun: string, type: string, filter: { readonly flag: string; readonly field: string; readonly arg: string }, summary: string): Command => ({
  noun,
  verb: 'list',
  args: `[--${filter.flag} ${filter.arg}] [--as-of TS]`,
  summary,
  flags: { ...AS_OF, [filter.flag]: 'value' },
  build: none(type, (a) => ({ [filter.field]: optionalString(a.value(filter.flag)), asOfTs: asOf(a) })),
});

/** `NOUN drop NAME [--cascade]`: a catalog entity, and with --cascade `cascades`, what depends on it. */
const dropRow = (noun: string, type: string, cascades: string): Command => ({ noun, verb: 'drop', args: 'NAME [--cascade]', summary: `drop one (--cascade: ${cascades})`, flags: CASCADE, build: byName(type, (a) => ({ cascade: a.switch('cascade') })) });

/** The get, list and drop rows of a catalog entity whose list takes no filter. */
const readAndDropRows = (noun: string, types: { readonly get: string; readonly list: string; readonly drop: string }, listSummary: string, cascades: string): Command[] => [
  getRow(noun, types.get),
  listRow(noun, types.list, listSummary),
  dropRow(noun, types.drop, cascades),
];

/**
 * `key=value` pairs as an UpdateSettings value: each key a setting, each value a whole number
 * that fits the Avro type it travels in (int or long); the coordinator checks the rest.
 */
export const settingsValue = (pairs: readonly string[]): Record<string, unknown> => {
  const out: Record<string, unknown> = { initial: false };
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    const key = i <= 0 ? pair : pair.slice(0, i);
    if (i <= 0) throw new UsageError(`${JSON.stringify(pair)} must be KEY=VALUE, e.g. maxAllocations=64`);
    if (!isSettingName(key)) throw new UsageError(`unknown setting ${JSON.stringify(key)}; settings are ${Object.keys(SETTING_BOUNDS).join(', ')}`);
    if (key in out) throw new UsageError(`${key} is given twice`);
    const { avro, min, max } = SETTING_BOUNDS[key];
    const raw = pair.slice(i + 1);
    const n = wholeNumber(key, raw, min, max);
    out[key] = avro === 'int' ? { int: n } : { long: BigInt(n) };
  }
  return out;
};

/** Every request command, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [
  {
    noun: 'logical-source', verb: 'create',
    args: 'NAME F:T...',
    summary: 'create a logical source, e.g. cars id:INT64 speed:FLOAT64',
    flags: {},
    build: (a) => {
      const [name, ...fields] = a.positional(['NAME'], true);
      return { type: 'coord.v1.CreateLogicalSource', value: { name, fields: parseFields(fields) } };
    },
  },
  ...readAndDropRows(
    'logical-source',
    { get: 'coord.v1.GetLogicalSource', list: 'coord.v1.ListLogicalSources', drop: 'coord.v1.DropLogicalSource' },
    'every logical source',
    'its queries and physical sources too',
  ),
  {
    noun: 'physical-source', verb: 'create',
    args: 'NAME --logical-source LS --worker W --connector TYPE [--option K=V]...',
    summary: "where a logical source's data enters, on one worker",
    flags: { 'logical-source': 'value', worker: 'value', connector: 'value', option: 'values' },
    build: byName('coord.v1.CreatePhysicalSource', (a) => ({
      logicalSource: a.required('logical-source'),
      workerId: a.required('worker'),
      connectorType: a.required('connector'),
      options: parseOptions(a.values('option')),
    })),
  },
  getRow('physical-source', 'coord.v1.GetPhysicalSource'),
  filteredListRow('physical-source', 'coord.v1.ListPhysicalSources', { flag: 'logical-source', field: 'logicalSource', arg: 'LS' }, 'physical sources (only those feeding LS)'),
  dropRow('physical-source', 'coord.v1.DropPhysicalSource', 'the queries that read it too'),
  {
    noun: 'sink', verb: 'create',
    args: 'NAME --type T [--option K=V]...',
    summary: "where a query's results go, e.g. --type kafka --option topic=out",
    flags: { type: 'value', option: 'values' },
    build: byName('coord.v1.CreateSink', (a) => ({ type: a.required('type'), options: parseOptions(a.values('option')) })),
  },
  ...readAndDropRows('sink', { get: 'coord.v1.GetSink', list: 'coord.v1.ListSinks', drop: 'coord.v1.DropSink' }, 'every sink', 'the queries that write to it too'),
  {
    noun: 'query', verb: 'create',
    args: 'NAME (--plan JSON | --sources A,B --sink S) [--session S] [--temporary]',
    summary: 'create a query (CREATED); --temporary ends with its session',
    flags: { plan: 'value', sources: 'value', sink: 'value', session: 'value', temporary: 'switch' },
    build: byName('coord.v1.CreateQuery', (a) => {
      const session = a.value('session');
      const temporary = a.switch('temporary');
      if (temporary && session === undefined) throw new UsageError('--temporary needs --session: a temporary query ends with its session');
      return { plan: planOf(a), session: optionalString(session), temporary };
    }),
  },
  {
    noun: 'query', verb: 'start',
    args: 'NAME [--deadline-ms N]',
    summary: 'deploy it; waits until every fragment runs (ABORTED past the deadline)',
    flags: { 'deadline-ms': 'value' },
    build: (a) => {
      const [name] = a.positional(['NAME']);
      const deadline = a.value('deadline-ms');
      const request = { type: 'coord.v1.StartQuery', value: { name } };
      return deadline === undefined ? request : { ...request, deadlineInMs: wholeNumber('--deadline-ms', deadline, 1, A_DAY_MS) };
    },
  },
  { noun: 'query', verb: 'stop', args: 'NAME', summary: 'stop its fragments', flags: {}, build: byName('coord.v1.StopQuery') },
  { noun: 'query', verb: 'drop', args: 'NAME', summary: 'drop a query that does not run', flags: {}, build: byName('coord.v1.DropQuery') },
  getRow('query', 'coord.v1.GetQuery', 'read one, with its fragments'),
  filteredListRow('query', 'coord.v1.ListQueries', { flag: 'session', field: 'session', arg: 'S' }, 'queries (only those of session S)'),
  { noun: 'alloc', verb: 'ids', args: 'N', summary: 'N ids never handed out again', flags: {}, build: count('coord.v1.AllocIds') },
  { noun: 'alloc', verb: 'timestamps', args: 'N', summary: 'N consecutive hybrid timestamps, later than any before', flags: {}, build: count('coord.v1.AllocTimestamps') },
  {
    noun: 'hold', verb: 'acquire',
    args: 'NAME [--as-of TS] [--lease-ms N]',
    summary: 'keep the history at TS (default now) readable for N ms (default 60000); renews',
    flags: { ...AS_OF, 'lease-ms': 'value' },
    build: byName('coord.v1.AcquireReadHold', (a) => {
      const lease = a.value('lease-ms');
      return { asOfTs: asOf(a), leaseMs: BigInt(lease === undefined ? 60_000 : wholeNumber('--lease-ms', lease, 1, A_DAY_MS)) };
    }),
  },
  { noun: 'hold', verb: 'release', args: 'NAME', summary: 'release a read hold', flags: {}, build: byName('coord.v1.ReleaseReadHold') },
  { noun: 'hold', verb: 'list', args: '', summary: 'the read holds and the compaction frontier', flags: {}, build: none('coord.v1.ListReadHolds') },
  { noun: 'workers', verb: 'list', args: '[--all]', summary: 'the workers and their state (--all: the dead and gone too)', flags: { all: 'switch' }, build: none('coord.v1.ListWorkers', (a) => ({ includeGone: a.switch('all') })) },
  { noun: 'describe', verb: '', args: '', summary: 'where the coordinator stands: snapshot, oracle, frontier, counts, settings', flags: {}, build: none('coord.v1.DescribeCoordinator') },
  { noun: 'settings', verb: 'get', args: '', summary: 'the settings in force, from the log', flags: {}, build: none('coord.v1.GetSettings') },
  {
    noun: 'settings', verb: 'set',
    args: 'KEY=VALUE...',
    summary: 'change settings (admin); answered with the values before and after',
    flags: {},
    build: (a) => ({ type: 'coord.v1.UpdateSettings', value: settingsValue(a.positional(['KEY=VALUE'], true)) }),
  },
  {
    noun: 'key',
    verb: 'register',
    args: 'KEY_ID PRINCIPAL PUBLIC_KEY [--role R]...',
    summary: "register a principal's Ed25519 public key (admin); `coordctl keygen FILE` makes a key and prints PUBLIC_KEY",
    flags: { role: 'values' },
    build: (a) => {
      const [keyId, principal, publicKey] = a.positional(['KEY_ID', 'PRINCIPAL', 'PUBLIC_KEY']);
      return { type: 'coord.v1.RegisterPrincipalKey', value: { keyId, principal, publicKey, roles: a.values('role') } };
    },
  },
  { noun: 'key', verb: 'revoke', args: 'KEY_ID', summary: 'revoke a key (admin): records signed with it are refused from then on', flags: {}, build: (a) => ({ type: 'coord.v1.RevokePrincipalKey', value: { keyId: a.positional(['KEY_ID'])[0] } }) },
  { noun: 'explain', verb: '', args: 'CORRELATION-ID', summary: "what became of a request: log position, snapshot, order, reply, changes, commands, DLQ", flags: {}, build: (a) => ({ type: 'coord.v1.ExplainRequest', value: { correlationId: a.positional(['CORRELATION-ID'])[0] } }) },
];

/** Flags every request command takes. */
const COMMON: Readonly<Record<string, FlagKind>> = { json: 'switch', help: 'switch' };

export const isRequestNoun = (noun: string): boolean => COMMANDS.some((c) => c.noun === noun);

const words = (c: Command): string => `coordctl ${c.noun}${c.verb === '' ? '' : ` ${c.verb}`}`;

/** Help lines for `commands`: synopsis, then summary, on one line when it fits. */
export const usageLines = (commands: readonly Command[] = COMMANDS, width = 46): string => {
  const lines: string[] = [];
  let noun: string | undefined;
  for (const c of commands) {
    if (noun !== undefined && c.noun !== noun) lines.push('');
    noun = c.noun;
    const synopsis = `  ${words(c)}${c.args === '' ? '' : ` ${c.args}`}`;
    lines.push(synopsis.length < width ? `${synopsis.padEnd(width)} ${c.summary}` : `${synopsis}\n${' '.repeat(width + 1)}${c.summary}`);
  }
  return `${lines.join('\n')}\n`;
};

const nounUsage = (noun: string): string => usageLines(COMMANDS.filter((c) => c.noun === noun));

/** What a request command line asks for: its help, or a request to send. */
export type Parsed =
  | { readonly kind: 'help'; readonly usage: string }
  | { readonly kind: 'ask'; readonly request: Request; readonly json: boolean };

/** Reads the words after the noun (configuration flags already removed); throws UsageError when they make no command. */
export const parseCommand = (noun: string, argv: readonly string[]): Parsed => {
  const nounCommands = COMMANDS.filter((c) => c.noun === noun);
  if (nounCommands.length === 0) throw new UsageError(`unknown command ${noun}`);
  const bare = nounCommands.find((c) => c.verb === '');
  const verb = bare === undefined ? argv[0] : '';
  const command = bare ?? nounCommands.find((c) => c.verb === verb);
  if (command === undefined) {
    if (verb === '--help' || verb === 'help') return { kind: 'help', usage: nounUsage(noun) };
    throw new UsageError(verb === undefined ? `coordctl ${noun} needs a command` : `unknown command: ${noun} ${verb}`, nounUsage(noun));
  }
  const usage = usageLines([command]);
  // parseArgs would take -5 for an unknown flag; no argument of ours starts with '-' but flags.
  const negative = argv.find((a) => /^-\d/.test(a));
  if (negative !== undefined) throw new UsageError(`${words(command)}: numbers are whole and positive, got ${negative}`, usage);
  const flags = { ...command.flags, ...COMMON };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv.slice(bare === undefined ? 1 : 0)],
      options: Object.fromEntries(Object.entries(flags).map(([f, kind]) => [f, { type: kind === 'switch' ? 'boolean' : 'string', multiple: kind === 'values' }])),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    // Node's hint about `--` helps nobody here, for the same reason.
    throw new UsageError(`${words(command)}: ${(err as Error).message.replace(/\. To specify a positional argument .*$/s, '')}`, usage);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { kind: 'help', usage };
  const args: Args = {
    positional: (labels, more = false) => {
      if (positionals.length < labels.length) throw new UsageError(`${words(command)} needs ${labels.slice(positionals.length).join(' ')}`);
      if (!more && positionals.length > labels.length)
        throw new UsageError(`${words(command)} takes ${labels.length === 0 ? 'no arguments' : labels.join(' ')}; unexpected ${positionals.slice(labels.length).map((p) => JSON.stringify(p)).join(' ')}`);
      return [...positionals];
    },
    value: (flag) => values[flag] as string | undefined,
    required: (flag) => {
      const v = values[flag] as string | undefined;
      if (v === undefined) throw new UsageError(`${words(command)} needs --${flag}`);
      return v;
    },
    switch: (flag) => values[flag] === true,
    values: (flag) => (values[flag] as string[] | undefined) ?? [],
  };
  try {
    return { kind: 'ask', request: command.build(args), json: values.json === true };
  } catch (err) {
    // What the builders refuse is about this one command: show its synopsis, not the whole list.
    if (err instanceof UsageError && err.usage === undefined) throw new UsageError(err.message, usage);
    throw err;
  }
};
