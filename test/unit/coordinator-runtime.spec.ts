import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COORDCTL_MALLOC_ARENA_MAX, COORDCTL_NODE_FLAGS } from '../support/coordinator-runtime';

describe("the benchmarks' copy of coordctl's memory settings", () => {
  const coordctl = readFileSync(join(__dirname, '../../coordctl'), 'utf8');

  it('has the malloc arenas coordctl sets by default', () => {
    assert.ok(coordctl.includes(`export MALLOC_ARENA_MAX="\${MALLOC_ARENA_MAX:-${COORDCTL_MALLOC_ARENA_MAX}}"`), 'coordctl exports the same MALLOC_ARENA_MAX default');
  });

  it("has the node flags coordctl passes by default", () => {
    const passed = [...coordctl.matchAll(/^\s*\*\) flags\+=\((.*)\) ;;$/gm)].flatMap((m) => m[1].split(' ').filter((f) => f !== ''));
    assert.deepStrictEqual(passed, [...COORDCTL_NODE_FLAGS]);
  });
});
