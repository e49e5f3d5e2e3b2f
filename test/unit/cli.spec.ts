import { strict as assert } from 'node:assert';
import { COMMANDS, hybridTs, parseCommand, usageLines, UsageError, type Parsed } from '../../src/cli/commands';
import { block, hybrid, payloadText, replyJson, replyText, table } from '../../src/cli/format';
import type { Reply } from '../../src/client/client';
import { LOGICAL_BITS } from '../../projections/system/hybrid';

const ask = (noun: string, ...argv: string[]) => {
  const p: Parsed = parseCommand(noun, argv);
  assert.equal(p.kind, 'ask');
  return p.kind === 'ask' ? p : assert.fail();
};
const refused = (noun: string, argv: string[], message: RegExp) => assert.throws(() => parseCommand(noun, argv), (err: unknown) => err instanceof UsageError && message.test(err.message));
const T = Date.parse('2026-11-21T15:07:58.000Z');

describe('coordctl parsing: request commands', () => {
  it('builds CreateLogicalSource from NAME and NAME:TYPE fields', () =>
    assert.deepStrictEqual(ask('logical-source', 'create', 'cars', 'id:INT64', 'speed:FLOAT64').request, {
      type: 'coord.v1.CreateLogicalSource',
      value: { name: 'cars', fields: [{ name: 'id', type: 'INT64' }, { name: 'speed', type: 'FLOAT64' }] },
    }));

  it('refuses a field that is not NAME:TYPE', () => refused('logical-source', ['create', 'cars', 'id'], /must be NAME:TYPE/));

  it('wraps an optional --as-of in its union branch, and leaves it null when absent', () => {
    assert.deepStrictEqual(ask('logical-source', 'get', 'cars', '--as-of', '123').request.value, { name: 'cars', asOfTs: { long: 123n } });
    assert.deepStrictEqual(ask('logical-source', 'get', 'cars').request.value, { name: 'cars', asOfTs: null });
  });

  it('reads --json apart from the request', () => {
    assert.equal(ask('sink', 'list', '--json').json, true);
    assert.equal(ask('sink', 'list').json, false);
  });

  it('collects repeated --option K=V into a map and refuses a key given twice', () => {
    assert.deepStrictEqual(ask('sink', 'create', 'out', '--type', 'kafka', '--option', 'topic=cars', '--option', 'acks=all').request.value, { name: 'out', type: 'kafka', options: { topic: 'cars', acks: 'all' } });
    refused('sink', ['create', 'out', '--type', 'kafka', '--option', 'a=1', '--option', 'a=2'], /--option a is given twice/);
  });

  it('names a missing required flag', () => refused('physical-source', ['create', 'p', '--logical-source', 'cars', '--worker', 'w1'], /needs --connector/));

  it('builds a query plan from --sources and --sink, and refuses both forms at once', () => {
    assert.deepStrictEqual(ask('query', 'create', 'q', '--sources', 'cars, trucks', '--sink', 'out').request.value, { name: 'q', plan: '{"sources":["cars","trucks"],"sink":"out"}', session: null, temporary: false });
    refused('query', ['create', 'q', '--plan', '{}', '--sink', 'out'], /not both/);
    refused('query', ['create', 'q', '--plan', '[1]'], /must be a JSON object/);
    refused('query', ['create', 'q', '--sources', 'cars', '--sink', 'out', '--temporary'], /--temporary needs --session/);
  });

  it('turns --deadline-ms into a deadline the caller stamps, bounded to a day', () => {
    assert.equal(ask('query', 'start', 'q', '--deadline-ms', '5000').request.deadlineInMs, 5_000);
    assert.equal(ask('query', 'start', 'q').request.deadlineInMs, undefined);
    refused('query', ['start', 'q', '--deadline-ms', '86400001'], /from 1 to 86400000/);
  });

  it('refuses counts that are not whole positive numbers, negatives included', () => {
    assert.deepStrictEqual(ask('alloc', 'ids', '100').request, { type: 'coord.v1.AllocIds', value: { count: 100 } });
    refused('alloc', ['ids', '1e3'], /whole number/);
    refused('alloc', ['ids', '0'], /from 1 to/);
    refused('alloc', ['ids', '-5'], /whole and positive, got -5/);
  });

  it('gives a read hold a bigint lease, 60 s by default', () => {
    assert.equal(ask('hold', 'acquire', 'audit').request.value.leaseMs, 60_000n);
    assert.equal(ask('hold', 'acquire', 'audit', '--lease-ms', '1000').request.value.leaseMs, 1_000n);
  });

  it('takes a noun that is a command by itself (describe) without a verb', () => assert.deepStrictEqual(ask('describe').request, { type: 'coord.v1.DescribeCoordinator', value: {} }));

  it('refuses extra and missing positional arguments, an unknown flag and an unknown verb, with the narrower usage', () => {
    refused('logical-source', ['get'], /needs NAME/);
    refused('logical-source', ['get', 'a', 'b'], /unexpected "b"/);
    refused('logical-source', ['get', 'a', '--bogus'], /--bogus/);
    assert.throws(
      () => parseCommand('logical-source', ['explode']),
      (err: unknown) => err instanceof UsageError && /unknown command: logical-source explode/.test(err.message) && err.usage !== undefined && !err.usage.includes('alloc'),
    );
  });

  it('answers --help with the usage of the command, or of the noun', () => {
    const one = parseCommand('query', ['start', '--help']);
    assert.equal(one.kind, 'help');
    assert.match(one.kind === 'help' ? one.usage : '', /coordctl query start NAME \[--deadline-ms N\]/);
    const noun = parseCommand('query', ['--help']);
    assert.equal(noun.kind === 'help' && noun.usage.split('coordctl query').length - 1, COMMANDS.filter((c) => c.noun === 'query').length);
  });

  it('lists every command in the help, one group per noun', () => {
    const help = usageLines();
    for (const c of COMMANDS) assert.ok(help.includes(`coordctl ${c.noun}${c.verb === '' ? '' : ` ${c.verb}`}`), `${c.noun} ${c.verb} is in the help`);
  });
});

