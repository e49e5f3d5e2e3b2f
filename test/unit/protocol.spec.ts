import { strict as assert } from 'node:assert';
import { payloadText, payloadTypes, unwrapReply } from '../../src/cli/format';
import { disagreements, protocolTables, sampleOf, type ProtocolTables } from '../support/protocol';

const without = <V>(m: ReadonlyMap<string, V>, key: string): Map<string, V> => new Map([...m].filter(([k]) => k !== key));

describe('protocol: one source of truth (schemas/*.avsc)', () => {
  const tables = protocolTables();

  it('the schemas, RECORD_TOPICS, the handler maps, COMMANDS, the payload renderers and the reply statuses agree', () => {
    const found = disagreements(tables);
    assert.deepStrictEqual(found, [], `the protocol's tables disagree:\n  ${found.join('\n  ')}`);
  });

  it('renders a value of every Reply payload the schema allows, reading only fields the schema has', () => {
    const reply = tables.schemas.get('coord.v1.Reply');
    assert.ok(reply);
    for (const [name, type] of payloadTypes(reply)) {
      const unwrapped = unwrapReply({ correlationId: 'c', status: 'OK', message: '', snapshotId: 1n, snapshotTs: 1n, payload: { type: name, value: sampleOf(type) as Record<string, unknown> } }, payloadTypes(reply));
      let text = '';
      assert.doesNotThrow(() => (text = payloadText(unwrapped.payload ?? assert.fail())), `${name}: src/cli/format.ts cannot render what schemas/coord.v1.Reply.avsc allows`);
      assert.ok(!text.startsWith(name), `${name}: src/cli/format.ts has no renderer for it`);
      assert.ok(!/undefined|NaN/.test(text), `${name}: src/cli/format.ts reads a field schemas/coord.v1.Reply.avsc does not have:\n${text}`);
    }
  });

  describe('names the record and the table when one disagrees', () => {
    const only = (t: ProtocolTables): string[] => disagreements(t);

    it('a schema with no topic entry', () => {
      const { 'coord.v1.GetSink': _, ...topics } = tables.recordTopics;
      assert.ok(only({ ...tables, recordTopics: topics }).some((d) => d.startsWith('coord.v1.GetSink:') && d.includes('schemas/*.avsc but not in RECORD_TOPICS')));
    });

    it('a topic entry with no schema', () =>
      assert.ok(only({ ...tables, schemas: without(tables.schemas, 'coord.v1.DropSink') }).some((d) => d.startsWith('coord.v1.DropSink:') && d.includes('has no schema in schemas/*.avsc'))));

    it('an input record with no handler', () => {
      const handlers = new Set([...tables.handlers].filter((h) => h !== 'coord.v1.SessionOpened'));
      assert.ok(only({ ...tables, handlers }).some((d) => d.startsWith('coord.v1.SessionOpened:') && d.includes('no handler in the handler maps')));
    });

    it('a handler for a record that is not an input', () =>
      assert.ok(only({ ...tables, handlers: new Set([...tables.handlers, 'coord.v1.Reply']) }).some((d) => d.startsWith('coord.v1.Reply:') && d.includes('not an input'))));

    it('a request with no command', () =>
      assert.ok(only({ ...tables, commands: tables.commands.filter((c) => !(c.noun === 'alloc' && c.verb === 'ids')) }).some((d) => d.startsWith('coord.v1.AllocIds:') && d.includes("no command in coordctl's COMMANDS"))));

    it('a command whose record the schema refuses, naming the field', () => {
      const commands = tables.commands.map((c) => (c.noun === 'sink' && c.verb === 'create' ? { ...c, build: () => ({ type: 'coord.v1.CreateSink', value: { name: 'x', kind: 'print', options: {} } }) } : c));
      assert.ok(only({ ...tables, commands }).some((d) => d.startsWith('coord.v1.CreateSink:') && d.includes('coordctl sink create') && d.includes('refuses at type')));
    });

    it('a Reply payload with no renderer, and a renderer of no payload', () => {
      const found = only({ ...tables, rendered: [...tables.rendered.filter((r) => r !== 'coord.v1.IdRange'), 'coord.v1.Nothing'] });
      assert.ok(found.some((d) => d.startsWith('coord.v1.IdRange:') && d.includes('not shown by the payload renderers')));
      assert.ok(found.some((d) => d.startsWith('coord.v1.Nothing:') && d.includes('not a Reply payload')));
    });

    it('a schema not described in schemas/README.md', () =>
      assert.ok(only({ ...tables, readme: tables.readme.replace('| `AllocIds` |', '| `AllocSomething` |') }).some((d) => d.startsWith('coord.v1.AllocIds:') && d.includes('schemas/README.md'))));

    it('a reply status list that differs from the schema', () =>
      assert.ok(only({ ...tables, statuses: tables.statuses.filter((s) => s !== 'CONFLICT') }).some((d) => d.startsWith('coord.v1.Reply status:') && d.includes('REPLY_STATUSES'))));
  });
});
