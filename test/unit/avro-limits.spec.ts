import { strict as assert } from 'node:assert';
import * as avro from 'avsc';
import { checkAvroBody, DEFAULT_DECODE_LIMITS, type DecodeLimits } from '../../src/messaging/avro-limits';
import { createCodec } from '../../src/messaging/codec';
import { subjectOf } from '../../src/messaging/protocol';
import type { RegistryClient } from '../../src/messaging/registry';
import { loadContracts, parseAvro } from '../../src/messaging/schemas';
import { frame } from '../../src/messaging/wire';
import { CoordError } from '../../src/errors';

/** The zigzag varint of `n`, as any Avro writer encodes an int or a long. */
const varint = (n: bigint): Buffer => {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const out: number[] = [];
  do {
    out.push(Number(z & 0x7fn) | (z > 0x7fn ? 0x80 : 0));
    z >>= 7n;
  } while (z > 0n);
  return Buffer.from(out);
};
const bytes = (...parts: (Buffer | number[])[]): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const record = (name: string, fields: Record<string, unknown>): avro.Schema =>
  ({ type: 'record', name, fields: Object.entries(fields).map(([n, type]) => ({ name: n, type })) }) as avro.Schema;

const check = (schema: unknown, body: Buffer, limits?: DecodeLimits) => checkAvroBody(parseAvro(schema), body, limits);

/** The fastest of three runs: another process on a busy machine must not fail a bound that a declared count would miss by days. */
const fastest = <T>(f: () => T): { result: T; ms: number } => {
  let best = { result: f(), ms: Infinity };
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const result = f();
    const ms = performance.now() - started;
    if (ms < best.ms) best = { result, ms };
  }
  return best;
};

/** Asserts the walk refuses `body` with `code` within 50 ms, and returns the message. */
const refused = (schema: unknown, body: Buffer, code: 'DECODE_LIMIT' | 'SCHEMA_INVALID', limits?: DecodeLimits): string => {
  const type = parseAvro(schema);
  const { result: problem, ms } = fastest(() => checkAvroBody(type, body, limits));
  assert.ok(problem !== undefined, 'the body is refused');
  assert.equal(problem.code, code, problem.message);
  assert.ok(ms < 50, `refused in ${ms.toFixed(1)} ms, not within 50 ms`);
  return problem.message;
};

const EVERY_TYPE = record('coord.test.Every', {
  n: 'null',
  b: 'boolean',
  i: 'int',
  l: 'long',
  f: 'float',
  d: 'double',
  s: 'string',
  y: 'bytes',
  x: { type: 'fixed', name: 'Four', size: 4 },
  z: { type: 'fixed', name: 'Zero', size: 0 },
  e: { type: 'enum', name: 'Colour', symbols: ['RED', 'GREEN', 'BLUE'] },
  a: { type: 'array', items: 'int' },
  m: { type: 'map', values: 'string' },
  u: ['null', 'string', 'long', { type: 'array', items: 'boolean' }],
  r: record('coord.test.Inner', { t: { type: 'int', logicalType: 'date' }, empty: record('coord.test.Empty', {}) }),
  am: { type: 'array', items: { type: 'map', values: ['null', 'double'] } },
});