describe('coordctl parsing: timestamps', () => {
  it('takes a hybrid timestamp as it is printed', () => assert.equal(hybridTs('123456789012345'), 123456789012345n));

  it('turns an ISO-8601 time into the hybrid timestamp of that instant (physical ms in the high bits)', () => {
    const ts = hybridTs('2026-11-21T15:07:58Z');
    assert.equal(ts, BigInt(T) << LOGICAL_BITS);
    assert.equal(ts >> LOGICAL_BITS, BigInt(T));
  });

  it('refuses what is neither, and a long past 2^63', () => {
    assert.throws(() => hybridTs('yesterday'), UsageError);
    assert.throws(() => hybridTs('2026-13-45T99:00:00Z'), /is not a time/);
    assert.throws(() => hybridTs('9223372036854775808'), /hybrid timestamp/);
  });
});

const reply = (payload: Reply['payload'], status: Reply['status'] = 'OK', message = ''): Reply => ({ correlationId: 'c1', status, message, snapshotId: 7n, snapshotTs: BigInt(T) << LOGICAL_BITS, payload });

describe('coordctl formatting', () => {
  it('pads table columns to their widest cell, two spaces apart', () => assert.equal(table([['A', 'BB'], ['ccc', 'd']]), 'A    BB\nccc  d \n'));

  it('aligns key/value blocks and continues a multi-line value under the first line', () => assert.equal(block([['a', 'x'], ['long', 'y\nz']]), 'a     x\nlong  y\n      z\n'));

  it('prints a hybrid timestamp with the wall-clock time of its physical part', () => assert.equal(hybrid(BigInt(T) << LOGICAL_BITS), `${BigInt(T) << LOGICAL_BITS} (2026-11-21T15:07:58.000Z)`));

  it('starts with the status line: status, message, snapshot', () => assert.equal(replyText(reply(null, 'NOT_FOUND', 'no logical source cars')), 'NOT_FOUND  no logical source cars   (snapshot 7)\n'));

  it('renders a logical source as its fields', () =>
    assert.equal(
      replyText(reply({ type: 'coord.v1.LogicalSource', value: { name: 'cars', fields: [{ name: 'id', type: 'INT64' }, { name: 'speed', type: 'FLOAT64' }] } })),
      'OK   (snapshot 7)\n\ncars\n  FIELD  TYPE\n  id     INT64\n  speed  FLOAT64\n',
    ));

  it('shows how many fragments of a listed query run', () => {
    const q = (status: string) => ({ fragmentId: 'f', kind: 'SOURCE', workerId: 'w', physicalSource: null, status });
    const text = payloadText({ type: 'coord.v1.QueryList', value: { queries: [{ name: 'q', session: null, temporary: false, plan: '{}', sources: ['cars'], sink: 'out', state: 'DEPLOYING', reason: '', reused: 0, fragments: [q('RUNNING'), q('DEPLOYING')] }] } });
    assert.match(text, /^q\s+DEPLOYING\s+-\s+cars\s+out\s+1\/2\s+0\s*$/m);
  });

  it('shows an id range as first..last with its count', () => assert.equal(payloadText({ type: 'coord.v1.IdRange', value: { first: 2n, count: 100 } }), '2..101  (100 ids)\n'));

  it('shows a payload it does not know as its type and JSON rather than nothing', () => assert.equal(payloadText({ type: 'coord.v2.Future', value: { n: 1n } }), 'coord.v2.Future {"n":"1"}\n'));

  it('prints --json as one line with longs as strings', () => {
    const line = replyJson(reply({ type: 'coord.v1.IdRange', value: { first: 2n, count: 1 } }));
    assert.equal(line.split('\n').length, 2);
    assert.deepStrictEqual(JSON.parse(line).payload, { type: 'coord.v1.IdRange', value: { first: '2', count: 1 } });
  });
});
