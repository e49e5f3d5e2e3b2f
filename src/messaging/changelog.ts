/**
 * The changelog as tables: one compacted topic per entity type, `<prefix>.changelog.<entity>`,
 * keyed by the entity key, each record a Debezium-style envelope (`before`, `after`, `op`,
 * `source`, `ts_ms`) around the entity's typed image, and a tombstone after a delete.
 *
 * Everything here is derived from schemas/: every `coord.v1.changelog.<X>Image` record that
 * names its `entity` gets an envelope `coord.v1.changelog.<X>Envelope` and a topic. Adding an
 * entity type to the changelog is adding its image's .avsc, and nothing else.
 */
import type * as avro from 'avsc';
import type { ChangelogChangeSource } from '../../projections/protocol.gen';
import { CoordError } from '../errors';
import { parseAvro, type Contract, type Contracts } from './schemas';
import type { TopicSpec } from './topics';

export const CHANGELOG_NAMESPACE = 'coord.v1.changelog';
export const CHANGE_SOURCE = `${CHANGELOG_NAMESPACE}.ChangeSource`;

/** One entity type's table: its topic's suffix, its image and its envelope. */
export interface ChangelogTable {
  readonly entity: string;
  readonly imageName: string;
  readonly envelopeName: string;
  readonly image: avro.Type;
}

export const changelogTopic = (prefix: string, entity: string): string => `${prefix}.changelog.${entity}`;

/** Debezium's operation codes: create, update, delete (no `r`: a new reader reads the compacted topic instead of a snapshot). */
export type ChangeOp = 'c' | 'u' | 'd';

/** The source block of every envelope, as its schema (coord.v1.changelog.ChangeSource) gives it. */
export type ChangeSource = ChangelogChangeSource;

const IMAGE_SUFFIX = 'Image';

interface ImageSchema {
  readonly name: string;
  readonly namespace?: string;
  readonly entity?: unknown;
  readonly doc?: string;
}

/** The envelope of one image, in Debezium's shape, as registered under `<topic>-value`. */
export const envelopeSchema = (imageText: string, sourceText: string): Record<string, unknown> => {
  const image = JSON.parse(imageText) as ImageSchema;
  const fullImage = `${image.namespace ?? CHANGELOG_NAMESPACE}.${image.name}`;
  const base = image.name.slice(0, -IMAGE_SUFFIX.length);
  return {
    type: 'record',
    name: `${base}Envelope`,
    namespace: CHANGELOG_NAMESPACE,
    doc: `A change of one ${String(image.entity)}, in Debezium's envelope, on <prefix>.changelog.${String(image.entity)}, keyed by the ${String(image.entity)}'s key; a tombstone (null value) follows a delete.`,
    fields: [
      { name: 'before', type: ['null', image], default: null, doc: 'The image before the snapshot; null for a create.' },
      { name: 'after', type: ['null', fullImage], default: null, doc: 'The image after the snapshot (the last one of the snapshot); null for a delete.' },
      { name: 'op', type: 'string', doc: 'c (create), u (update) or d (delete).' },
      { name: 'source', type: JSON.parse(sourceText), doc: 'Where and when the change was made.' },
      { name: 'ts_ms', type: 'long', doc: 'Log time (epoch ms) of the snapshot, as source.ts_ms: the coordinator never reads a wall clock for it.' },
    ],
  };
};

const isImage = (c: Contract): boolean => c.fullName.startsWith(`${CHANGELOG_NAMESPACE}.`) && c.fullName.endsWith(IMAGE_SUFFIX);

/** The envelope contracts derived from the image contracts, for the codec to encode by name. */
export const envelopeContracts = (contracts: Contracts): Contract[] => {
  const source = contracts.get(CHANGE_SOURCE);
  if (source === undefined) return [];
  return [...contracts.values()].filter(isImage).map((c) => {
    const schema = envelopeSchema(c.text, source.text);
    const type = parseAvro(schema);
    return { fullName: type.name as string, text: JSON.stringify(schema), type };
  });
};

