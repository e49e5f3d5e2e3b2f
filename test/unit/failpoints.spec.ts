import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { FAIL_POINTS, parseFailPoints } from '../../src/engine/failpoints';

describe('fail points', function () {
  // Two tests start a Node process with tsx, slow on a busy machine.
  this.timeout(60_000);

  it('are unarmed when COORD_FAILPOINTS is unset or empty', () => {
    assert.equal(parseFailPoints(undefined), undefined);
    assert.equal(parseFailPoints('  '), undefined);
  });

  it('reads a crash, a pause, a loss and the hit they fire at', () => {
    const armed = parseFailPoints('commit.before-publish=crash@20, activation.after-fence=pause:3000,group.heartbeat=lose@7');
    assert.deepEqual(armed?.get('commit.before-publish'), { action: { kind: 'crash' }, at: 20, hits: 0 });
    assert.deepEqual(armed?.get('activation.after-fence'), { action: { kind: 'pause', ms: 3000 }, at: 1, hits: 0 });
    assert.deepEqual(armed?.get('group.heartbeat'), { action: { kind: 'lose' }, at: 7, hits: 0 });
    assert.equal(armed?.size, 3);
  });

  it('answers true at the armed hit of a loss only, and the process goes on', () => {
    const script = `const { failPoint } = require(${JSON.stringify(join(__dirname, '../../src/engine/failpoints.ts'))});
      const said = [];
      for (let i = 1; i <= 5; i++) said.push(failPoint('group.heartbeat'));
      process.stdout.write(JSON.stringify(said));`;
    const res = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { env: { ...process.env, COORD_FAILPOINTS: 'group.heartbeat=lose@3' }, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), [false, false, true, false, false]);
    assert.match(res.stderr, /"point":"group.heartbeat","action":"lose","hit":3/);
  });

  it('refuses a point it does not know, naming the ones it does', () => {
    assert.throws(() => parseFailPoints('commit.before-publsh=crash'), (err: Error) => err.message.includes('commit.before-publsh') && FAIL_POINTS.every((p) => err.message.includes(p)));
    assert.throws(() => parseFailPoints('catch-up.mid=explode'), /cannot read/);
  });

  it('kills the process with SIGKILL at the armed hit, and not before', () => {
    const script = `const { failPoint } = require(${JSON.stringify(join(__dirname, '../../src/engine/failpoints.ts'))});
      for (let i = 1; i <= 5; i++) { process.stdout.write('hit ' + i + '\\n'); failPoint('catch-up.mid'); }
      process.stdout.write('survived\\n');`;
    const res = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { env: { ...process.env, COORD_FAILPOINTS: 'catch-up.mid=crash@3' }, encoding: 'utf8' });
    assert.equal(res.signal, 'SIGKILL');
    assert.equal(res.stdout.trim().split('\n').pop(), 'hit 3');
    assert.match(res.stderr, /"point":"catch-up.mid"/);
  });

  it('changes nothing when unarmed', () => {
    const script = `const { failPoint } = require(${JSON.stringify(join(__dirname, '../../src/engine/failpoints.ts'))});
      for (let i = 0; i < 1000; i++) failPoint('commit.before-publish');
      process.stdout.write('survived\\n');`;
    const res = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { env: { ...process.env, COORD_FAILPOINTS: '' }, encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout.trim(), 'survived');
  });
});
