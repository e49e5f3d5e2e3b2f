import { strict as assert } from 'node:assert';
import { DigestSum, EMPTY_DIGEST, updateDigest } from '../../src/store/digest';

describe('the state digest summed at once', () => {
  const entries = Array.from({ length: 2_000 }, (_, i): [string, Buffer] => [`s/logical-source/src_${i}`, Buffer.from(JSON.stringify({ name: `src_${i}`, n: i }))]);

  it('equals the digest updated entry by entry', () => {
    const sum = new DigestSum();
    let one = EMPTY_DIGEST;
    for (const [k, v] of entries) {
      sum.add(k, v);
      one = updateDigest(one, k, undefined, v);
    }
    assert.equal(sum.value, one);
  });

  it('is the empty digest with nothing added', () => assert.equal(new DigestSum().value, EMPTY_DIGEST));

  it('wraps modulo 2^256 like the per-entry sum', () => {
    const sum = new DigestSum();
    let one = EMPTY_DIGEST;
    // The same entry many times: the sum passes 2^256 over and over.
    for (let i = 0; i < 5_000; i++) {
      sum.add('s/x/y', Buffer.from('z'));
      one = updateDigest(one, 's/x/y', undefined, Buffer.from('z'));
    }
    assert.equal(sum.value, one);
  });
});
