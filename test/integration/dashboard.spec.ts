/**
 * The metrics on the real stack: a coordinator process that has served workers, a query,
 * refusals and replies exposes every family the Grafana dashboard plots (the dashboard JSON in
 * compose/ is checked against this scrape), its histograms with their buckets, and a client
 * built with a registry reports its own.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Partitioners, type Producer } from 'kafkajs';
import { Registry } from 'prom-client';
import { createClient, type Client, type Reply } from '../../src/client/client';
import { H } from '../../src/messaging/headers';
import { projectRoot } from '../../src/messaging/schemas';
import { createWorkerAgent, type WorkerAgent } from '../../src/worker/agent';
import { coordinatorProcess, type CoordinatorProcess } from '../support/coordinator-process';
import { deployment, testLog, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const DASHBOARD = join(projectRoot(), 'compose', 'grafana', 'dashboards', 'coord.json');

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
  readonly panels?: readonly Panel[];
}

/** PromQL words that are not metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: what is left once label matchers, ranges,
 * grouping clauses, strings and function calls are taken out.
 */
const metricsOf = (expr: string): string[] => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(?!\s*\()/g)]
    .filter((m) => !/[A-Za-z0-9_:]/.test(bare[m.index + m[0].length] ?? '') && !/[$\w]/.test(bare[m.index - 1] ?? ''))
    .map((m) => m[0]);
  return names.filter((n) => !KEYWORDS.has(n.toLowerCase()));
};

/** Every series name a scrape has (a histogram shows as its _bucket, _sum and _count). */
const seriesNames = (text: string): Set<string> =>
  new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));

const value = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line !== undefined, `${series} is in the scrape`);
  return Number(line.slice(series.length + 1));
};

