import { strict as assert } from 'node:assert';
import { Registry, register as globalRegistry } from 'prom-client';
import type { CoordinatorStatus, CoordinatorView } from '../../src/engine/coordinator';
import type { PassResult } from '../../src/engine/pass';
import { H } from '../../src/messaging/headers';
import { loadContracts } from '../../src/messaging/schemas';
import { frame } from '../../src/messaging/wire';
import { createClientMetrics } from '../../src/metrics/client';
import { createEngineMetrics, registerCoordinatorGauges } from '../../src/metrics/coordinator';
import { replyStatusReader } from '../../src/metrics/reply-status';
import { registerStoreGauges } from '../../src/metrics/store';
import type { OutRecord } from '../../src/store/outbox';

const REPLY = loadContracts().get('coord.v1.Reply');
if (REPLY === undefined) throw new Error('no Reply contract');

/** A Reply as the pass encodes it: Confluent-framed Avro. */
const encodedReply = (correlationId: string, status: string): Buffer =>
  frame(7, REPLY.type.toBuffer({ correlationId, status, message: 'm', snapshotId: 3n, snapshotTs: 9n, payload: null }));

const status = (over: Partial<CoordinatorStatus> = {}): CoordinatorStatus => ({
  ready: true,
  role: 'active',
  generation: 3,
  snapshotId: '41',
  snapshotTs: '0',
  digest: '00',
  applied: 10,
  rejected: 2,
  passes: 5,
  buffered: 1,
  cachedImages: 7,
  problems: [],
  refusals: { dlq: { WIRE_MALFORMED: 2 }, setAside: { REPLY_TOPIC_MISSING: 1 }, conflicts: 1, repliesTooLarge: 0, markersSkipped: 0 },
  retries: { publish: 1, store: 0, registry: 0, consumer: 0, environment: 0 },
  following: { state: 'stopped', behind: 0 },
  ...over,
});

const view = (entities: Record<string, [string, Record<string, unknown>][]>, inputs: CoordinatorView['inputs'] = []): CoordinatorView => ({
  snapshot: { id: '41', ts: '0', logTimeMs: 1_000 },
  list: (entity) => (entities[entity] ?? []) as never,
  get: () => undefined,
  inputs,
});

const pass = (key: string, records: OutRecord[], stages = { decodeMs: 1, decideMs: 2, changesMs: 3, commitMs: 6 }): PassResult => ({ outbox: { key, records }, stages }) as unknown as PassResult;

