/**
 * The live console's data: one model of the deployment built from the coordinator's state at
 * its last committed snapshot, a few minutes of rates for the small charts, and the
 * Server-Sent Events stream that pushes both to every open page once a second.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VIEW_ROWS, type Coordinator, type CoordinatorStatus, type CoordinatorView } from '../engine/coordinator';
import { within } from '../engine/health';
import { compactionFrontier } from '../../projections/reads';
import { LOGICAL_BITS } from '../../projections/system/hybrid';
import type { StateView } from '../../projections/types';
import {
  ALLOCATION,
  LOGICAL_SOURCE,
  PHYSICAL_SOURCE,
  QUERY,
  READ_HOLD,
  SESSION,
  SINK,
  WORKER,
  type AllocationImage,
  type LogicalSourceImage,
  type PhysicalSourceImage,
  type QueryImage,
  type ReadHoldImage,
  type SessionImage,
  type SinkImage,
  type WorkerImage,
} from '../../projections/model';

export interface ConsoleSample {
  /** Wall time of the sample, ms. */
  readonly atMs: number;
  /** Snapshots committed per second since the sample before. */
  readonly snapshotRate: number;
  /** Input records on the log not folded yet. */
  readonly lag: number;
  /** Records refused to the DLQ or set aside, per second since the sample before. */
  readonly dlqRate: number;
}

export interface ConsoleModel {
  readonly coordinator: {
    readonly role: CoordinatorStatus['role'];
    readonly ready: boolean;
    readonly generation: number;
    readonly snapshotId: string;
    readonly snapshotTs: string;
    /** Log time of the snapshot, ms. */
    readonly logTimeMs: number;
    readonly problems: readonly { readonly kind: string; readonly sinceMs: number; readonly error: string }[];
  };
  readonly workers: readonly {
    readonly id: string;
    readonly state: string;
    readonly host: string;
    readonly slots: number;
    readonly inUse: number;
    readonly cached: number;
    readonly capabilities: readonly string[];
    readonly lastHeartbeatMs: number;
  }[];
  readonly queries: readonly {
    readonly name: string;
    readonly state: string;
    readonly session: string | null;
    readonly temporary: boolean;
    readonly sources: readonly string[];
    readonly sink: string;
    readonly reason: string;
    readonly fragments: readonly { readonly id: string; readonly kind: string; readonly workerId: string; readonly status: string }[];
  }[];
  readonly sessions: readonly {
    readonly id: string;
    readonly client: string;
    readonly state: string;
    readonly lastHeartbeatMs: number;
    readonly inUse: number;
    readonly cached: readonly { readonly allocationId: string; readonly workerId: string; readonly untilMs: number | null }[];
  }[];
  readonly catalog: {
    readonly logicalSources: readonly { readonly name: string; readonly fields: readonly string[] }[];
    readonly physicalSources: readonly { readonly name: string; readonly logicalSource: string; readonly workerId: string; readonly connector: string; readonly available: boolean }[];
    readonly sinks: readonly { readonly name: string; readonly type: string }[];
  };
  readonly holds: readonly { readonly name: string; readonly ts: string; readonly expiresAtMs: number }[];
  /**
   * How many of each there are: a table shows at most MAX_ROWS of them. Logical sources and sinks
   * are read through RocksDB, and counted no further than MAX_ROWS + 1: `more` says when there are more.
   */
  readonly totals: Readonly<Record<'workers' | 'queries' | 'sessions' | 'logicalSources' | 'physicalSources' | 'sinks' | 'holds', number>>;
  /** Whether there are more logical sources, or sinks, than `totals` counted. */
  readonly more: { readonly logicalSources: boolean; readonly sinks: boolean };
  /** The oldest hybrid timestamp still readable `asOf`. */
  readonly frontierTs: string;
  readonly series: readonly ConsoleSample[];
}

/** Rows a table shows at most, so a large deployment costs a page (and each push) a bounded size. */
export const MAX_ROWS = 500;

/** The named fields of an image, as a row shows them. */
const pick = <T, K extends keyof T>(image: T, ...keys: K[]): Pick<T, K> => Object.fromEntries(keys.map((k) => [k, image[k]])) as Pick<T, K>;

/** What one worker or session holds: its allocations in use, and those kept cached for reuse. */
interface Held {
  readonly inUse: number;
  readonly cached: readonly AllocationImage[];
}
const NOTHING_HELD: Held = { inUse: 0, cached: [] };

/** A worker's row counts its cached allocations. */
const heldCounts = (held: Held): Pick<ConsoleModel['workers'][number], 'inUse' | 'cached'> => ({ inUse: held.inUse, cached: held.cached.length });

/** A session's row lists its first 64 cached allocations, where each is kept and until when. */
const heldListed = (held: Held): Pick<ConsoleModel['sessions'][number], 'inUse' | 'cached'> => ({
  inUse: held.inUse,
  cached: held.cached.slice(0, 64).map((a) => ({ allocationId: a.allocationId, workerId: a.workerId, untilMs: a.cachedUntilMs })),
});

