import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED_FILE, protocolTypes } from '../../src/messaging/protocol-types';
import { loadContracts, parseAvro, projectRoot, type Contracts } from '../../src/messaging/schemas';

/** Contracts of the schemas given, as loadContracts builds them from files. */
const contracts = (...schemas: object[]): Contracts =>
  new Map(
    schemas.map((s) => {
      const type = parseAvro(s);
      return [type.name as string, { fullName: type.name as string, text: JSON.stringify(s), type }];
    }),
  );

const record = (name: string, fields: object[], namespace = 'coord.v1'): object => ({ type: 'record', name, namespace, fields });

/** The declaration of `name` in generated text, from its `export` to the end of its statement. */
const declaration = (text: string, name: string): string => {
  const at = text.indexOf(`export type ${name} =`);
  assert.ok(at >= 0, `no declaration of ${name} in:\n${text}`);
  const body = at + `export type ${name} =`.length;
  return text.slice(at, text.startsWith(' {\n', body) ? text.indexOf('\n};\n', body) + 3 : text.indexOf(';\n', body) + 1);
};

describe('protocol types: generated from schemas/*.avsc', () => {
  it(`${GENERATED_FILE} is what the schemas give now (make build writes it again)`, () => {
    const built = readFileSync(join(projectRoot(), GENERATED_FILE), 'utf8');
    assert.ok(built === protocolTypes(loadContracts()), `${GENERATED_FILE} is out of date with schemas/: run make build (or npx tsx src/messaging/protocol-types.ts)`);
  });

  it('types a long as bigint, as the codec decodes it', () => {
    const schema = record('Clock', [{ name: 'atMs', type: 'long' }]);
    assert.equal(typeof (parseAvro(schema).fromBuffer(parseAvro(schema).toBuffer({ atMs: 7n })) as { atMs: unknown }).atMs, 'bigint');
    assert.match(declaration(protocolTypes(contracts(schema)), 'Clock'), /readonly atMs: bigint;/);
  });

  it('types an optional value as null or its branch, wrapped as the codec gives it', () => {
    const text = protocolTypes(contracts(record('Get', [{ name: 'asOfTs', type: ['null', 'long'], default: null }, { name: 'session', type: ['null', 'string'], default: null }])));
    assert.match(declaration(text, 'Get'), /readonly asOfTs: \{ readonly long: bigint \} \| null;/);
    assert.match(declaration(text, 'Get'), /readonly session: \{ readonly string: string \} \| null;/);
  });

  it('keys a branch that is a record by its full name, one branch a line', () => {
    const a = record('A', [{ name: 'x', type: 'int' }]);
    const text = protocolTypes(contracts(record('Reply', [{ name: 'payload', type: ['null', a, record('B', [{ name: 'y', type: 'double' }])], default: null }])));
    assert.match(declaration(text, 'Reply'), /readonly payload:\n {4}\| \{ readonly 'coord\.v1\.A': A \}\n {4}\| \{ readonly 'coord\.v1\.B': B \}\n {4}\| null;/);
    assert.match(declaration(text, 'A'), /readonly x: number;/);
  });

  it('types an enum as its symbols, a map as a record of strings, an array as read-only, bytes as a Buffer', () => {
    const text = protocolTypes(
      contracts(
        record('Report', [
          { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['RUNNING', 'FAILED'] } },
          { name: 'options', type: { type: 'map', values: 'string' }, default: {} },
          { name: 'roles', type: { type: 'array', items: 'string' }, default: [] },
          { name: 'body', type: 'bytes' },
          { name: 'ok', type: 'boolean' },
        ]),
      ),
    );
    assert.equal(declaration(text, 'Status'), "export type Status = 'RUNNING' | 'FAILED';");
    const report = declaration(text, 'Report');
    for (const line of ['readonly status: Status;', 'readonly options: Readonly<Record<string, string>>;', 'readonly roles: readonly string[];', 'readonly body: Buffer;', 'readonly ok: boolean;'])
      assert.ok(report.includes(line), `${line} in\n${report}`);
  });

  it('declares a record with no fields as an empty object, and its docs as TSDoc', () => {
    const text = protocolTypes(contracts({ ...record('Describe', []), doc: 'Request: how the coordinator stands.' }));
    assert.match(text, /\/\*\* Request: how the coordinator stands\. \*\/\nexport type Describe = Record<string, never>;/);
  });

  it('declares a named type that two schemas share once, and lists every schema by its full name', () => {
    const field = { type: 'record', name: 'Field', fields: [{ name: 'name', type: 'string' }] };
    const text = protocolTypes(contracts(record('Create', [{ name: 'fields', type: { type: 'array', items: field } }]), record('Echo', [{ name: 'f', type: field }])));
    assert.equal(text.split('export type Field =').length, 2);
    assert.match(declaration(text, 'ProtocolRecords'), /readonly 'coord\.v1\.Create': Create;\n {2}readonly 'coord\.v1\.Echo': Echo;/);
  });

  it("prefixes a sub-namespace's types with its name: the changelog's images are not the state's", () =>
    assert.match(protocolTypes(contracts(record('SinkImage', [{ name: 'name', type: 'string' }], 'coord.v1.changelog'))), /export type ChangelogSinkImage = \{/));

  it('refuses one name for two different types, naming both schemas', () => {
    const field = (type: string): object => ({ type: 'record', name: 'Field', fields: [{ name: 'name', type }] });
    assert.throws(() => protocolTypes(contracts(record('A', [{ name: 'f', type: field('string') }]), record('B', [{ name: 'f', type: field('int') }]))), {
      code: 'SCHEMA_INVALID',
      message: /schemas\/coord\.v1\.B\.avsc declares coord\.v1\.Field unlike schemas\/coord\.v1\.A\.avsc/,
    });
  });

  it('refuses two full names that would be one TypeScript name', () =>
    assert.throws(() => protocolTypes(contracts(record('ChangelogSink', [{ name: 'x', type: 'int' }]), record('Sink', [{ name: 'y', type: 'int' }], 'coord.v1.changelog'))), {
      code: 'SCHEMA_INVALID',
      message: /coord\.v1\.changelog\.Sink and coord\.v1\.ChangelogSink would both be ChangelogSink/,
    }));
});
