/**
 * The TypeScript types of the protocol's records, derived from schemas/*.avsc as the codec
 * decodes them: `make build` writes them to projections/protocol.gen.ts, the deciders take their
 * requests and events as those types. The file is build output, as dist/ is, and not committed; a
 * unit spec fails when the file in the checkout is not what the schemas give now (a schema edited
 * since the last build). Run alone (`npx tsx src/messaging/protocol-types.ts`) it writes the file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as avro from 'avsc';
import { CoordError } from '../errors';
import { loadContracts, projectRoot, type Contracts } from './schemas';

/** Where the types go, from the project root: in projections/, which imports nothing from src/. */
export const GENERATED_FILE = 'projections/protocol.gen.ts';

const HEADER = `// Generated from schemas/*.avsc by src/messaging/protocol-types.ts (make build): do not edit.
// The records as the codec decodes them: longs are bigint, a union is null or its branch wrapped
// (\`{ string: 'x' }\`), an enum is its symbols, and defaults are filled in, so every field is there.
`;

const NAMESPACE = 'coord.v1.';

/** A named type's name in TypeScript: `coord.v1.Sink` is `Sink`, `coord.v1.changelog.SinkImage` is `ChangelogSinkImage`. */
export const tsName = (fullName: string): string => {
  const parts = (fullName.startsWith(NAMESPACE) ? fullName.slice(NAMESPACE.length) : fullName).split('.');
  return parts.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
};

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string): string => (IDENTIFIER.test(name) ? name : `'${name}'`);
/** Lines of a doc comment: on one line when it fits in WIDTH, else wrapped between words. */
const WIDTH = 100;
const doc = (text: string | undefined, indent: string): string => {
  const words = (text ?? '').replace(/\*\//g, '*\\/').split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return '';
  const one = `${indent}/** ${words.join(' ')} */`;
  if (one.length <= WIDTH) return `${one}\n`;
  const lines: string[] = [];
  for (const w of words) {
    const last = lines.length - 1;
    if (last >= 0 && `${indent} * ${lines[last]} ${w}`.length <= WIDTH) lines[last] = `${lines[last]} ${w}`;
    else lines.push(w);
  }
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}\n`).join('')}${indent} */\n`;
};
/** A type after a colon: a multi-line union starts on the next line. */
const spaced = (type: string): string => (type.startsWith('\n') ? type : ` ${type}`);
/** Where a doc comment starts and ends, to compare two declarations without their docs. */
const DOCS = /^ *\/\*\*[^]*?\*\/\n/gm;

interface Declaration {
  /** Where it was first declared, for a conflict's message. */
  readonly file: string;
  /** Its TypeScript without docs: two declarations of one name must agree on it. */
  readonly shape: string;
  readonly text: string;
}

type Named = avro.Type & { readonly name: string; readonly doc?: string };

/** Renders schemas' records, and every named type inside them, once each, in the order first met. */
class Renderer {
  readonly declarations = new Map<string, Declaration>();
  private readonly byTsName = new Map<string, string>();
  private file = '';

  declareAll(file: string, type: avro.Type): void {
    this.file = file;
    this.ref(type);
  }

  /** The TypeScript of a type where it is used; a named type is declared on the way. */
  private ref(type: avro.Type): string {
    const t = type as avro.Type & { typeName: string };
    switch (t.typeName) {
      case 'record':
      case 'error':
        return this.declare(t as Named, (self) => this.record(self as avro.types.RecordType & Named));
      case 'enum':
        return this.declare(t as Named, (self) => {
          const symbols = (self as unknown as avro.types.EnumType).symbols.map((s) => `'${s}'`);
          const one = `export type ${tsName(self.name)} = ${symbols.join(' | ')};`;
          return `${doc(self.doc, '')}${one.length <= WIDTH ? one : `export type ${tsName(self.name)} =${symbols.map((s) => `\n  | ${s}`).join('')};`}\n`;
        });
      case 'fixed':
        return this.declare(t as Named, (self) => `export type ${tsName(self.name)} = Buffer;\n`);
      case 'array': {
        const items = this.ref((t as avro.types.ArrayType).itemsType);
        return IDENTIFIER.test(items) ? `readonly ${items}[]` : `ReadonlyArray<${items}>`;
      }
      case 'map':
        return `Readonly<Record<string, ${this.ref((t as avro.types.MapType).valuesType)}>>`;
      case 'union:wrapped': {
        const branches = (t as avro.types.WrappedUnionType).types;
        const wrapped = branches.filter((b) => b.typeName !== 'null').map((b) => `{ readonly ${key(b.branchName as string)}: ${this.ref(b)} }`);
        const all = [...wrapped, ...(branches.some((b) => b.typeName === 'null') ? ['null'] : [])];
        // A union of many records, one branch a line.
        return all.length <= 2 ? all.join(' | ') : all.map((b) => `\n    | ${b}`).join('');
      }
      case 'union:unwrapped':
        throw new CoordError('SCHEMA_INVALID', `${this.file}: a union read unwrapped; the codec wraps every union (src/messaging/schemas.ts)`);
      case 'null':
        return 'null';
      case 'boolean':
        return 'boolean';
      case 'int':
      case 'float':
      case 'double':
        return 'number';
      // The codec reads longs as bigint (BIGINT_LONG in src/messaging/schemas.ts); avsc's own long, a number, is never used.
      case 'abstract:long':
        return 'bigint';
      case 'string':
        return 'string';
      case 'bytes':
        return 'Buffer';
      default:
        throw new CoordError('SCHEMA_INVALID', `${this.file}: no TypeScript for the Avro type ${t.typeName}`);
    }
  }

