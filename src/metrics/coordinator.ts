/**
 * The coordinator's Prometheus metrics, in a registry the process creates and passes in: what
 * the engine reports as it works (passes, publications, activations), and what a scrape reads
 * from the coordinator's status and state (troubles, lag, workers, queries, allocations).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Coordinator, CoordinatorStatus, CoordinatorView, EngineObserver } from '../engine/coordinator';
import type { PassResult } from '../engine/pass';
import { within } from '../engine/health';
import { H } from '../messaging/headers';
import type { Contract } from '../messaging/schemas';
import { ALLOCATION, QUERY, SESSION, WORKER, type QueryState, type SessionState, type WorkerState } from '../../projections/model';
import type { Entity, Image } from '../../projections/types';
import { replyStatuses, replyStatusReader } from './reply-status';

const WORKER_STATES: readonly WorkerState[] = ['ACTIVE', 'SUSPECT', 'DRAINING', 'DEAD', 'DEREGISTERED'];
const QUERY_STATES: readonly QueryState[] = ['CREATED', 'DEPLOYING', 'RUNNING', 'STOPPING', 'STOPPED', 'FAILED'];
const SESSION_STATES: readonly SessionState[] = ['OPEN', 'CLOSED', 'EXPIRED'];
const ROLES: readonly CoordinatorStatus['role'][] = ['joining', 'standby', 'activating', 'active'];
const TROUBLES = ['publish', 'store', 'registry', 'consumer', 'environment'] as const;
const STAGES = ['decode', 'decide', 'changes', 'commit'] as const;

/** Seconds, from half a millisecond (a small pass) to ten seconds (a broker away). */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Records in a batch, up to the largest batchSize worth allowing. */
const RECORDS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000];
/** Committed snapshots waiting for publication that the outbox gauges track; past it the oldest are forgotten (the fold waits long before). */
const MAX_TRACKED = 100_000;

/**
 * What the engine reports, observed where it happens: the timings of every pass and
 * publication, the replies by status, the outbox between commit and publication, activations.
 */
export const createEngineMetrics = (deps: { readonly registry: Registry; readonly dlqTopic: string; readonly reply: Contract }): EngineObserver => {
  const registers = [deps.registry];
  const statusOf = replyStatusReader(deps.reply);
  const passSeconds = new Histogram({ name: 'coord_pass_duration_seconds', help: 'Time of a pass, from decoding its records to the end of its store write.', buckets: SECONDS, registers });
  const batchRecords = new Histogram({ name: 'coord_batch_records', help: 'Input records folded by a pass.', buckets: RECORDS, registers });
  const commitSeconds = new Histogram({ name: 'coord_store_commit_seconds', help: "Time of a pass's one RocksDB write batch (state, offsets, marker, outbox).", buckets: SECONDS, registers });
  const stageSeconds = new Counter({ name: 'coord_pass_stage_seconds_total', help: 'Time spent by passes in each stage: decode, decide, changes (state, history, changelog, marker), commit (the store write).', labelNames: ['stage'], registers });
  const publishSeconds = new Histogram({ name: 'coord_publish_duration_seconds', help: 'Time of one publication: a transaction carrying the outboxes of one or more snapshots.', buckets: SECONDS, registers });
  const publishedAge = new Histogram({ name: 'coord_snapshot_age_at_publish_seconds', help: 'Time from the commit of a snapshot to the end of the publication of its outputs.', buckets: SECONDS, registers });
  const replies = new Counter({ name: 'coord_replies_total', help: 'Replies committed by passes, by status (a retry answered again counts again).', labelNames: ['status'], registers });
  const takeovers = new Counter({ name: 'coord_takeovers_total', help: 'Activations of this instance after an earlier generation: a takeover from another instance, or its own restart.', registers });
  const activations = new Counter({ name: 'coord_activations_total', help: 'Times this instance became the active one.', registers });

  for (const stage of STAGES) stageSeconds.inc({ stage }, 0);
  for (const status of replyStatuses(deps.reply)) replies.inc({ status }, 0);

  /** Committed snapshots not yet published: their records and the wall time of their commit, in commit order. */
  const waiting = new Map<string, { records: number; at: number }>();
  new Gauge({
    name: 'coord_outbox_snapshots',
    help: 'Committed snapshots whose outputs wait for publication.',
    registers,
    collect() {
      this.set(waiting.size);
    },
  });
  new Gauge({
    name: 'coord_outbox_records',
    help: 'Output records committed and waiting for publication.',
    registers,
    collect() {
      let n = 0;
      for (const w of waiting.values()) n += w.records;
      this.set(n);
    },
  });
  new Gauge({
    name: 'coord_outbox_oldest_age_seconds',
    help: 'Age of the oldest committed snapshot whose outputs wait for publication (0 when none waits).',
    registers,
    collect() {
      const oldest = waiting.values().next();
      this.set(oldest.done === true ? 0 : (performance.now() - oldest.value.at) / 1_000);
    },
  });

  return {
    passed: (result: PassResult, records: number) => {
      const { decodeMs, decideMs, changesMs, commitMs = 0 } = result.stages;
      passSeconds.observe((decodeMs + decideMs + changesMs + commitMs) / 1_000);
      commitSeconds.observe(commitMs / 1_000);
      batchRecords.observe(records);
      stageSeconds.inc({ stage: 'decode' }, decodeMs / 1_000);
      stageSeconds.inc({ stage: 'decide' }, decideMs / 1_000);
      stageSeconds.inc({ stage: 'changes' }, changesMs / 1_000);
      stageSeconds.inc({ stage: 'commit' }, commitMs / 1_000);
      for (const r of result.outbox.records) {
        // A reply carries its correlation id; a DLQ copy of a request carries it too, among the original headers.
        if (r.topic === deps.dlqTopic || r.headers[H.correlationId] === undefined || r.value === null) continue;
        const status = statusOf(r.value);
        if (status !== undefined) replies.inc({ status });
      }
      if (waiting.size >= MAX_TRACKED) waiting.delete(waiting.keys().next().value as string);
      waiting.set(result.outbox.key, { records: result.outbox.records.length, at: performance.now() });
    },
    published: (keys: readonly string[], seconds: number) => {
      publishSeconds.observe(seconds);
      const now = performance.now();
      for (const key of keys) {
        const w = waiting.get(key);
        // An outbox left by an earlier run was committed before this process started: its age is unknown.
        if (w === undefined) continue;
        publishedAge.observe((now - w.at) / 1_000);
        waiting.delete(key);
      }
    },
    activated: (generation: number) => {
      activations.inc();
      if (generation > 1) takeovers.inc();
    },
  };
};

