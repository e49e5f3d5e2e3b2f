import { strict as assert } from 'node:assert';
import { WorkingState } from '../../src/engine/state';

const keys = (s: WorkingState, entity: string): string[] => [...s.list(entity)].map(([k]) => k);

describe('working state: lists in key order', () => {
  it('lists keys in order as they come, change and go', () => {
    const s = new WorkingState();
    for (const k of ['w3', 'w1', 'w2']) s.apply({ entity: 'worker', key: k, image: { n: 1 } });
    assert.deepStrictEqual(keys(s, 'worker'), ['w1', 'w2', 'w3']);
    s.apply({ entity: 'worker', key: 'w0', image: { n: 1 } });
    assert.deepStrictEqual(keys(s, 'worker'), ['w0', 'w1', 'w2', 'w3']);
    s.apply({ entity: 'worker', key: 'w2', image: null });
    assert.deepStrictEqual(keys(s, 'worker'), ['w0', 'w1', 'w3']);
  });

  it('lists the current image of a key changed since the last list', () => {
    const s = new WorkingState();
    s.apply({ entity: 'worker', key: 'w1', image: { n: 1 } });
    assert.deepStrictEqual([...s.list('worker')], [['w1', { n: 1 }]]);
    s.apply({ entity: 'worker', key: 'w1', image: { n: 2 } });
    assert.deepStrictEqual([...s.list('worker')], [['w1', { n: 2 }]]);
  });

  it('forgets nothing when a key that is not there is deleted', () => {
    const s = new WorkingState();
    s.apply({ entity: 'worker', key: 'w1', image: { n: 1 } });
    s.apply({ entity: 'worker', key: 'w9', image: null });
    assert.deepStrictEqual(keys(s, 'worker'), ['w1']);
  });
});
