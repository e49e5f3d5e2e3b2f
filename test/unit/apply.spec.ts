import { strict as assert } from 'node:assert';
import { applyDecision, closeSnapshot, compactionFrontier, type Touched } from '../../src/engine/apply';
import { WorkingState } from '../../src/engine/state';

describe('applying a decision (the pass\'s evolve step)', () => {
  it("keeps each touched entity's image from before the pass's first change to it", () => {
    const state = new WorkingState();
    state.apply({ entity: 'sink', key: 'a', image: { v: 1 } });
    const before = new Map<string, Touched>();
    applyDecision(state, [{ entity: 'sink', key: 'a', image: { v: 2 } }], before);
    applyDecision(state, [{ entity: 'sink', key: 'a', image: null }, { entity: 'sink', key: 'b', image: { v: 3 } }], before);
    assert.deepEqual([...before.values()], [
      { entity: 'sink', key: 'a', image: { v: 1 } },
      { entity: 'sink', key: 'b', image: undefined },
    ]);
    assert.equal(state.get('sink', 'a'), undefined);
    assert.deepEqual(state.get('sink', 'b'), { v: 3 });
  });

  it('tells each change with the image it replaced', () => {
    const state = new WorkingState();
    const seen: unknown[] = [];
    applyDecision(state, [{ entity: 'sink', key: 'a', image: { v: 1 } }, { entity: 'sink', key: 'a', image: { v: 2 } }], new Map(), (c, was) => seen.push([c.image, was]));
    assert.deepEqual(seen, [[{ v: 1 }, undefined], [{ v: 2 }, { v: 1 }]]);
  });

  it('versions only versioned entities whose image the snapshot changed, and never compacts at or above the snapshot', () => {
    const state = new WorkingState();
    const before = new Map<string, Touched>();
    applyDecision(state, [{ entity: 'sink', key: 'a', image: { v: 1 } }, { entity: 'other', key: 'x', image: { v: 1 } }, { entity: 'sink', key: 'gone', image: { v: 1 } }, { entity: 'sink', key: 'gone', image: null }], before);
    closeSnapshot(state, before, new Set(['sink']), 10n, undefined);
    assert.deepEqual(state.getAt('sink', 'a', 10n), { v: 1 });
    assert.equal(state.getAt('other', 'x', 10n), undefined);
    assert.equal(state.getAt('sink', 'gone', 10n), undefined);
    assert.equal(compactionFrontier(5n, 10n), 5n);
    assert.equal(compactionFrontier(10n, 10n), 9n);
    assert.equal(compactionFrontier(99n, 10n), 9n);
  });
});
