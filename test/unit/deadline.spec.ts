import { strict as assert } from 'node:assert';
import { settlesWithin, within } from '../../src/engine/health';

const never = new Promise<never>(() => undefined);
const later = <T>(ms: number, v: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(v), ms));

describe('bounded waits', () => {
  it('within gives the value of work that settles in time', async () => {
    assert.equal(await within(1_000, later(5, 'read')), 'read');
  });

  it('within gives undefined for work that fails or takes longer, and returns at the deadline', async () => {
    assert.equal(await within(1_000, Promise.reject(new Error('gone'))), undefined);
    const start = performance.now();
    assert.equal(await within(50, never), undefined);
    const waited = performance.now() - start;
    assert.ok(waited >= 40 && waited < 500, `returned after ${waited} ms`);
  });

  it('settlesWithin says whether work settled, well or not, before the deadline', async () => {
    assert.equal(await settlesWithin(1_000, later(5, undefined)), true);
    assert.equal(await settlesWithin(1_000, Promise.reject(new Error('refused'))), true);
    const start = performance.now();
    assert.equal(await settlesWithin(50, never), false);
    const waited = performance.now() - start;
    assert.ok(waited >= 40 && waited < 500, `returned after ${waited} ms`);
  });
});
