import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/messaging/schemas';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';

/** The Python environment `make test` prepares (test/interop/requirements.txt). */
const python = (): string => {
  const venv = join(projectRoot(), '.cache', 'py', 'bin', 'python');
  if (!existsSync(venv)) throw new Error("the interop Python environment is missing: run 'make test' (it creates .cache/py)");
  return venv;
};

describe('a client in another language (Python, confluent-kafka and fastavro)', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;

  before(async () => {
    d = await deployment(testStack(), 'interop');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'interop' });
    await coordinator.start();
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  it('creates and reads a logical source through the public protocol only', async () => {
    const script = join(projectRoot(), 'test', 'interop', 'create_and_get.py');
    const res = spawnSync(python(), [script, '--brokers', testStack().brokers, '--registry', testStack().registryUrl, '--prefix', d.config.topicPrefix], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(res.status, 0, `python exited ${res.status}:\n${res.stdout}\n${res.stderr}`);
    const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { create: string; get: string; fields: unknown };
    assert.equal(out.create, 'OK');
    assert.equal(out.get, 'OK');
    assert.deepEqual(out.fields, [{ name: 'id', type: 'INT64' }, { name: 'reading', type: 'FLOAT64' }]);

    // And the TypeScript client sees what Python created.
    const client = await d.client();
    const got = await client.ask('coord.v1.GetLogicalSource', { name: 'py_source' });
    assert.equal(got.status, 'OK');
  });
});
