/**
 * The live console in a real browser (Debian's Chromium, driven by playwright-core) against a
 * coordinator on the real stack with simulated workers: what the page shows follows the
 * deployment without a reload. Screenshots go to test/e2e/artifacts/.
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Client, Reply } from '../../src/client/client';
import { projectRoot } from '../../src/messaging/schemas';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** No network but loopback here: nothing in the background may try to reach Google. */
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(projectRoot(), 'test', 'e2e', 'artifacts');
/** How long the page may take to show a change the coordinator has committed (it pushes once a second). */
const SHOWN_MS = 15_000;

describe('the live console in a real browser', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let beats: NodeJS.Timeout | undefined;
  const agents = new Map<string, WorkerAgent>();

  const ok = async (type: string, value: Record<string, unknown>): Promise<Reply> => {
    const r = await client.ask(type, value);
    assert.equal(r.status, 'OK', `${type}: ${r.status} ${r.message}`);
    return r;
  };
  const shown = (selector: string, what: string): Promise<void> =>
    page
      .locator(selector)
      .first()
      .waitFor({ state: 'attached', timeout: SHOWN_MS })
      .catch(async (err: Error) => {
        await page.screenshot({ path: join(ARTIFACTS, 'console-failed.png'), fullPage: true }).catch(() => undefined);
        throw new Error(`the console never showed ${what} (${selector}): ${err.message}`);
      });

  before(async () => {
    d = await deployment(testStack(), 'console');
    coordinator = await coordinatorProcess(testStack(), {
      prefix: d.config.topicPrefix,
      name: 'console',
      env: { COORD_TICK_INTERVAL_MS: '200', COORD_WORKER_SUSPECT_MS: '1000', COORD_WORKER_TIMEOUT_MS: '2000' },
    });
    await coordinator.start();
    client = await d.client();
    for (const [workerId, slots] of [['w1', 4], ['w2', 2], ['w3', 4]] as const) {
      const agent = createWorkerAgent({
        client,
        commands: { kafka: d.parts.kafka, codec: d.parts.codec, topicPrefix: d.config.topicPrefix },
        log: testLog(),
        workerId,
        slots,
        capabilities: workerId === 'w1' ? ['gpu'] : [],
        heartbeatMs: 200,
      });
      await agent.start();
      agents.set(workerId, agent);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'coord-console-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1400, height: 800 } });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    if (beats !== undefined) clearInterval(beats);
    await context?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
    for (const a of agents.values()) await a.die();
    await d?.close();
    await coordinator?.stop();
  });

  it('lists the workers, with their state, slots and capabilities', async () => {
    await page.goto(`${coordinator.httpUrl}/`);
    for (const w of ['w1', 'w2', 'w3']) await shown(`#workers tr[data-worker="${w}"][data-state="ACTIVE"]`, `worker ${w} ACTIVE`);
    assert.equal(await page.locator('#connection').textContent(), 'live');
    assert.match((await page.locator('#workers tr[data-worker="w1"]').textContent()) ?? '', /0 \/ 4.*gpu/);
    // Marks this page: a reload would lose the mark, so the next tests show the page updating by itself.
    await page.evaluate(() => Object.assign(globalThis, { sameConsolePage: true }));
  });

  it('shows a query started with the client RUNNING with its fragments, without a reload', async () => {
    await ok('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }, { name: 'speed', type: 'FLOAT64' }] });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-north', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: { port: '9000' } });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-south', logicalSource: 'cars', workerId: 'w2', connectorType: 'tcp', options: { port: '9001' } });
    await ok('coord.v1.CreateSink', { name: 'dashboard', type: 'print', options: {} });
    await client.send('coord.v1.SessionOpened', { sessionId: 'ops-session', client: 'console-e2e' }, { key: 'ops-session' });
    beats = setInterval(() => void client.send('coord.v1.SessionHeartbeat', { sessionId: 'ops-session' }, { key: 'ops-session' }).catch(() => undefined), 500);
    await ok('coord.v1.AcquireReadHold', { name: 'audit', asOfTs: null, leaseMs: 600_000n });
    await ok('coord.v1.CreateQuery', { name: 'fast-cars', plan: JSON.stringify({ sources: ['cars'], sink: 'dashboard' }), session: { string: 'ops-session' }, temporary: false });
    const started = await ok('coord.v1.StartQuery', { name: 'fast-cars' });
    const fragments = (started.payload?.value as { fragments: { fragmentId: string; workerId: string }[] }).fragments;
    assert.equal(fragments.length, 3);

    await shown('#queries tr[data-query="fast-cars"][data-state="RUNNING"]', 'fast-cars RUNNING');
    for (const f of fragments) await shown(`#queries tr[data-query="fast-cars"] li[data-fragment="${f.fragmentId}"][data-worker="${f.workerId}"][data-status="RUNNING"]`, `fragment ${f.fragmentId} RUNNING on ${f.workerId}`);
    await shown('#logical-sources tr[data-source="cars"]', 'the logical source');
    await shown('#physical-sources tr[data-source="cars-south"]', 'a physical source');
    await shown('#sinks tr[data-sink="dashboard"]', 'the sink');
    await shown('#sessions tr[data-session="ops-session"]', 'the session');
    await shown('#holds tr[data-hold="audit"]', 'the read hold');
    assert.equal(await page.evaluate(() => (globalThis as { sameConsolePage?: boolean }).sameConsolePage), true, 'the same page, never reloaded');
    // A few seconds of samples, so the charts have a line to show.
    // The README's picture gets a longer line (a sample a second).
    const points = process.env.CONSOLE_SCREENSHOT_DOCS === '1' ? 30 : 2;
    await waitFor(`the charts to have ${points} points`, async () => ((await page.locator('.charts polyline').first().getAttribute('points')) ?? '').split(' ').length >= points, points * 1_000 + SHOWN_MS);
    await page.screenshot({ path: join(ARTIFACTS, 'console.png'), fullPage: true });
    // `CONSOLE_SCREENSHOT_DOCS=1` refreshes the README's picture from this run.
    if (process.env.CONSOLE_SCREENSHOT_DOCS === '1') copyFileSync(join(ARTIFACTS, 'console.png'), join(projectRoot(), 'docs', 'console.png'));
  });

  it('turns a worker that dies DEAD on the page, and fails its query there', async () => {
    await (agents.get('w2') as WorkerAgent).die();
    await shown('#workers tr[data-worker="w2"][data-state="DEAD"]', 'w2 DEAD');
    await shown('#queries tr[data-query="fast-cars"][data-state="FAILED"]', 'fast-cars FAILED');
    assert.match((await page.locator('#queries tr[data-query="fast-cars"]').textContent()) ?? '', /worker w2 is DEAD/);
    assert.equal(await page.evaluate(() => (globalThis as { sameConsolePage?: boolean }).sameConsolePage), true, 'the same page, never reloaded');
    await page.screenshot({ path: join(ARTIFACTS, 'console-worker-dead.png'), fullPage: true });
  });
});