/** Counts of the domain at the last committed snapshot, for the scrape-time gauges. */
export interface DomainCounts {
  readonly workers: Readonly<Record<string, number>>;
  readonly queries: Readonly<Record<string, number>>;
  readonly sessions: Readonly<Record<string, number>>;
  readonly allocations: { readonly inUse: number; readonly cached: number };
  readonly inputs: readonly { readonly topic: string; readonly partition: number; readonly lag: number }[];
}

const countBy = (states: readonly string[], values: readonly string[]): Record<string, number> => {
  const counts: Record<string, number> = Object.fromEntries(states.map((s) => [s, 0]));
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
};

const statesOf = <I extends Image & { readonly state: string }>(view: CoordinatorView, entity: Entity<I>): string[] => view.list(entity).map(([, image]) => image.state);

export const domainCounts = (view: CoordinatorView): DomainCounts => {
  const allocations = view.list(ALLOCATION).map(([, image]) => image);
  const cached = allocations.filter((a) => a.cachedUntilMs !== null).length;
  return {
    workers: countBy(WORKER_STATES, statesOf(view, WORKER)),
    queries: countBy(QUERY_STATES, statesOf(view, QUERY)),
    sessions: countBy(SESSION_STATES, statesOf(view, SESSION)),
    allocations: { inUse: allocations.length - cached, cached },
    inputs: view.inputs.map((i) => ({ topic: i.topic, partition: i.partition, lag: i.end === undefined || i.end <= i.next ? 0 : Number(i.end - i.next) })),
  };
};


/**
 * The families read at scrape time: the coordinator's status (the counts it keeps since start,
 * its troubles, its role) and, read between passes, the domain at the last committed snapshot.
 */