const all = <T>(view: CoordinatorView, entity: string): T[] => view.list(entity).map(([, image]) => image as unknown as T);

/** The part of the model the state gives, read between passes (see Coordinator.read). */
export const stateModel = (view: CoordinatorView): Omit<ConsoleModel, 'coordinator' | 'series'> & { readonly logTimeMs: number } => {
  const allocations = all<AllocationImage>(view, ALLOCATION);
  /** Each holder's allocations (a worker's, a session's): how many are in use, and those kept cached for reuse. */
  const heldBy = (holder: (a: AllocationImage) => string | null): ((key: string) => Held) => {
    const m = new Map<string, { inUse: number; cached: AllocationImage[] }>();
    for (const a of allocations) {
      const k = holder(a);
      if (k === null) continue;
      const held = m.get(k) ?? { inUse: 0, cached: [] };
      if (a.cachedUntilMs === null) held.inUse += 1;
      else held.cached.push(a);
      m.set(k, held);
    }
    return (key) => m.get(key) ?? NOTHING_HELD;
  };
  const byWorker = heldBy((a) => a.workerId);
  const bySession = heldBy((a) => a.session);
  const state: StateView = { get: view.get, list: view.list, getAt: () => undefined, listAt: () => [] };
  const workers = all<WorkerImage>(view, WORKER);
  const queries = all<QueryImage>(view, QUERY);
  const sessions = all<SessionImage>(view, SESSION);
  const logicalSources = all<LogicalSourceImage>(view, LOGICAL_SOURCE);
  const physicalSources = all<PhysicalSourceImage>(view, PHYSICAL_SOURCE);
  const sinks = all<SinkImage>(view, SINK);
  const holds = all<ReadHoldImage>(view, READ_HOLD);
  const rows = <T>(xs: readonly T[]): readonly T[] => (xs.length > MAX_ROWS ? xs.slice(0, MAX_ROWS) : xs);
  return {
    logTimeMs: view.snapshot.logTimeMs,
    // The view lists at most VIEW_ROWS (MAX_ROWS + 1) of an entity read through the store.
    more: { logicalSources: logicalSources.length >= VIEW_ROWS, sinks: sinks.length >= VIEW_ROWS },
    totals: {
      workers: workers.length,
      queries: queries.length,
      sessions: sessions.length,
      logicalSources: logicalSources.length,
      physicalSources: physicalSources.length,
      sinks: sinks.length,
      holds: holds.length,
    },
    workers: rows(workers).map((w) => ({ id: w.workerId, ...pick(w, 'state', 'host', 'slots', 'capabilities', 'lastHeartbeatMs'), ...heldCounts(byWorker(w.workerId)) })),
    queries: rows(queries).map((q) => ({
      name: q.name,
      state: q.state,
      session: q.session,
      temporary: q.temporary,
      sources: q.sources,
      sink: q.sink,
      reason: q.reason,
      fragments: q.fragments.map((f) => ({ id: f.fragmentId, kind: f.kind, workerId: f.workerId, status: f.status })),
    })),
    sessions: rows(sessions).map((s) => ({ id: s.sessionId, ...pick(s, 'client', 'state', 'lastHeartbeatMs'), ...heldListed(bySession(s.sessionId)) })),
    catalog: {
      logicalSources: rows(logicalSources).map((l) => ({ name: l.name, fields: l.fields.map((f) => `${f.name}:${f.type}`) })),
      physicalSources: rows(physicalSources).map((p) => ({
        name: p.name,
        logicalSource: p.logicalSource,
        workerId: p.workerId,
        connector: p.connectorType,
        available: p.available,
      })),
      sinks: rows(sinks).map((s) => ({ name: s.name, type: s.type })),
    },
    holds: rows(holds).map((h) => ({ name: h.name, ts: h.ts, expiresAtMs: h.expiresAtMs })),
    frontierTs: compactionFrontier(state, view.snapshot.logTimeMs).toString(),
  };
};

/** Input records on the log not folded yet, over every partition this instance folds. */
export const lagOf = (view: CoordinatorView): number => view.inputs.reduce((n, i) => n + (i.end !== undefined && i.end > i.next ? Number(i.end - i.next) : 0), 0);

/** Wall time in ms of a hybrid timestamp. */
export const hybridMs = (ts: string): number => Number(BigInt(ts) >> LOGICAL_BITS);

const refused = (s: CoordinatorStatus): number => [...Object.values(s.refusals.dlq), ...Object.values(s.refusals.setAside)].reduce((a, b) => a + b, 0);


export interface ConsoleFeed {
  /** Serves one Server-Sent Events stream until the page goes away or the feed closes. */
  attach(req: IncomingMessage, res: ServerResponse): void;
  /** The model now (what the next push sends). */
  current(): Promise<ConsoleModel>;
  readonly clients: number;
  /** Ends every stream and stops sampling. */
  close(): void;
}