/** The tables of the changelog, by entity type, from the contracts (envelopes included). */
export const changelogTables = (contracts: Contracts): Map<string, ChangelogTable> => {
  const tables = new Map<string, ChangelogTable>();
  for (const c of [...contracts.values()].filter(isImage)) {
    const entity = (JSON.parse(c.text) as ImageSchema).entity;
    if (typeof entity !== 'string' || !/^[a-z][a-z0-9-]*$/.test(entity))
      throw new CoordError('SCHEMA_INVALID', `schemas/${c.fullName}.avsc must name its entity type ("entity": "worker", say) in lower case`);
    tables.set(entity, { entity, imageName: c.fullName, envelopeName: `${c.fullName.slice(0, -IMAGE_SUFFIX.length)}Envelope`, image: c.type });
  }
  return tables;
};

/**
 * Compacted, so reading from the start gives the current table whatever the log's age; a
 * deleted key's tombstone stays readable for `delete.retention.ms` (a day) so a consumer that
 * reads that far behind still sees the delete, then the key is gone. The last hour is never
 * compacted (`min.compaction.lag.ms`), so a table as of any time in it can be rebuilt exactly.
 */
export const changelogTopicSpecs = (prefix: string, tables: Iterable<ChangelogTable>, partitions = 1): TopicSpec[] =>
  [...tables].map((t) => ({
    topic: changelogTopic(prefix, t.entity),
    numPartitions: partitions,
    configEntries: [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'delete.retention.ms', value: '86400000' },
      { name: 'min.compaction.lag.ms', value: '3600000' },
    ],
  }));

/** Converts a plain value to the Avro value of one type; throws (without saying where) on a value it cannot take. */
type Convert = (value: unknown) => unknown;

const compiledConverters = new WeakMap<avro.Type, Convert>();

const unfit = (): never => {
  throw new Error('unfit');
};

/** The converter of `type`, built once per type: a heartbeat's image is converted without walking its schema again. */
const converter = (type: avro.Type): Convert => {
  const known = compiledConverters.get(type);
  if (known !== undefined) return known;
  let real: Convert = unfit;
  // Set before the children are built, so a type that names itself reaches this one.
  const convert: Convert = (v) => real(v);
  compiledConverters.set(type, convert);
  real = compile(type);
  return convert;
};

const compile = (type: avro.Type): Convert => {
  const t = type as avro.Type & { fields?: { name: string; type: avro.Type; defaultValue(): unknown }[]; types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type };
  switch (t.typeName) {
    case 'null':
      return () => null;
    case 'string':
      return (v) => (typeof v === 'string' ? v : unfit());
    case 'boolean':
      return (v) => (typeof v === 'boolean' ? v : unfit());
    case 'int':
      return (v) => (typeof v === 'number' && Number.isInteger(v) ? v : unfit());
    case 'float':
    case 'double':
      return (v) => (typeof v === 'number' ? v : unfit());
    case 'long':
    case 'abstract:long':
      return (v) => {
        if (typeof v === 'bigint') return v;
        if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
        return typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : unfit();
      };
    case 'array': {
      const items = converter(t.itemsType as avro.Type);
      return (v) => (Array.isArray(v) ? v.map((x) => items(x)) : unfit());
    }
    case 'map': {
      const values = converter(t.valuesType as avro.Type);
      // fromEntries, not assignment: a key named __proto__ stays a key.
      return (v) => (v === null || typeof v !== 'object' ? unfit() : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, values(x)])));
    }
    case 'record': {
      const fields = (t.fields ?? []).map((f) => ({ name: f.name, convert: converter(f.type), field: f }));
      return (v) => {
        if (v === null || typeof v !== 'object') return unfit();
        const from = v as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (const f of fields) {
          const raw = from[f.name];
          if (raw !== undefined) out[f.name] = f.convert(raw);
          else {
            const d = f.field.defaultValue();
            out[f.name] = d === undefined ? unfit() : d;
          }
        }
        return out;
      };
    }
    case 'union:wrapped': {
      const types = t.types ?? [];
      const nullable = types.some((b) => b.typeName === 'null');
      const branch = types.find((b) => b.typeName !== 'null');
      if (branch === undefined) return (v) => (v === null || v === undefined) && nullable ? null : unfit();
      const name = branch.branchName as string;
      const inner = converter(branch);
      return (v) => (v === null || v === undefined ? (nullable ? null : unfit()) : { [name]: inner(v) });
    }
    default:
      return unfit;
  }
};