export const registerCoordinatorGauges = (deps: { readonly registry: Registry; readonly coordinator: Pick<Coordinator, 'status' | 'read'>; readonly readTimeoutMs?: number }): void => {
  const registers = [deps.registry];
  const status = (): CoordinatorStatus => deps.coordinator.status();

  // One read of the state serves every family of a scrape (prom-client collects them side by side).
  let last: DomainCounts | undefined;
  let pending: { at: number; counts: Promise<DomainCounts | undefined> } | undefined;
  const domain = async (): Promise<DomainCounts | undefined> => {
    const now = performance.now();
    if (pending === undefined || now - pending.at > 250) pending = { at: now, counts: within(deps.readTimeoutMs ?? 2_000, deps.coordinator.read(domainCounts)) };
    last = (await pending.counts) ?? last;
    return last;
  };

  const gauge = (name: string, help: string, read: (s: CoordinatorStatus) => number): void =>
    void new Gauge({ name, help, registers, collect() {
      this.set(read(status()));
    } });
  /** A counter whose count the coordinator keeps: the scrape copies it. */
  const counter = (name: string, help: string, labelName: string | undefined, read: (s: CoordinatorStatus) => number | Readonly<Record<string, number>>): void =>
    void new Counter({ name, help, labelNames: labelName === undefined ? [] : [labelName], registers, collect() {
      const v = read(status());
      this.reset();
      if (typeof v === 'number') this.inc(v);
      else for (const [label, n] of Object.entries(v)) this.inc({ [labelName as string]: label }, n);
    } });

  gauge('coord_ready', '1 when the coordinator consumes its input.', (s) => (s.ready ? 1 : 0));
  gauge('coord_snapshot_id', 'Id of the last committed snapshot.', (s) => Number(s.snapshotId));
  gauge('coord_generation', 'The generation this instance publishes under while active (0 before its first activation).', (s) => s.generation);
  gauge('coord_buffered_records', 'Records fetched and waiting for a pass.', (s) => s.buffered);
  gauge('coord_state_cached_images', 'Images of the entities read through RocksDB (logical sources, sinks) held in memory; at most stateCacheEntries between passes.', (s) => s.cachedImages);
  gauge('coord_standby_following', '1 while this instance, a standby, folds the snapshots the active one publishes; 0 when it does not (active, or its following failed: see /status).', (s) => (s.following.state === 'following' ? 1 : 0));
  gauge('coord_standby_behind_snapshots', 'Snapshots the active one published that this standby has read but not folded yet.', (s) => s.following.behind);
  counter('coord_messages_applied_total', 'Input messages decided by a projection.', undefined, (s) => s.applied);
  counter('coord_messages_rejected_total', 'Input messages sent to the DLQ.', undefined, (s) => s.rejected);
  counter('coord_passes_total', 'Passes committed.', undefined, (s) => s.passes);
  counter('coord_dlq_records_total', 'Input records sent to the DLQ by a pass, by reason code.', 'code', (s) => s.refusals.dlq);
  counter('coord_outputs_set_aside_total', 'Outputs that could never be published, replaced by a notice in the DLQ, by reason code.', 'code', (s) => s.refusals.setAside);
  counter('coord_correlation_conflicts_total', 'Requests that reused a correlation id for another request (answered CONFLICT).', undefined, (s) => s.refusals.conflicts);
  counter('coord_replies_too_large_total', 'Replies over maxValueBytes, answered RESOURCE_EXHAUSTED instead.', undefined, (s) => s.refusals.repliesTooLarge);
  counter('coord_snapshot_markers_skipped_total', 'Records on the snapshots topic skipped at a takeover: undecodable, without a generation, or not continuing the chain.', undefined, (s) => s.refusals.markersSkipped);
  counter('coord_retries_total', 'Failed attempts retried, by what failed (publish, store, registry, consumer, environment, settings, activation).', 'what', (s) => s.retries);
  new Gauge({
    name: 'coord_stalled',
    help: '1 while a trouble has been retried for longer than stallThresholdMs (then /readyz is 503), by what.',
    labelNames: ['what'],
    registers,
    collect() {
      const problems = status().problems;
      for (const what of TROUBLES) this.set({ what }, problems.some((p) => p.kind === what) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'coord_role',
    help: '1 for the role this instance has now: joining, standby, activating or active.',
    labelNames: ['role'],
    registers,
    collect() {
      const role = status().role;
      for (const r of ROLES) this.set({ role: r }, r === role ? 1 : 0);
    },
  });

  const byState = (name: string, help: string, pick: (d: DomainCounts) => Readonly<Record<string, number>>): void =>
    void new Gauge({ name, help, labelNames: ['state'], registers, async collect() {
      const d = await domain();
      if (d !== undefined) for (const [state, n] of Object.entries(pick(d))) this.set({ state }, n);
    } });
  byState('coord_workers', 'Workers by state at the last committed snapshot.', (d) => d.workers);
  byState('coord_queries', 'Queries by state at the last committed snapshot.', (d) => d.queries);
  byState('coord_sessions', 'Client sessions by state at the last committed snapshot.', (d) => d.sessions);
  byState('coord_allocations', 'Worker slots held: in_use by a fragment, or cached for a session.', (d) => ({ in_use: d.allocations.inUse, cached: d.allocations.cached }));
  new Gauge({
    name: 'coord_input_lag_records',
    help: 'Records on an input partition not folded yet: the log end last fetched minus the next offset to fold.',
    labelNames: ['topic', 'partition'],
    registers,
    async collect() {
      const d = await domain();
      if (d === undefined) return;
      // Partitions this instance no longer folds (a standby) must not keep their last lag.
      this.reset();
      for (const i of d.inputs) this.set({ topic: i.topic, partition: String(i.partition) }, i.lag);
    },
  });
};