export interface ConsoleFeedOptions {
  readonly coordinator: Pick<Coordinator, 'status' | 'read'>;
  /** How often the feed samples and pushes. */
  readonly intervalMs?: number;
  /** Samples kept for the charts. */
  readonly historyPoints?: number;
  /** Pages open at once; more are refused. */
  readonly maxClients?: number;
  /** Longest a sample waits for the coordinator between passes. */
  readonly readTimeoutMs?: number;
}

export const createConsoleFeed = (o: ConsoleFeedOptions): ConsoleFeed => {
  const intervalMs = o.intervalMs ?? 1_000;
  const historyPoints = o.historyPoints ?? 300;
  const maxClients = o.maxClients ?? 32;
  const readTimeoutMs = o.readTimeoutMs ?? 2_000;
  const clients = new Set<ServerResponse>();
  /** Streams whose socket is full: they skip pushes until it drains, so a slow page costs no memory. */
  const backedUp = new WeakSet<ServerResponse>();
  const series: ConsoleSample[] = [];
  let previous: { atMs: number; snapshotId: bigint; refused: number } | undefined;
  let lastState: ReturnType<typeof stateModel> | undefined;
  let lastLag = 0;

  const coordinatorPart = (s: CoordinatorStatus, logTimeMs: number): ConsoleModel['coordinator'] => ({
    role: s.role,
    ready: s.ready,
    generation: s.generation,
    snapshotId: s.snapshotId,
    snapshotTs: s.snapshotTs,
    logTimeMs,
    problems: s.problems.map((p) => ({ kind: p.kind, sinceMs: p.sinceMs, error: p.error })),
  });

  const empty = (): ReturnType<typeof stateModel> => ({
    logTimeMs: 0,
    workers: [],
    queries: [],
    sessions: [],
    catalog: { logicalSources: [], physicalSources: [], sinks: [] },
    more: { logicalSources: false, sinks: false },
    holds: [],
    totals: { workers: 0, queries: 0, sessions: 0, logicalSources: 0, physicalSources: 0, sinks: 0, holds: 0 },
    frontierTs: '0',
  });

  const model = (s: CoordinatorStatus): ConsoleModel => {
    const { logTimeMs, ...rest } = lastState ?? empty();
    return { coordinator: coordinatorPart(s, logTimeMs), ...rest, series };
  };

  /** One sample: the rates since the last one, and (while a page is open) the state for the model. */
  const sample = async (): Promise<void> => {
    const read = await within(
      readTimeoutMs,
      o.coordinator.read((view) => ({ lag: lagOf(view), state: clients.size > 0 || lastState === undefined ? stateModel(view) : undefined })),
    );
    const s = o.coordinator.status();
    if (read !== undefined) {
      lastLag = read.lag;
      if (read.state !== undefined) lastState = read.state;
    }
    const now = Date.now();
    const snapshotId = BigInt(s.snapshotId);
    const total = refused(s);
    if (previous !== undefined && now > previous.atMs) {
      const seconds = (now - previous.atMs) / 1_000;
      series.push({
        atMs: now,
        snapshotRate: Math.max(0, Number(snapshotId - previous.snapshotId)) / seconds,
        lag: lastLag,
        dlqRate: Math.max(0, total - previous.refused) / seconds,
      });
      if (series.length > historyPoints) series.splice(0, series.length - historyPoints);
    }
    previous = { atMs: now, snapshotId, refused: total };
  };

  const push = (res: ServerResponse, m: ConsoleModel): void => {
    if (backedUp.has(res)) return;
    if (!res.write(`event: state\ndata: ${JSON.stringify(m)}\n\n`)) {
      backedUp.add(res);
      res.once('drain', () => backedUp.delete(res));
    }
  };

  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void sample()
      .then(() => {
        if (clients.size === 0) return;
        const m = model(o.coordinator.status());
        for (const res of clients) push(res, m);
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, intervalMs);
  timer.unref();

  return {
    attach: (req, res) => {
      if (clients.size >= maxClients) {
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: `${maxClients} console pages are open already; close one` }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.write('retry: 2000\n\n');
      clients.add(res);
      req.socket.setNoDelay(true);
      const gone = (): void => void clients.delete(res);
      req.once('close', gone);
      res.once('close', gone);
      // The page shows something at once; the read is fresh when it was never made or no page was open.
      void (async () => {
        if (lastState === undefined || clients.size === 1) {
          const state = await within(readTimeoutMs, o.coordinator.read(stateModel));
          if (state !== undefined) lastState = state;
        }
        if (clients.has(res)) push(res, model(o.coordinator.status()));
      })().catch(() => undefined);
    },
    current: async () => {
      const state = await within(readTimeoutMs, o.coordinator.read(stateModel));
      if (state !== undefined) lastState = state;
      return model(o.coordinator.status());
    },
    get clients() {
      return clients.size;
    },
    close: () => {
      clearInterval(timer);
      for (const res of clients) res.end();
      clients.clear();
    },
  };
};
