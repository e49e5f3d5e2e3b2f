import { strict as assert } from 'node:assert';
import { readHeaders } from '../../src/messaging/headers';

describe('headers: readHeaders', () => {
  it('reads nothing from no headers', () => {
    assert.deepStrictEqual(readHeaders(undefined), {});
  });

  it('decodes a Buffer value as UTF-8', () => {
    assert.deepStrictEqual(readHeaders({ 'reply-to': Buffer.from('réponses', 'utf8') }), { 'reply-to': 'réponses' });
  });

  it('keeps a string value as it is', () => {
    assert.deepStrictEqual(readHeaders({ 'correlation-id': 'c-1' }), { 'correlation-id': 'c-1' });
  });

  it('keeps the first value of a repeated header', () => {
    assert.deepStrictEqual(readHeaders({ seq: [Buffer.from('1'), 'two', Buffer.from('3')] }), { seq: '1' });
  });

  it('skips a header whose value is undefined', () => {
    assert.deepStrictEqual(readHeaders({ a: 'x', b: undefined }), { a: 'x' });
  });

  it('skips a repeated header with no values', () => {
    assert.deepStrictEqual(readHeaders({ a: [], b: 'y' }), { b: 'y' });
  });
});