  private record(t: avro.types.RecordType & Named): string {
    const name = tsName(t.name);
    // A decoded record with no fields is an empty object.
    if (t.fields.length === 0) return `${doc(t.doc, '')}export type ${name} = Record<string, never>;\n`;
    const fields = t.fields.map((f) => `${doc((f as avro.types.Field & { doc?: string }).doc, '  ')}  readonly ${key(f.name)}:${spaced(this.ref(f.type))};\n`).join('');
    // A type literal, not an interface: it is then also a Record<string, unknown>, as payloads, commands and decoded values are typed.
    return `${doc(t.doc, '')}export type ${name} = {\n${fields}};\n`;
  }

  private declare(t: Named, render: (t: Named) => string): string {
    const name = tsName(t.name);
    const seen = this.declarations.get(t.name);
    if (seen === undefined) {
      const other = this.byTsName.get(name);
      if (other !== undefined) throw new CoordError('SCHEMA_INVALID', `${this.file}: ${t.name} and ${other} would both be ${name} in TypeScript; rename one`);
      this.byTsName.set(name, t.name);
      // Reserved first, so a record that refers to itself ends the walk.
      this.declarations.set(t.name, { file: this.file, shape: '', text: '' });
      const text = render(t);
      this.declarations.set(t.name, { file: this.file, shape: text.replace(DOCS, ''), text });
    } else if (seen.shape !== '') {
      const shape = render(t).replace(DOCS, '');
      if (shape !== seen.shape) throw new CoordError('SCHEMA_INVALID', `${this.file} declares ${t.name} unlike ${seen.file}: one name, two types`);
    }
    return name;
  }
}

/** projections/protocol.gen.ts as `contracts` give it: every type, then the records by full name. */
export const protocolTypes = (contracts: Contracts): string => {
  const renderer = new Renderer();
  const records = [...contracts.values()].sort((a, b) => (a.fullName < b.fullName ? -1 : a.fullName > b.fullName ? 1 : 0));
  for (const c of records) renderer.declareAll(`schemas/${c.fullName}.avsc`, c.type);
  const types = [...renderer.declarations.values()].map((d) => d.text).join('\n');
  const table = records.map((c) => `  readonly '${c.fullName}': ${tsName(c.fullName)};\n`).join('');
  return `${HEADER}\n${types}\n/** Every record of schemas/, by its full name. */\nexport type ProtocolRecords = {\n${table}};\n\nexport type RecordName = keyof ProtocolRecords;\n`;
};

/** Writes the file when the schemas give something else; true when it did. */
export const writeProtocolTypes = (root = projectRoot()): boolean => {
  const path = join(root, GENERATED_FILE);
  const text = protocolTypes(loadContracts(join(root, 'schemas')));
  let was: string | undefined;
  try {
    was = readFileSync(path, 'utf8');
  } catch {
    was = undefined;
  }
  if (was === text) return false;
  writeFileSync(path, text);
  return true;
};

if (require.main === module) {
  const wrote = writeProtocolTypes();
  process.stdout.write(`${GENERATED_FILE} ${wrote ? 'written from schemas/' : 'is up to date'}\n`);
}