/**
 * A plain image (JSON-shaped, as projections keep it) as the Avro value of `type`: longs from
 * numbers or decimal strings, nullable fields wrapped in their branch, fields the schema does not
 * name left out, and a field the image lacks given its default. Converted by a converter built
 * once per type; a value it cannot take is walked again by the checking converter, which says
 * where and why.
 */
export const typedValue = (type: avro.Type, value: unknown, path = ''): unknown => {
  try {
    return converter(type)(value);
  } catch {
    return checkedValue(type, value, path);
  }
};

/** The same conversion, field by field with the path, for the error that says where an image does not fit. */
const checkedValue = (type: avro.Type, value: unknown, path = ''): unknown => {
  const t = type as avro.Type & { fields?: { name: string; type: avro.Type; defaultValue(): unknown }[]; types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type };
  const wrong = (): never => {
    throw new CoordError('SCHEMA_INVALID', `${path || 'the image'} is ${JSON.stringify(value)?.slice(0, 60)}, not a ${t.typeName}`);
  };
  switch (t.typeName) {
    case 'null':
      return null;
    case 'string':
      return typeof value === 'string' ? value : wrong();
    case 'boolean':
      return typeof value === 'boolean' ? value : wrong();
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) ? value : wrong();
    case 'float':
    case 'double':
      return typeof value === 'number' ? value : wrong();
    case 'long':
    case 'abstract:long':
      if (typeof value === 'bigint') return value;
      if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
      return typeof value === 'string' && /^-?\d+$/.test(value) ? BigInt(value) : wrong();
    case 'array':
      return Array.isArray(value) ? value.map((v, i) => checkedValue(t.itemsType as avro.Type, v, `${path}[${i}]`)) : wrong();
    case 'map':
      return value !== null && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, checkedValue(t.valuesType as avro.Type, v, `${path}.${k}`)]))
        : wrong();
    case 'record': {
      if (value === null || typeof value !== 'object') return wrong();
      const v = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of t.fields ?? []) {
        const raw = v[f.name];
        if (raw === undefined) {
          const d = f.defaultValue();
          if (d === undefined) throw new CoordError('SCHEMA_INVALID', `${path || 'the image'} has no ${f.name}, which ${t.name} needs`);
          out[f.name] = d;
        } else out[f.name] = checkedValue(f.type, raw, `${path}.${f.name}`);
      }
      return out;
    }
    case 'union:wrapped': {
      const types = t.types ?? [];
      if (value === null || value === undefined) return types.some((b) => b.typeName === 'null') ? null : wrong();
      const branch = types.find((b) => b.typeName !== 'null');
      return branch === undefined ? wrong() : { [branch.branchName as string]: checkedValue(branch, value, path) };
    }
    default:
      throw new CoordError('SCHEMA_INVALID', `${path || 'the image'}: changelog images do not use Avro ${t.typeName}`);
  }
};

/** The envelope's value for one entity changed in a snapshot (undefined images: absent before or after). */
export const envelopeValue = (table: ChangelogTable, before: unknown, after: unknown, source: ChangeSource): Record<string, unknown> => {
  const wrap = (image: unknown): unknown => (image === undefined || image === null ? null : { [table.imageName]: typedValue(table.image, image) });
  const op: ChangeOp = before === undefined ? 'c' : after === undefined ? 'd' : 'u';
  return { before: wrap(before), after: wrap(after), op, source, ts_ms: source.ts_ms };
};

/** The contracts with the changelog's envelopes added: what the codec encodes by name. */
export const withChangelogEnvelopes = (contracts: Contracts): Contracts => new Map([...contracts, ...envelopeContracts(contracts).map((c) => [c.fullName, c] as const)]);
