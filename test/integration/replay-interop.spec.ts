import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import type { Client } from '../../src/client/client';
import { readMarkers, recordTypeCounts, replay } from '../../src/engine/replay';
import { projectRoot } from '../../src/messaging/schemas';
import { topicName } from '../../src/messaging/topics';
import { openStore } from '../../src/store/rocks';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/** The Python environment `make test` prepares (test/interop/requirements.txt). */
const python = (): string => {
  const venv = join(projectRoot(), '.cache', 'py', 'bin', 'python');
  if (!existsSync(venv)) throw new Error("the interop Python environment is missing: run 'make test' (it creates .cache/py)");
  return venv;
};

interface Counted {
  readonly snapshotId: number;
  readonly records: number;
  readonly types: Record<string, number>;
}

const run = (cmd: string, args: readonly string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });

describe('a replay tool in another language (Python): the same batches from the markers', function () {
  this.timeout(240_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;

  before(async () => {
    d = await deployment(testStack(), 'py-replay');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'py-replay', env: { COORD_TICK_INTERVAL_MS: '200' } });
    await coordinator.start();
    client = await d.client();
    // Requests, a retry, events, and records refused before any decider saw them.
    for (let i = 0; i < 6; i++) await client.ask('coord.v1.CreateLogicalSource', { name: `s${i}`, fields: [{ name: 'x', type: 'INT64' }] }, { correlationId: `py-${i}` });
    await client.ask('coord.v1.CreateLogicalSource', { name: 's2', fields: [{ name: 'x', type: 'INT64' }] }, { correlationId: 'py-2' });
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.ask('coord.v1.GetLogicalSource', { name: `s${i % 8}`, asOfTs: null })));
    await client.send('coord.v1.SessionOpened', { sessionId: 'py', client: 'interop' }, { key: 'py' });
    await client.send('coord.v1.SessionHeartbeat', { sessionId: 'py' }, { key: 'py' });
    const raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();
    try {
      const headers = { 'correlation-id': 'py-garbage', 'reply-to': d.config.replyTopic };
      await raw.send({ topic: topicName(d.config.topicPrefix, 'requests.catalog'), messages: [{ key: 'g', value: Buffer.from('not avro'), headers }, { key: 't', value: null, headers }] });
    } finally {
      await raw.disconnect();
    }
    await client.ask('coord.v1.AllocIds', { count: 5 });
  });

  after(async () => {
    await d?.close();
    await coordinator?.stop();
  });

  it('counts, per snapshot of a range, the record types the coordinator’s own replay folds', async () => {
    const markersTopic = topicName(d.config.topicPrefix, 'snapshots');
    const last = BigInt((await coordinator.status())?.snapshotId ?? '0');
    await waitFor(`the marker of snapshot ${last} on the log`, async () => (await readMarkers(d.parts.kafka, d.parts.codec, markersTopic)).some((m) => m.snapshotId === last));
    const first = 2n; // a range that does not begin at the start of the log

    const script = join(projectRoot(), 'test', 'interop', 'replay_counts.py');
    const py = await run(
      python(),
      [script, '--brokers', testStack().brokers, '--registry', testStack().registryUrl, '--prefix', d.config.topicPrefix, '--from', first.toString(), '--to', last.toString()],
      120_000,
    );
    assert.equal(py.code, 0, `python exited ${py.code}:\n${py.stdout}\n${py.stderr}`);
    const counted = py.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Counted);

    const ours = new Map<number, Counted>();
    const store = await openStore(join(testStack().dir, 'py-replay-ours'));
    try {
      await replay({
        kafka: d.parts.kafka,
        codec: d.parts.codec,
        store,
        log: testLog(),
        topicPrefix: d.config.topicPrefix,
        verify: true,
        until: { kind: 'snapshot', snapshotId: last },
        onSnapshot: async (s) => {
          if (s.marker.snapshotId < first) return;
          const types = await recordTypeCounts(d.parts.codec, s);
          ours.set(Number(s.marker.snapshotId), { snapshotId: Number(s.marker.snapshotId), records: s.records.length, types: Object.fromEntries([...types].sort(([a], [b]) => (a < b ? -1 : 1))) });
        },
      });
    } finally {
      await store.close();
    }

    assert.deepEqual(
      counted.map((c) => c.snapshotId),
      [...ours.keys()],
      'one line per snapshot of the range',
    );
    for (const c of counted) assert.deepEqual({ snapshotId: c.snapshotId, records: c.records, types: c.types }, ours.get(c.snapshotId));
    const all = new Set(counted.flatMap((c) => Object.keys(c.types)));
    for (const t of ['coord.v1.CreateLogicalSource', 'coord.v1.GetLogicalSource', 'coord.v1.Tick', 'coord.v1.SessionOpened', 'coord.v1.AllocIds', 'rejected:WIRE_MALFORMED'])
      assert.ok(all.has(t), `the range folded a ${t}`);
  });
});
