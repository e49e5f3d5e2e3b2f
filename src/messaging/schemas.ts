/** The Avro contracts of schemas/, loaded once: one record a file, named by its full name. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as avro from 'avsc';
import { CoordError } from '../errors';
import { packLong, unpackLong } from './avro-long';

export interface Contract {
  readonly fullName: string;
  /** The .avsc text, registered as it is. */
  readonly text: string;
  readonly type: avro.Type;
}

export type Contracts = ReadonlyMap<string, Contract>;

/** The project root: the nearest folder above this file that holds schemas/ and package.json. */
export const projectRoot = (): string => {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'schemas')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new CoordError('SCHEMA_INVALID', `no schemas/ folder above ${__dirname}`);
    dir = up;
  }
};

/** Avro longs as bigint, packed and unpacked without a Buffer a value (src/messaging/avro-long.ts). */
const BIGINT_LONG = (avro.types.LongType as unknown as { __with(m: Record<string, unknown>, noUnpack: boolean): avro.Type }).__with(
  {
    fromBuffer: unpackLong,
    toBuffer: packLong,
    fromJSON: (x: unknown) => BigInt(x as string),
    toJSON: (n: bigint) => Number(n),
    // A bigint past 64 bits is no long: refused (SCHEMA_INVALID), never wrapped.
    isValid: (n: unknown) => typeof n === 'bigint' && BigInt.asIntN(64, n) === n,
    compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
  },
  true,
);

/**
 * Every Avro type of the project is built with these options: longs as bigint, and unions
 * always wrapped (`{ 'coord.v1.LogicalSource': {...} }`), so adding a branch never changes
 * how the existing ones look in code.
 */
export const parseAvro = (schema: unknown): avro.Type =>
  avro.Type.forSchema(schema as avro.Schema, { wrapUnions: true, registry: { long: BIGINT_LONG } } as unknown as avro.ForSchemaOptions);

export const loadContracts = (dir = join(projectRoot(), 'schemas')): Contracts => {
  const out = new Map<string, Contract>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.avsc')).sort()) {
    const text = readFileSync(join(dir, file), 'utf8');
    const type = parseAvro(JSON.parse(text));
    const fullName = type.name;
    if (fullName === undefined || `${fullName}.avsc` !== file)
      throw new CoordError('SCHEMA_INVALID', `schemas/${file} must hold the named record ${file.replace(/\.avsc$/, '')}`);
    out.set(fullName, { fullName, text, type });
  }
  return out;
};
