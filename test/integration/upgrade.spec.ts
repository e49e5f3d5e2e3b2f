import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalog } from '../../projections/catalog';
import { PROJECTIONS, reject, type Handler, type Projection } from '../../projections';
import type { Client } from '../../src/client/client';
import { makeConfig, type Config } from '../../src/config';
import { createCoordinator, type Coordinator } from '../../src/engine/coordinator';
import { LOGIC_VERSION } from '../../src/engine/logic-version';
import { readMarkers, replay } from '../../src/engine/replay';
import { topicName } from '../../src/messaging/topics';
import { openStore, type Store } from '../../src/store/rocks';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * A newer build whose catalog decides differently: it refuses a name the current one accepts.
 * Folding the current build's snapshots with it reaches another state, so another digest.
 */
const NEWER = LOGIC_VERSION + 1;
const newerProjections = (): Projection[] => {
  const create = catalog.handlers['coord.v1.CreateLogicalSource'] as Handler<{ name: string }>;
  const stricter: Handler<{ name: string }> = {
    stage: 'catalog',
    decide: (msg, state, ctx) => (msg.value.name.startsWith('legacy-') ? reject('INVALID_ARGUMENT', 'legacy- names are retired') : create.decide(msg, state, ctx)),
  };
  const newerCatalog: Projection = { ...catalog, handlers: { ...catalog.handlers, 'coord.v1.CreateLogicalSource': stricter as Handler<never> } };
  return PROJECTIONS.map((p) => (p === catalog ? newerCatalog : p));
};

describe('an upgrade: a build with newer deciders takes over from an older one', function () {
  this.timeout(240_000);
  let d: Deployment;
  let client: Client;
  const dirs: string[] = [];
  const stores: Store[] = [];
  const running: Coordinator[] = [];
  const folder = async (): Promise<Store> => {
    const dir = mkdtempSync(join(tmpdir(), 'coord-upgrade-'));
    dirs.push(dir);
    const store = await openStore(dir);
    stores.push(store);
    return store;
  };
  const coordinator = async (store: Store, newer: boolean, overrides: Partial<Config> = {}): Promise<Coordinator> => {
    const c = createCoordinator({
      config: makeConfig({ ...d.config, dataDir: store.dir, sessionTimeoutMs: 6_000, ...overrides }),
      kafka: d.parts.kafka,
      codec: d.parts.codec,
      store,
      log: testLog(),
      ...(newer ? { projections: newerProjections(), logicVersion: NEWER } : {}),
    });
    running.push(c);
    await c.start();
    return c;
  };
  const create = (name: string) => client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'v', type: 'INT64' }] }, { correlationId: `up-${name}`, timeoutMs: 60_000 });
  const markers = () => readMarkers(d.parts.kafka, d.parts.codec, topicName(d.config.topicPrefix, 'snapshots'));
  const replayInto = async (store: Store, newer: boolean, claimedVersion?: number) =>
    replay({
      kafka: d.parts.kafka,
      codec: d.parts.codec,
      store,
      log: testLog(),
      topicPrefix: d.config.topicPrefix,
      verify: true,
      ...(newer ? { projections: newerProjections(), logicVersion: claimedVersion ?? NEWER } : {}),
    });

  before(async () => {
    d = await deployment(testStack(), 'upgrade');
    client = await d.client();
  });

  after(async () => {
    await d?.close();
    for (const c of running) await c.close().catch(() => undefined);
    for (const s of stores) await s.close().catch(() => undefined);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  let olderSnapshots = 0;
  let olderFolder: Store;

  it('records the folding build\'s logic version on every marker', async () => {
    olderFolder = await folder();
    const older = await coordinator(olderFolder, false);
    assert.equal((await create('kept')).status, 'OK');
    assert.equal((await create('legacy-one')).status, 'OK', 'the current build accepts the name');
    await older.close();
    const ms = await markers();
    assert.ok(ms.length > 0);
    assert.deepEqual([...new Set(ms.map((m) => m.logicVersion))], [LOGIC_VERSION]);
    olderSnapshots = ms.length;
  });

  it('refuses to serve from a folder the newer build folded itself when it decides the history differently, and says why', async () => {
    const rebuilt = await coordinator(await folder(), true, { stallThresholdMs: 500 });
    await waitFor('the refusal to show on the status', async () => rebuilt.status().problems.some((p) => p.kind === 'environment'), 60_000);
    const status = rebuilt.status();
    assert.equal(status.ready, false);
    assert.match(status.problems.find((p) => p.kind === 'environment')?.error ?? '', /decides the log's snapshots differently.*upgrade a folder the older build kept/);
    assert.equal((await markers()).length, olderSnapshots, 'it published nothing: the log keeps one history');
    await rebuilt.close();
  });

  it('takes over from the older build\'s own folder, upgraded in place, and goes on under the newer deciders', async () => {
    const upgraded = await coordinator(olderFolder, true);
    await waitFor('the upgraded instance to serve', async () => upgraded.status().ready, 120_000);
    assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'kept' })).status, 'OK');
    assert.equal((await client.ask('coord.v1.GetLogicalSource', { name: 'legacy-one' })).status, 'OK', 'what the older build decided stays decided');
    assert.equal((await create('legacy-two')).status, 'INVALID_ARGUMENT', 'the newer deciders decide from now on');
    assert.equal((await create('after-upgrade')).status, 'OK');
    await upgraded.close();
    const ms = await markers();
    assert.ok(ms.length > olderSnapshots);
    assert.ok(ms.slice(olderSnapshots).every((m) => m.logicVersion === NEWER), 'the newer build records its version');
  });

  it('verifies in a replay by the older build what it can prove, and reports the rest as not comparable, never as a mismatch', async () => {
    const all = (await markers()).length;
    const byOlder = await replayInto(await folder(), false);
    assert.equal(byOlder.mismatch, undefined);
    assert.equal(byOlder.snapshots, all);
    // The newer build's snapshots differ only where its deciders decided otherwise (the refused name), so the older replay proves those that create nothing new.
    assert.ok(byOlder.otherVersion > 0 && byOlder.otherVersion <= all - olderSnapshots, `the newer build's snapshots it cannot prove: ${byOlder.otherVersion}`);
    const byNewer = await replayInto(await folder(), true);
    assert.equal(byNewer.mismatch, undefined, 'a newer replay of a history the older build began is not a divergence');
    assert.ok(byNewer.otherVersion > 0);
  });

  it('still finds a divergence within one version: other deciders claiming the same version fail the check', async () => {
    const claimed = await replayInto(await folder(), true, LOGIC_VERSION);
    assert.ok(claimed.mismatch !== undefined, 'deciders that decide differently under the same version are caught');
  });
});