describe('avro-limits: the walk before avsc decodes', () => {
  describe('accepts every valid body', () => {
    it('of every Avro type, for random values avsc encodes', () => {
      const plainType = avro.Type.forSchema(EVERY_TYPE, { wrapUnions: true });
      for (let k = 0; k < 300; k++) {
        const v = plainType.random();
        const body = plainType.toBuffer(v);
        assert.equal(checkAvroBody(plainType, body), undefined, body.toString('hex'));
      }
    });

    it('at the edges of ints and longs, empty strings and collections', () => {
      const type = parseAvro(record('coord.test.Edges', { i: 'int', j: 'int', l: 'long', k: 'long', s: 'string', a: { type: 'array', items: 'null' }, m: { type: 'map', values: 'null' } }));
      for (const v of [
        { i: -(2 ** 31), j: 2 ** 31 - 1, l: -(2n ** 63n), k: 2n ** 63n - 1n, s: '', a: [], m: {} },
        { i: 0, j: -1, l: 0n, k: -1n, s: 'é€😀', a: Array(10_000).fill(null), m: { '': null } },
      ])
        assert.equal(checkAvroBody(type, type.toBuffer(v)), undefined);
    });

    it('of each of the project contracts in schemas/', function () {
      this.timeout(30_000); // fifty random values of each of sixty contracts: seconds on a busy machine
      const contracts = loadContracts();
      assert.ok(contracts.size > 10);
      for (const c of contracts.values())
        for (let k = 0; k < 50; k++) {
          const body = c.type.toBuffer(c.type.random());
          assert.equal(checkAvroBody(c.type, body), undefined, `${c.fullName}: ${body.toString('hex')}`);
        }
    });

    it('with blocks of negative count that carry their byte size, as avsc then decodes them', () => {
      const schema = { type: 'array', items: 'int' };
      // -2 items in 2 bytes (1, 2), then 1 item (3), then the end.
      const body = bytes(varint(-2n), varint(2n), varint(1n), varint(2n), varint(1n), varint(3n), [0]);
      assert.equal(check(schema, body), undefined);
      assert.deepEqual(parseAvro(schema).fromBuffer(body), [1, 2, 3]);
    });

    it('up to the limits and not past them', () => {
      const limits = { maxItemsPerCollection: 3, maxSteps: 5, maxDepth: 2 };
      const schema = record('coord.test.L', { a: { type: 'array', items: 'null' } });
      assert.equal(check(schema, bytes(varint(3n), [0]), limits), undefined, '1 record + 3 nulls = 4 steps, 3 items, depth 2');
      refused(schema, bytes(varint(4n), [0]), 'DECODE_LIMIT', limits);
    });
  });

  describe('refuses bodies over a limit with DECODE_LIMIT', () => {
    it('an array<null> of 2^50 items in 10 bytes, at once, whatever the record', () => {
      const body = bytes(varint(7n), varint(2n ** 50n), [0]);
      assert.equal(body.length, 10);
      const message = refused(record('x.NoContract', { i: 'int', a: { type: 'array', items: 'null' } }), body, 'DECODE_LIMIT');
      assert.match(message, /array of 1125899906842624 items exceeds the limit of 10000 items per collection/);
    });

    it('a map of null with a huge count', () => {
      const message = refused({ type: 'map', values: 'null' }, bytes(varint(2n ** 62n), [0]), 'DECODE_LIMIT');
      assert.match(message, /map of 4611686018427387904 items exceeds the limit of 10000/);
    });

    it('blocks that are each within the limit but together are not', () => {
      const body = bytes(...Array.from({ length: 3 }, () => varint(4_000n)), [0]);
      assert.match(refused({ type: 'array', items: 'null' }, body, 'DECODE_LIMIT'), /array of 12000 items/);
    });

    it('a negative block count of 2^50 items with an honest byte size of 0', () => {
      assert.match(refused({ type: 'array', items: 'null' }, bytes(varint(-(2n ** 50n)), varint(0n), [0]), 'DECODE_LIMIT'), /1125899906842624 items/);
    });

    it('arrays of arrays of null that stay under the item limit but not under the step budget', () => {
      // 10^8 nulls in 30 kB, refused after 100 000 steps, some 30 bytes in.
      const inner = bytes(varint(10_000n), [0]);
      const body = bytes(varint(10_000n), ...Array.from({ length: 10_000 }, () => inner), [0]);
      const schema = { type: 'array', items: { type: 'array', items: 'null' } };
      assert.match(refused(schema, body, 'DECODE_LIMIT'), /more than 100000 values/);
    });

    it('too-deep nesting of a recursive schema', () => {
      const schema = record('coord.test.Node', { v: 'int', next: ['null', 'coord.test.Node'] });
      const type = parseAvro(schema);
      const list = (n: number): unknown => (n === 0 ? null : { 'coord.test.Node': { v: n, next: list(n - 1) } });
      const depth = (n: number) => ({ v: 0, next: list(n - 1) });
      assert.equal(checkAvroBody(type, type.toBuffer(depth(DEFAULT_DECODE_LIMITS.maxDepth))), undefined);
      const message = refused(schema, type.toBuffer(depth(DEFAULT_DECODE_LIMITS.maxDepth + 1)), 'DECODE_LIMIT');
      assert.match(message, /coord\.test\.Node .*nested deeper than the limit of 32/);
    });
  });

  describe('refuses bodies that are no value of the schema with SCHEMA_INVALID', () => {
    it('a negative block count with an absurd byte size', () => {
      const message = refused({ type: 'array', items: 'int' }, bytes(varint(-5n), varint(2n ** 60n), [2, 4, 0]), 'SCHEMA_INVALID');
      assert.match(message, /declares 1152921504606846976 bytes, but 3 are left/);
      refused({ type: 'array', items: 'int' }, bytes(varint(-1n), varint(-1n), [2, 0]), 'SCHEMA_INVALID');
    });

    it('a block whose items do not take the byte size it declares', () => {
      assert.match(refused({ type: 'array', items: 'int' }, bytes(varint(-1n), varint(2n), [2, 0]), 'SCHEMA_INVALID'), /declares 2 bytes, but its 1 items take 1/);
    });

    it('a string or bytes longer than the body', () => {
      assert.match(refused('string', bytes(varint(2n ** 40n), [97, 98]), 'SCHEMA_INVALID'), /string at byte 0 of 1099511627776 bytes is longer than the 2 bytes left/);
      refused('bytes', bytes(varint(3n), [1, 2]), 'SCHEMA_INVALID');
      refused('string', bytes(varint(-1n)), 'SCHEMA_INVALID');
    });

    it('a union index out of range, and an enum index out of range', () => {
      assert.match(refused(['null', 'string'], bytes(varint(2n)), 'SCHEMA_INVALID'), /union branch index 2 at byte 0 is outside 0\.\.1/);
      refused(['null', 'string'], bytes(varint(-1n)), 'SCHEMA_INVALID');
      assert.match(refused({ type: 'enum', name: 'E', symbols: ['A', 'B'] }, bytes(varint(5n)), 'SCHEMA_INVALID'), /enum E index 5/);
    });

    it('a varint longer than 10 bytes (long) or 5 bytes (int), or past 64 bits', () => {
      const eleven = Buffer.from([...Array(10).fill(0xff), 0x01]);
      assert.match(refused('long', eleven, 'SCHEMA_INVALID'), /longer than 10 bytes/);
      assert.match(refused('int', Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 'SCHEMA_INVALID'), /longer than 5 bytes/);
      assert.match(refused('long', Buffer.from([...Array(9).fill(0xff), 0x7f]), 'SCHEMA_INVALID'), /overflows 64 bits/);
      assert.match(refused({ type: 'array', items: 'null' }, eleven, 'SCHEMA_INVALID'), /array block count at byte 0 is a varint longer than 10 bytes/);
    });

    it('bytes left over after the value', () => {
      assert.match(refused(record('coord.test.R', { i: 'int' }), bytes(varint(1n), [0, 0]), 'SCHEMA_INVALID'), /2 bytes are left over after the coord\.test\.R/);
    });

    it('a body that runs short', () => {
      const type = parseAvro(EVERY_TYPE);
      const full = type.toBuffer(type.random());
      for (let cut = 0; cut < full.length; cut++) assert.equal(checkAvroBody(type, full.subarray(0, cut))?.code, 'SCHEMA_INVALID', `cut at ${cut}`);
      assert.match(refused('double', Buffer.alloc(5), 'SCHEMA_INVALID'), /double at byte 0 needs 8 bytes, 5 are left/);
    });

    it('a boolean byte other than 0 or 1', () => {
      refused('boolean', Buffer.from([2]), 'SCHEMA_INVALID');
    });
  });
});

