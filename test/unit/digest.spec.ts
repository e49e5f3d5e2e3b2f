import { strict as assert } from 'node:assert';
import { DigestSum, EMPTY_DIGEST, updateDigest, TermCache } from '../../src/store/digest';

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

describe('the digest terms remembered between passes', () => {
  it('gives a term back only for the very value it was computed from', () => {
    const terms = new TermCache<object>(10);
    const image = { state: 'ACTIVE' };
    terms.set('worker/w1', image, 7n);
    assert.equal(terms.get('worker/w1', image), 7n);
    assert.equal(terms.get('worker/w1', { state: 'ACTIVE' }), undefined, 'an equal image read again is another value: its term is computed');
    assert.equal(terms.get('worker/w2', image), undefined, 'another key');
    terms.delete('worker/w1');
    assert.equal(terms.get('worker/w1', image), undefined, 'forgotten once deleted');
  });

  it('holds at most its limit, starting again empty when full', () => {
    const terms = new TermCache<object>(3);
    const images = Array.from({ length: 4 }, () => ({}));
    images.forEach((image, i) => terms.set(`k${i}`, image, BigInt(i)));
    assert.equal(terms.size, 1, 'the fourth key found it full');
    assert.equal(terms.get('k3', images[3]), 3n);
    assert.equal(terms.get('k0', images[0]), undefined);
    terms.set('k3', images[3], 9n);
    assert.equal(terms.get('k3', images[3]), 9n, 'a key it holds is replaced, never a reason to empty it');
  });
});