/** The value of one sample line, e.g. `coord_replies_total{status="OK"}`. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('metrics: the coordinator on /metrics', () => {
  it('reads the status of a reply off its first bytes, whatever the length of its correlation id', () => {
    const read = replyStatusReader(REPLY);
    for (const id of ['', 'c', 'x'.repeat(63), 'x'.repeat(64), 'é'.repeat(200), 'y'.repeat(20_000)])
      for (const s of ['OK', 'NOT_FOUND', 'INTERNAL']) assert.equal(read(encodedReply(id, s)), s, `${id.length} characters, ${s}`);
    assert.equal(read(Buffer.from([1, 2, 3])), undefined);
    assert.equal(read(Buffer.from([0, 0, 0, 0, 7, 0xff, 0xff])), undefined, 'a cut varint');
  });

  it('keeps every family the hand-written text had, with the same names and labels', async () => {
    const registry = new Registry();
    registerCoordinatorGauges({ registry, coordinator: { status: () => status(), read: async (fn) => fn(view({})) } });
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_ready'), 1);
    assert.equal(sample(text, 'coord_snapshot_id'), 41);
    assert.equal(sample(text, 'coord_messages_applied_total'), 10);
    assert.equal(sample(text, 'coord_messages_rejected_total'), 2);
    assert.equal(sample(text, 'coord_passes_total'), 5);
    assert.equal(sample(text, 'coord_buffered_records'), 1);
    assert.equal(sample(text, 'coord_state_cached_images'), 7);
    assert.equal(sample(text, 'coord_dlq_records_total{code="WIRE_MALFORMED"}'), 2);
    assert.equal(sample(text, 'coord_outputs_set_aside_total{code="REPLY_TOPIC_MISSING"}'), 1);
    assert.equal(sample(text, 'coord_correlation_conflicts_total'), 1);
    assert.equal(sample(text, 'coord_replies_too_large_total'), 0);
    assert.equal(sample(text, 'coord_snapshot_markers_skipped_total'), 0);
    assert.equal(sample(text, 'coord_retries_total{what="publish"}'), 1);
    assert.equal(sample(text, 'coord_stalled{what="environment"}'), 0);
    assert.match(text, /# TYPE coord_passes_total counter/);
    assert.match(text, /# TYPE coord_stalled gauge/);
  });

  it('copies the counts the coordinator keeps at every scrape, so they only grow as it counts', async () => {
    const registry = new Registry();
    let s = status();
    registerCoordinatorGauges({ registry, coordinator: { status: () => s, read: async (fn) => fn(view({})) } });
    await registry.metrics();
    s = status({ passes: 9, problems: [{ kind: 'publish', sinceMs: 0, attempts: 3, error: 'broker away' }], role: 'standby' });
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_passes_total'), 9);
    assert.equal(sample(text, 'coord_stalled{what="publish"}'), 1);
    assert.equal(sample(text, 'coord_role{role="standby"}'), 1);
    assert.equal(sample(text, 'coord_role{role="active"}'), 0);
  });

  it('counts workers, queries, sessions and slots by state at the last snapshot, and the lag per partition', async () => {
    const registry = new Registry();
    const entities = {
      worker: [['w1', { state: 'ACTIVE' }], ['w2', { state: 'ACTIVE' }], ['w3', { state: 'DEAD' }]] as [string, Record<string, unknown>][],
      query: [['q', { state: 'RUNNING' }]] as [string, Record<string, unknown>][],
      allocation: [['a1', { cachedUntilMs: null }], ['a2', { cachedUntilMs: 5 }], ['a3', { cachedUntilMs: null }]] as [string, Record<string, unknown>][],
    };
    const inputs = [
      { topic: 'p.events.infra', partition: 0, next: 10n, end: 25n },
      { topic: 'p.requests.query', partition: 2, next: 4n, end: undefined },
    ];
    registerCoordinatorGauges({ registry, coordinator: { status: () => status(), read: async (fn) => fn(view(entities, inputs)) } });
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_workers{state="ACTIVE"}'), 2);
    assert.equal(sample(text, 'coord_workers{state="DEAD"}'), 1);
    assert.equal(sample(text, 'coord_workers{state="SUSPECT"}'), 0, 'every state is there, zero too');
    assert.equal(sample(text, 'coord_queries{state="RUNNING"}'), 1);
    assert.equal(sample(text, 'coord_sessions{state="OPEN"}'), 0);
    assert.equal(sample(text, 'coord_allocations{state="in_use"}'), 2);
    assert.equal(sample(text, 'coord_allocations{state="cached"}'), 1);
    assert.equal(sample(text, 'coord_input_lag_records{topic="p.events.infra",partition="0"}'), 15);
    assert.equal(sample(text, 'coord_input_lag_records{topic="p.requests.query",partition="2"}'), 0);
  });

  it('answers a scrape while the coordinator is busy catching up, with the last counts', async () => {
    const registry = new Registry();
    let busy = false;
    const read = <T>(fn: (v: CoordinatorView) => T): Promise<T> => (busy ? new Promise<T>(() => undefined) : Promise.resolve(fn(view({ worker: [['w1', { state: 'ACTIVE' }]] }))));
    registerCoordinatorGauges({ registry, coordinator: { status: () => status(), read }, readTimeoutMs: 50 });
    await registry.metrics();
    busy = true;
    await new Promise((r) => setTimeout(r, 300));
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_workers{state="ACTIVE"}'), 1);
  });

  it('observes passes: histograms with buckets, time per stage, replies by status but not DLQ copies', async () => {
    const registry = new Registry();
    const m = createEngineMetrics({ registry, dlqTopic: 'p.dlq', reply: REPLY });
    const reply = (status: string, topic = 'p.replies'): OutRecord => ({ topic, key: 'c', value: encodedReply('c', status), headers: { [H.correlationId]: 'c' } });
    const changelog: OutRecord = { topic: 'p.changelog', key: 'worker/w1', value: Buffer.from([0, 0, 0, 0, 1, 2]), headers: {} };
    m.passed(pass('o/1', [reply('OK'), reply('OK', 'p.replies.mine'), reply('NOT_FOUND'), reply('OK', 'p.dlq'), changelog]), 40);
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_replies_total{status="OK"}'), 2);
    assert.equal(sample(text, 'coord_replies_total{status="NOT_FOUND"}'), 1);
    assert.equal(sample(text, 'coord_replies_total{status="CONFLICT"}'), 0);
    assert.equal(sample(text, 'coord_pass_duration_seconds_bucket{le="0.01"}'), 0);
    assert.equal(sample(text, 'coord_pass_duration_seconds_bucket{le="0.025"}'), 1);
    assert.equal(sample(text, 'coord_batch_records_sum'), 40);
    assert.equal(sample(text, 'coord_store_commit_seconds_sum'), 0.006);
    assert.equal(sample(text, 'coord_pass_stage_seconds_total{stage="decide"}'), 0.002);
    assert.equal(sample(text, 'coord_outbox_records'), 5);
  });

  it('follows the outbox from commit to publication, and says how old a snapshot was when it went out', async () => {
    const registry = new Registry();
    const m = createEngineMetrics({ registry, dlqTopic: 'p.dlq', reply: REPLY });
    const some = (n: number): OutRecord[] => Array.from({ length: n }, () => ({ topic: 'p.snapshots', key: null, value: Buffer.alloc(1), headers: {} }));
    m.passed(pass('o/1', some(2)), 1);
    m.passed(pass('o/2', some(3)), 1);
    let text = await registry.metrics();
    assert.equal(sample(text, 'coord_outbox_snapshots'), 2);
    assert.equal(sample(text, 'coord_outbox_records'), 5);
    assert.ok((sample(text, 'coord_outbox_oldest_age_seconds') ?? -1) >= 0);
    m.published(['o/1', 'o/left-by-an-earlier-run'], 0.02);
    text = await registry.metrics();
    assert.equal(sample(text, 'coord_outbox_records'), 3);
    assert.equal(sample(text, 'coord_publish_duration_seconds_count'), 1);
    assert.equal(sample(text, 'coord_snapshot_age_at_publish_seconds_count'), 1, 'only the outbox it saw committed has an age');
    m.published(['o/2'], 0.01);
    text = await registry.metrics();
    assert.equal(sample(text, 'coord_outbox_snapshots'), 0);
    assert.equal(sample(text, 'coord_outbox_oldest_age_seconds'), 0);
  });

  it('counts a takeover only for an activation after an earlier generation', async () => {
    const registry = new Registry();
    const m = createEngineMetrics({ registry, dlqTopic: 'p.dlq', reply: REPLY });
    m.activated(1);
    m.activated(2);
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_activations_total'), 2);
    assert.equal(sample(text, 'coord_takeovers_total'), 1);
  });

  it('keeps two coordinators in one process apart, and writes nothing to the global registry', async () => {
    const a = new Registry();
    const b = new Registry();
    createEngineMetrics({ registry: a, dlqTopic: 'a.dlq', reply: REPLY }).activated(2);
    createEngineMetrics({ registry: b, dlqTopic: 'b.dlq', reply: REPLY });
    registerCoordinatorGauges({ registry: a, coordinator: { status: () => status(), read: async (fn) => fn(view({})) } });
    registerCoordinatorGauges({ registry: b, coordinator: { status: () => status({ passes: 1 }), read: async (fn) => fn(view({})) } });
    assert.equal(sample(await a.metrics(), 'coord_takeovers_total'), 1);
    assert.equal(sample(await b.metrics(), 'coord_takeovers_total'), 0);
    assert.equal(sample(await b.metrics(), 'coord_passes_total'), 1);
    assert.equal(globalRegistry.getMetricsAsArray().filter((x) => (x as unknown as { name: string }).name.startsWith('coord_')).length, 0);
  });
});

describe("metrics: the store's compactions", () => {
  it('shows what RocksDB owes as the store reports it, and NaN, never 0, when the store cannot say', async () => {
    const owing = new Registry();
    registerStoreGauges({ registry: owing, store: { compactionDebt: async () => ({ pendingBytes: 7_340_032, running: 1 }) } });
    const text = await owing.metrics();
    assert.equal(sample(text, 'coord_store_pending_compaction_bytes'), 7_340_032);
    assert.equal(sample(text, 'coord_store_running_compactions'), 1);
    const failing = new Registry();
    registerStoreGauges({ registry: failing, store: { compactionDebt: () => Promise.reject(new Error('store is closed')) } });
    const none = await failing.metrics();
    assert.match(none, /^coord_store_pending_compaction_bytes NaN$/im);
    assert.match(none, /^coord_store_running_compactions NaN$/im);
  });
});

describe('metrics: the client in the registry its application passes in', () => {
  it('counts asks in flight, their latency by outcome, dropped replies and backpressure waits', async () => {
    const registry = new Registry();
    const m = createClientMetrics(registry, 'frontend');
    const ask = m.askStarted();
    assert.equal(sample(await registry.metrics(), 'coord_client_asks_in_flight{client="frontend"}'), 1);
    ask.ended('OK');
    ask.ended('OK');
    m.askStarted().ended('TIMEOUT');
    m.dropped();
    m.waited('lag', 0.5);
    m.places(3);
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_client_asks_in_flight{client="frontend"}'), 0, 'an ask settles once');
    assert.equal(sample(text, 'coord_client_ask_duration_seconds_count{client="frontend",outcome="OK"}'), 1);
    assert.equal(sample(text, 'coord_client_ask_duration_seconds_count{client="frontend",outcome="TIMEOUT"}'), 1);
    assert.equal(sample(text, 'coord_client_replies_dropped_total{client="frontend"}'), 1);
    assert.equal(sample(text, 'coord_client_backpressure_waits_total{client="frontend",reason="lag"}'), 1);
    assert.equal(sample(text, 'coord_client_backpressure_wait_seconds_total{client="frontend",reason="lag"}'), 0.5);
    assert.equal(sample(text, 'coord_client_in_flight{client="frontend"}'), 3);
  });

  it('lets two clients share one registry, told apart by name', async () => {
    const registry = new Registry();
    createClientMetrics(registry, 'a').dropped();
    createClientMetrics(registry, 'b');
    const text = await registry.metrics();
    assert.equal(sample(text, 'coord_client_replies_dropped_total{client="a"}'), 1);
    assert.equal(sample(text, 'coord_client_replies_dropped_total{client="b"}'), 0);
  });
});
