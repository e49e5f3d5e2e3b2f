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
    const terms = new TermCache<object>();
    const image = { state: 'ACTIVE' };
    terms.set('worker/w1', image, 7n);
    assert.equal(terms.get('worker/w1', image), 7n);
    assert.equal(terms.get('worker/w1', { state: 'ACTIVE' }), undefined, 'an equal image read again is another value: its term is computed');
    assert.equal(terms.get('worker/w2', image), undefined, 'another key');
    terms.delete('worker/w1');
    assert.equal(terms.get('worker/w1', image), undefined, 'forgotten once deleted');
  });

  it('keeps one value a key: the newest, so it holds no more than the state it follows', () => {
    const terms = new TermCache<object>();
    const [older, newer] = [{ n: 1 }, { n: 2 }];
    terms.set('worker/w1', older, 1n);
    terms.set('worker/w1', newer, 2n);
    assert.equal(terms.size, 1);
    assert.equal(terms.get('worker/w1', older), undefined, 'the replaced value is let go');
    assert.equal(terms.get('worker/w1', newer), 2n);
  });

  it('forgets every term when it follows another state (one loaded again), so it never holds a state left behind', () => {
    const terms = new TermCache<object>();
    const [state, reloaded] = [{}, {}];
    const image = { n: 1 };
    terms.follow(state);
    terms.set('worker/w1', image, 1n);
    terms.follow(state);
    assert.equal(terms.get('worker/w1', image), 1n, 'the same state: kept');
    terms.follow(reloaded);
    assert.equal(terms.size, 0);
    assert.equal(terms.get('worker/w1', image), undefined);
  });
});
