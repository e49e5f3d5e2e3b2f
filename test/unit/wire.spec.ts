import { strict as assert } from 'node:assert';
import { frame, HEADER_BYTES, unframe } from '../../src/messaging/wire';

describe('wire: the Confluent frame', () => {
  it('unframes what it framed: the schema id and the body', () => {
    const body = Buffer.from([1, 2, 3, 250]);
    const { schemaId, body: out } = unframe(frame(42, body));
    assert.equal(schemaId, 42);
    assert.deepStrictEqual(out, body);
  });

  it('writes magic byte 0, then the schema id big-endian, then the body', () => {
    assert.deepStrictEqual(frame(0x01020304, Buffer.from([9])), Buffer.from([0, 1, 2, 3, 4, 9]));
  });

  it('carries the largest unsigned 32-bit schema id', () => {
    assert.equal(unframe(frame(0xffffffff, Buffer.alloc(1))).schemaId, 0xffffffff);
  });

  it('accepts a frame of exactly the header and an empty body', () => {
    const framed = frame(7, Buffer.alloc(0));
    assert.equal(framed.length, HEADER_BYTES);
    assert.deepStrictEqual(unframe(framed), { schemaId: 7, body: Buffer.alloc(0) });
  });

  describe('refuses malformed values with WIRE_MALFORMED', () => {
    it('refuses null', () => {
      assert.throws(() => unframe(null), { code: 'WIRE_MALFORMED', retriable: false, message: /empty/ });
    });

    it('refuses an empty value', () => {
      assert.throws(() => unframe(Buffer.alloc(0)), { code: 'WIRE_MALFORMED', message: /empty/ });
    });

    it('refuses a value shorter than the header, saying how long it is', () => {
      assert.throws(() => unframe(Buffer.from([0, 0, 0, 1])), { code: 'WIRE_MALFORMED', message: /4 bytes.*at least 5/ });
    });

    it('refuses a value that does not start with the magic byte, naming the byte', () => {
      const framed = frame(1, Buffer.from('x'));
      framed[0] = 7;
      assert.throws(() => unframe(framed), { code: 'WIRE_MALFORMED', message: /starts with byte 7/ });
    });
  });
});