describe('metrics of a running coordinator, and the dashboard that plots them', function () {
  this.timeout(180_000);
  let d: Deployment;
  let coordinator: CoordinatorProcess;
  let client: Client;
  let raw: Producer;
  let worker: WorkerAgent;
  const clientRegistry = new Registry();
  const scrape = async (): Promise<string> => (await fetch(`${coordinator.httpUrl}/metrics`)).text();

  before(async () => {
    d = await deployment(testStack(), 'dashboard');
    coordinator = await coordinatorProcess(testStack(), { prefix: d.config.topicPrefix, name: 'dashboard', env: { COORD_TICK_INTERVAL_MS: '200' } });
    await coordinator.start();
    client = createClient({
      kafka: d.parts.kafka,
      codec: d.parts.codec,
      log: testLog(),
      topicPrefix: d.config.topicPrefix,
      replyTopic: d.config.replyTopic,
      askTimeoutMs: 20_000,
      metrics: { registry: clientRegistry, name: 'dashboard-test' },
    });
    await client.start();
    worker = createWorkerAgent({ client, commands: { kafka: d.parts.kafka, codec: d.parts.codec, topicPrefix: d.config.topicPrefix }, log: testLog(), workerId: 'w1', slots: 4, heartbeatMs: 200 });
    await worker.start();
    raw = d.parts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await raw.connect();

    const ok = async (type: string, v: Record<string, unknown>): Promise<Reply> => {
      const r = await client.ask(type, v);
      assert.equal(r.status, 'OK', `${type}: ${r.message}`);
      return r;
    };
    await waitFor('w1 ACTIVE', async () => ((await client.ask('coord.v1.ListWorkers', { includeGone: false })).payload?.value as { workers: unknown[] }).workers.length === 1);
    await ok('coord.v1.CreateLogicalSource', { name: 'cars', fields: [{ name: 'id', type: 'INT64' }] });
    await ok('coord.v1.CreatePhysicalSource', { name: 'cars-1', logicalSource: 'cars', workerId: 'w1', connectorType: 'tcp', options: {} });
    await ok('coord.v1.CreateSink', { name: 'out', type: 'print', options: {} });
    await ok('coord.v1.CreateQuery', { name: 'q', plan: JSON.stringify({ sources: ['cars'], sink: 'out' }), session: null, temporary: false });
    await ok('coord.v1.StartQuery', { name: 'q' });
    assert.equal((await client.ask('coord.v1.GetSink', { name: 'nope', asOfTs: null })).status, 'NOT_FOUND');
    // Refused input (to the DLQ), and a reply whose topic is gone (set aside at publication).
    const catalog = `${d.config.topicPrefix}.requests.catalog`;
    const get = await d.parts.codec.encode(catalog, 'coord.v1.GetSink', { name: 'out', asOfTs: null });
    await raw.send({
      topic: catalog,
      messages: [
        { key: 'junk', value: Buffer.from('not avro'), headers: { [H.correlationId]: 'junk-1', [H.replyTo]: d.config.replyTopic } },
        { key: 'out', value: get, headers: { [H.correlationId]: 'gone-1', [H.replyTo]: `${d.config.topicPrefix}.replies.gone` } },
      ],
    });
    await waitFor('the refusals counted', async () => {
      const text = await scrape();
      return /coord_dlq_records_total\{code="WIRE_MALFORMED"\} [1-9]/.test(text) && /coord_outputs_set_aside_total\{code="REPLY_TOPIC_MISSING"\} [1-9]/.test(text);
    });
  });

  after(async () => {
    await raw?.disconnect();
    await worker?.die();
    await client?.close();
    await d?.close();
    await coordinator?.stop();
  });

  it('finds the metric names in a PromQL expression', () => {
    assert.deepEqual(metricsOf('histogram_quantile(0.99, sum by (le) (rate(coord_pass_duration_seconds_bucket{job="$job"}[$__rate_interval])))'), ['coord_pass_duration_seconds_bucket']);
    assert.deepEqual(metricsOf('rate(a_total[1m]) / rate(b_count{x="y"}[5m])'), ['a_total', 'b_count']);
    assert.deepEqual(metricsOf('coord_role{job="$job"} == 1'), ['coord_role']);
    assert.deepEqual(metricsOf('sum(coord_stalled{what=~"publish|store"}) or vector(0)'), ['coord_stalled']);
  });

  it('plots on the dashboard only metrics that a running coordinator exposes', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[] };
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 20, `${panels.length} panels`);
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
    const exposed = seriesNames(await scrape());
    const plotted = new Set<string>();
    for (const p of panels) {
      assert.ok((p.targets ?? []).length > 0, `panel ${p.title} plots something`);
      for (const t of p.targets ?? []) for (const m of metricsOf(t.expr)) plotted.add(m);
    }
    const missing = [...plotted].filter((m) => !exposed.has(m));
    assert.deepEqual(missing, [], `the dashboard plots metrics the coordinator does not expose: ${missing.join(', ')}`);
    // The families are all on the dashboard.
    for (const m of ['coord_pass_duration_seconds_bucket', 'coord_batch_records_bucket', 'coord_store_commit_seconds_bucket', 'coord_publish_duration_seconds_bucket', 'coord_snapshot_age_at_publish_seconds_bucket', 'coord_input_lag_records', 'coord_outbox_records', 'coord_outbox_oldest_age_seconds', 'coord_dlq_records_total', 'coord_replies_total', 'coord_role', 'coord_generation', 'coord_takeovers_total', 'coord_pass_stage_seconds_total', 'coord_workers', 'coord_queries', 'coord_allocations'])
      assert.ok(plotted.has(m), `the dashboard plots ${m}`);
  });

  it('exposes the histograms with their buckets, and the loop, the deployment and the process as they are', async () => {
    const text = await scrape();
    for (const h of ['coord_pass_duration_seconds', 'coord_batch_records', 'coord_store_commit_seconds', 'coord_publish_duration_seconds', 'coord_snapshot_age_at_publish_seconds']) {
      assert.match(text, new RegExp(`^${h}_bucket\\{le="\\+Inf"\\} [1-9]`, 'm'), `${h} has observations`);
      assert.ok(value(text, `${h}_count`) > 0);
    }
    assert.equal(value(text, 'coord_role{role="active"}'), 1);
    assert.equal(value(text, 'coord_generation'), 1);
    assert.equal(value(text, 'coord_activations_total'), 1);
    assert.equal(value(text, 'coord_workers{state="ACTIVE"}'), 1);
    assert.equal(value(text, 'coord_queries{state="RUNNING"}'), 1);
    assert.equal(value(text, 'coord_allocations{state="in_use"}'), 2);
    assert.ok(value(text, 'coord_replies_total{status="OK"}') >= 6);
    assert.ok(value(text, 'coord_replies_total{status="NOT_FOUND"}') >= 1);
    assert.ok(value(text, 'coord_replies_total{status="INVALID_ARGUMENT"}') >= 1, 'the refused junk was answered');
    assert.ok(value(text, 'coord_pass_stage_seconds_total{stage="decide"}') > 0);
    assert.match(text, new RegExp(`^coord_input_lag_records\\{topic="${d.config.topicPrefix}\\.events\\.infra",partition="0"\\} \\d+$`, 'm'));
    assert.ok(value(text, 'coord_outbox_records') >= 0);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.match(text, /^nodejs_eventloop_lag_p99_seconds /m);
  });

  it('gives the client’s own metrics to the registry its application passed in', async () => {
    const text = await clientRegistry.metrics();
    assert.ok(value(text, 'coord_client_ask_duration_seconds_count{client="dashboard-test",outcome="OK"}') >= 6);
    assert.equal(value(text, 'coord_client_asks_in_flight{client="dashboard-test"}'), 0);
    assert.match(text, /^coord_client_replies_dropped_total\{client="dashboard-test"\} \d+$/m);
    assert.match(text, /^coord_client_backpressure_waits_total\{client="dashboard-test",reason="in_flight"\} 0$/m);
    assert.doesNotMatch(await scrape(), /coord_client_/, "the client's metrics stay in its application's registry");
  });
});
