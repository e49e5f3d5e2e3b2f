/**
 * The protocol's tables side by side, and what would make them disagree. The .avsc files of
 * schemas/ are the contract; RECORD_TOPICS (routing), the projections' handler maps, coordctl's
 * COMMANDS and the payload renderers of src/cli/format.ts must each agree with them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as avro from 'avsc';
import { handlerTable } from '../../projections';
import { REPLY_STATUSES } from '../../projections/types';
import { COMMANDS, type Command } from '../../src/cli/commands';
import { payloadTypes, RENDERED_PAYLOADS } from '../../src/cli/format';
import { RECORD_TOPICS } from '../../src/messaging/protocol';
import { changelogTables } from '../../src/messaging/changelog';
import { loadContracts, projectRoot } from '../../src/messaging/schemas';
import { INPUT_KINDS, type TopicKind } from '../../src/messaging/topics';

export interface ProtocolTables {
  /** schemas/*.avsc, by full name. */
  readonly schemas: ReadonlyMap<string, avro.Type>;
  readonly recordTopics: Readonly<Record<string, TopicKind>>;
  /** The record types the projections decide. */
  readonly handlers: ReadonlySet<string>;
  readonly commands: readonly Command[];
  /** The payload types src/cli/format.ts renders. */
  readonly rendered: readonly string[];
  /** The reply statuses of projections/types.ts. */
  readonly statuses: readonly string[];
  /** schemas/README.md, where each record is described for other languages. */
  readonly readme: string;
  /** The image records the changelog's tables carry (src/messaging/changelog.ts), by full name. */
  readonly changelogImages: ReadonlySet<string>;
}

export const protocolTables = (): ProtocolTables => ({
  schemas: new Map([...loadContracts()].map(([name, c]) => [name, c.type])),
  recordTopics: RECORD_TOPICS,
  handlers: new Set(handlerTable().keys()),
  commands: COMMANDS,
  rendered: RENDERED_PAYLOADS,
  statuses: REPLY_STATUSES,
  readme: readFileSync(join(projectRoot(), 'schemas', 'README.md'), 'utf8'),
  changelogImages: new Set([...changelogTables(loadContracts()).values()].map((t) => t.imageName)),
});

const WHERE = {
  schemas: 'schemas/*.avsc',
  topics: 'RECORD_TOPICS (src/messaging/protocol.ts)',
  handlers: 'the handler maps (projections/*/index.ts)',
  commands: "coordctl's COMMANDS (src/cli/commands.ts)",
  rendered: 'the payload renderers (src/cli/format.ts)',
  statuses: 'REPLY_STATUSES (projections/types.ts)',
  readme: 'the record table of schemas/README.md',
  changelog: "the changelog's tables (src/messaging/changelog.ts)",
};

/** The changelog's images and their parts: records of the tables' envelopes, not of RECORD_TOPICS. */
const CHANGELOG_NAMESPACE = 'coord.v1.changelog.';

/** Sample flag values for building every command without a command line: each optional part given. */
const SAMPLE_FLAGS: Readonly<Record<string, string>> = { 'as-of': '1', 'deadline-ms': '1000', 'lease-ms': '1000', sources: 'cars', sink: 'out', session: 's1' };

/** The request a command builds with every argument and flag given; or why it could not. */
export const sampleRequest = (c: Command): { type: string; value: Record<string, unknown> } | { error: string } => {
  try {
    return c.build({
      positional: (labels, more = false) => [
        ...labels.map((l) => (l === 'N' ? '1' : l === 'KEY=VALUE' ? 'maxAllocations=64' : 'x')),
        ...(more ? [labels.includes('KEY=VALUE') ? 'maxCachedAllocations=8' : 'id:INT64'] : []),
      ],
      value: (flag) => (flag === 'plan' ? undefined : (SAMPLE_FLAGS[flag] ?? 'x')),
      required: (flag) => SAMPLE_FLAGS[flag] ?? 'x',
      switch: () => true,
      values: () => ['k=v'],
    });
  } catch (err) {
    return { error: (err as Error).message };
  }
};

/** A value of `type` with one of everything (one array item, one map entry, the non-null union branch): deterministic, unlike avsc's random(). */
export const sampleOf = (type: avro.Type): unknown => {
  const t = type as avro.Type & { typeName: string };
  switch (t.typeName) {
    case 'record':
      return Object.fromEntries((t as avro.types.RecordType).fields.map((f) => [f.name, sampleOf(f.type)]));
    case 'array':
      return [sampleOf((t as avro.types.ArrayType).itemsType)];
    case 'map':
      return { k: sampleOf((t as avro.types.MapType).valuesType) };
    case 'union:wrapped': {
      const branch = (t as avro.types.WrappedUnionType).types.find((b) => b.typeName !== 'null');
      return branch === undefined ? null : { [branch.branchName as string]: sampleOf(branch) };
    }
    case 'enum':
      return (t as avro.types.EnumType).symbols[0];
    case 'string':
      return 'x';
    case 'boolean':
      return true;
    case 'int':
    case 'float':
    case 'double':
      return 1;
    case 'long':
    case 'abstract:long':
      return 1n;
    case 'bytes':
      return Buffer.from('x');
    case 'null':
      return null;
    default:
      throw new Error(`no sample for Avro type ${t.typeName}`);
  }
};