/** The registry as the codec sees it: ids by schema text, subjects by id, and a count of look-ups. */
const fakeRegistry = () => {
  const ids = new Map<string, number>();
  const texts = new Map<number, string>();
  const subjects = new Map<number, string[]>();
  const state = { lookups: 0, down: false };
  const client: RegistryClient = {
    register: async (subject, schema) => {
      const id = ids.get(schema) ?? ids.size + 1;
      ids.set(schema, id);
      texts.set(id, schema);
      subjects.set(id, [...(subjects.get(id) ?? []).filter((s) => s !== subject), subject]);
      return id;
    },
    schemaById: async (id) => {
      const text = texts.get(id);
      if (text === undefined) throw new CoordError('SCHEMA_UNKNOWN', `no schema ${id}`);
      return text;
    },
    subjectsOfId: async (id) => {
      state.lookups++;
      await new Promise((resolve) => setImmediate(resolve));
      if (state.down) throw new CoordError('SCHEMA_REGISTRY', 'registry did not answer', { retriable: true });
      return subjects.get(id) ?? [];
    },
    setCompatibility: async () => undefined,
    subjects: async () => [...subjects.values()].flat(),
  };
  return { client, state };
};

describe('codec: limits and the subject of the schema id', () => {
  const contracts = loadContracts();
  const TOPIC = 'p.requests.catalog';
  const NAME = 'coord.v1.CreateLogicalSource';
  const VALUE = { name: 'cars', fields: [{ name: 'a', type: 'INT32' }] };

  const setup = (opts: { now?: () => number } = {}) => {
    const { client, state } = fakeRegistry();
    return { codec: createCodec({ registry: client, contracts, subjectRecheckMs: 1_000, now: opts.now }), registry: client, state };
  };

  it('decodes a record whose id is registered under its topic and name, and asks the registry once per (id, topic)', async () => {
    const { codec, state } = setup();
    const value = await codec.encode(TOPIC, NAME, VALUE);
    const all = await Promise.all([codec.decode(value, TOPIC), codec.decode(value, TOPIC)]);
    await codec.decode(value, TOPIC);
    for (const d of all) assert.deepEqual(d.value, VALUE);
    assert.equal(state.lookups, 1);
  });

  it('encodes at once (encodeKnown) only once the schema id on that topic is known, to the bytes encode gives', async () => {
    const { codec } = setup();
    assert.equal(codec.encodeKnown?.(TOPIC, NAME, VALUE), undefined);
    const framed = await codec.encode(TOPIC, NAME, VALUE);
    assert.deepStrictEqual(codec.encodeKnown?.(TOPIC, NAME, VALUE), framed);
    // Another topic is another subject: not known until encode registers it there.
    assert.equal(codec.encodeKnown?.('p.requests.other', NAME, VALUE), undefined);
  });

  it('encodes a value larger than its scratch buffer (64 KB) as it encodes a small one', async () => {
    const { codec } = setup();
    const big = { name: 'x'.repeat(100_000), fields: Array.from({ length: 500 }, (_, i) => ({ name: `f${i}`, type: 'INT32' })) };
    const framed = await codec.encode(TOPIC, NAME, big);
    assert.ok(framed.length > 100_000);
    assert.deepStrictEqual((await codec.decode(framed, TOPIC)).value, { ...big, fields: big.fields.map((f) => ({ ...f })) });
    assert.deepStrictEqual(codec.encodeKnown?.(TOPIC, NAME, big), framed);
  });

  it('refuses a long outside 64 bits with SCHEMA_INVALID rather than wrapping it', async () => {
    const { codec } = setup();
    const reply = (snapshotId: bigint) => ({ correlationId: 'c', status: 'OK', message: '', snapshotId, snapshotTs: 1n, payload: null });
    assert.ok((await codec.encode('p.replies', 'coord.v1.Reply', reply(2n ** 63n - 1n))).length > 0);
    await assert.rejects(codec.encode('p.replies', 'coord.v1.Reply', reply(2n ** 63n)), { code: 'SCHEMA_INVALID' });
    await assert.rejects(codec.encode('p.replies', 'coord.v1.Reply', reply(-(2n ** 63n) - 1n)), { code: 'SCHEMA_INVALID' });
  });

  it('refuses an id registered under another subject with SCHEMA_SUBJECT_MISMATCH, naming both', async () => {
    const { codec } = setup();
    const value = await codec.encode('p.other', NAME, VALUE);
    await assert.rejects(codec.decode(value, TOPIC), (err: CoordError) => {
      assert.equal(err.code, 'SCHEMA_SUBJECT_MISMATCH');
      assert.equal(err.retriable, false);
      assert.ok(err.message.includes('schema id 1'), err.message);
      assert.ok(err.message.includes(`registered under p.other-${NAME}, not under ${subjectOf(TOPIC, NAME)}`), err.message);
      return true;
    });
    assert.deepEqual((await codec.decode(value)).value, VALUE, 'without a topic there is no subject to check');
  });

  it('names at most three of the subjects an id is registered under', async () => {
    const { codec } = setup();
    let value: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 50; i++) value = await codec.encode(`p.t${i}`, NAME, VALUE);
    await assert.rejects(codec.decode(value, TOPIC), { code: 'SCHEMA_SUBJECT_MISMATCH', message: /p\.t2-coord\.v1\.CreateLogicalSource and 47 more, not under/ });
  });

  it('keeps a refusal for subjectRecheckMs, then asks again and sees a subject registered since', async () => {
    let now = 0;
    const { codec, registry, state } = setup({ now: () => now });
    const value = await codec.encode('p.other', NAME, VALUE);
    await assert.rejects(codec.decode(value, TOPIC), { code: 'SCHEMA_SUBJECT_MISMATCH' });
    await registry.register(subjectOf(TOPIC, NAME), contracts.get(NAME)?.text ?? '');
    now = 999;
    await assert.rejects(codec.decode(value, TOPIC), { code: 'SCHEMA_SUBJECT_MISMATCH' });
    assert.equal(state.lookups, 1);
    now = 1_000;
    assert.deepEqual((await codec.decode(value, TOPIC)).value, VALUE);
    assert.equal(state.lookups, 2);
  });

  it('gives no verdict when the registry does not answer: the error is retriable and the next decode asks again', async () => {
    const { codec, state } = setup();
    const value = await codec.encode(TOPIC, NAME, VALUE);
    state.down = true;
    await assert.rejects(codec.decode(value, TOPIC), { code: 'SCHEMA_REGISTRY', retriable: true });
    state.down = false;
    assert.deepEqual((await codec.decode(value, TOPIC)).value, VALUE);
    assert.equal(state.lookups, 2);
  });

  it('refuses a decode bomb with DECODE_LIMIT before avsc sees it, for a record we have no contract for', async () => {
    const { codec, registry } = setup();
    const id = await registry.register(`${TOPIC}-x.Bomb`, JSON.stringify(record('x.Bomb', { a: { type: 'array', items: 'null' } })));
    await assert.rejects(codec.decode(frame(id, bytes(varint(2n ** 50n), [0])), TOPIC), {
      code: 'DECODE_LIMIT',
      message: /x\.Bomb \(schema id \d+\).*array of 1125899906842624 items exceeds the limit of 10000 items per collection/,
    });
  });

  it('keeps a body that runs short a SCHEMA_INVALID', async () => {
    const { codec } = setup();
    const value = await codec.encode(TOPIC, NAME, VALUE);
    await assert.rejects(codec.decode(value.subarray(0, value.length - 3), TOPIC), { code: 'SCHEMA_INVALID', message: /runs short|longer than/ });
  });
});