const isInput = (kind: TopicKind | undefined): boolean => kind !== undefined && INPUT_KINDS.includes(kind);
const isRequest = (kind: TopicKind | undefined): boolean => kind !== undefined && kind.startsWith('requests.');

/**
 * Every disagreement between the tables, one line each, naming the record and the tables:
 * a schema without a topic, a topic entry without a schema, an input without a handler, a handler
 * of no input record, a request without a command, a command whose record the schema refuses,
 * a payload branch not rendered (or rendered but not in the schema), a status list that differs.
 */
export const disagreements = (t: ProtocolTables): string[] => {
  const out: string[] = [];
  // The records a row of the README's tables names in its first cell (`GetSink` / `ListSinks` / ...).
  const described = new Set(t.readme.split('\n').flatMap((line) => (line.startsWith('|') ? [...(line.split('|')[1] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1]) : [])));
  for (const name of t.schemas.keys()) {
    if (name.startsWith(CHANGELOG_NAMESPACE)) {
      const short = name.slice(CHANGELOG_NAMESPACE.length);
      // An image is a table's (described in the README's table of images); a part of the envelope is described in its text.
      if (short.endsWith('Image') && !t.changelogImages.has(name)) out.push(`${name}: an image in ${WHERE.schemas} with no table in ${WHERE.changelog}`);
      if (short.endsWith('Image') ? !described.has(short) : !t.readme.includes(short)) out.push(`${name}: in ${WHERE.schemas} but not described in schemas/README.md`);
      continue;
    }
    if (t.recordTopics[name] === undefined) out.push(`${name}: in ${WHERE.schemas} but not in ${WHERE.topics}`);
    if (!described.has(name.replace(/^coord\.v1\./, ''))) out.push(`${name}: in ${WHERE.schemas} but not described in ${WHERE.readme}`);
  }
  for (const [name, kind] of Object.entries(t.recordTopics)) {
    if (!t.schemas.has(name)) out.push(`${name}: in ${WHERE.topics} (${kind}) but has no schema in ${WHERE.schemas}`);
    if (isInput(kind) && !t.handlers.has(name)) out.push(`${name}: consumed from ${kind} per ${WHERE.topics} but has no handler in ${WHERE.handlers}`);
  }
  for (const name of t.handlers) {
    const kind = t.recordTopics[name];
    if (!isInput(kind)) out.push(`${name}: has a handler in ${WHERE.handlers} but ${kind === undefined ? 'no entry' : `topic ${kind}, not an input,`} in ${WHERE.topics}`);
  }
  const built = new Map<string, string>();
  for (const c of t.commands) {
    const words = `coordctl ${c.noun}${c.verb === '' ? '' : ` ${c.verb}`}`;
    const r = sampleRequest(c);
    if ('error' in r) {
      out.push(`${words}: in ${WHERE.commands} does not build a request (${r.error})`);
      continue;
    }
    built.set(r.type, words);
    const schema = t.schemas.get(r.type);
    if (!isRequest(t.recordTopics[r.type])) out.push(`${r.type}: built by ${words} in ${WHERE.commands} but not a request in ${WHERE.topics}`);
    if (schema === undefined) out.push(`${r.type}: built by ${words} in ${WHERE.commands} but has no schema in ${WHERE.schemas}`);
    else {
      const wrong: string[] = [];
      if (!schema.isValid(r.value, { errorHook: (path) => wrong.push(path.join('.') || '(the record)') }))
        out.push(`${r.type}: ${words} in ${WHERE.commands} builds a value ${WHERE.schemas} refuses at ${wrong.join(', ')}`);
    }
  }
  for (const [name, kind] of Object.entries(t.recordTopics)) if (isRequest(kind) && !built.has(name)) out.push(`${name}: a request in ${WHERE.topics} with no command in ${WHERE.commands}`);

  const reply = t.schemas.get('coord.v1.Reply');
  if (reply === undefined) return [...out, `coord.v1.Reply: missing from ${WHERE.schemas}`];
  const branches = payloadTypes(reply);
  for (const name of branches.keys()) if (!t.rendered.includes(name)) out.push(`${name}: a Reply payload in ${WHERE.schemas} not shown by ${WHERE.rendered}`);
  for (const name of t.rendered) if (!branches.has(name)) out.push(`${name}: shown by ${WHERE.rendered} but not a Reply payload in ${WHERE.schemas}`);
  const symbols = ((reply as avro.types.RecordType).fields.find((f) => f.name === 'status')?.type as avro.types.EnumType | undefined)?.symbols ?? [];
  if (symbols.join() !== t.statuses.join()) out.push(`coord.v1.Reply status: ${WHERE.schemas} lists ${symbols.join(',')} but ${WHERE.statuses} lists ${t.statuses.join(',')}`);
  return out;
};
