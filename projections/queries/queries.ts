/** The query requests: create, start, stop, drop, get, list; and the workers' fragment reports. */
import { Draft } from '../draft';
import {
  DEPLOY_TIMEOUT_MS,
  LIMITS,
  LOGICAL_SOURCE,
  nameProblem,
  QUERY,
  queryOf,
  sessionOf,
  settingsOf,
  shown,
  SINK,
  utf8Bytes,
  workerOf,
  type QueryImage,
} from '../model';
import type { CreateQuery, DropQuery, FragmentStatus, GetQuery, ListQueries, StartQuery, StopQuery } from '../protocol.gen';
import { getHandler, listHandler } from '../reads';
import { accept, reject, reply, unwrap, type Decision, type Handler } from '../types';
import { ownedBy } from '../owners';
import { deployCommand, fragmentReported, fragmentSettled, live, queryPayload, stopQuery } from './lifecycle';
import { place } from './placement';

/** The plan's references, or what is wrong with it. */
const parsePlan = (plan: string): { sources: string[]; sink: string } | string => {
  const bytes = utf8Bytes(plan);
  if (bytes > LIMITS.planBytes) return `the plan has ${bytes} bytes, more than the limit of ${LIMITS.planBytes}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(plan);
  } catch (err) {
    return `the plan is not JSON: ${(err as Error).message}`;
  }
  const p = parsed as { sources?: unknown; sink?: unknown } | null;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return 'the plan must be a JSON object with "sources" and "sink"';
  if (!Array.isArray(p.sources) || p.sources.length === 0 || !p.sources.every((s) => typeof s === 'string'))
    return 'the plan\'s "sources" must be a non-empty array of logical source names';
  if (typeof p.sink !== 'string') return 'the plan\'s "sink" must name a sink';
  return { sources: [...new Set(p.sources as string[])], sink: p.sink };
};

export const createQuery: Handler<CreateQuery> = {
  stage: 'queries',
  reads: (v) => {
    const refs = parsePlan(v.plan);
    return typeof refs === 'string' ? [] : [...refs.sources.map((s) => [LOGICAL_SOURCE, s] as const), [SINK, refs.sink] as const];
  },
  decide: (msg, state, ctx): Decision => {
    const { name, plan, temporary } = msg.value;
    const session = unwrap(msg.value.session);
    const bad = nameProblem('query', name);
    if (bad !== undefined) return reject('INVALID_ARGUMENT', bad);
    const refs = parsePlan(plan);
    if (typeof refs === 'string') return reject('INVALID_ARGUMENT', refs);
    if (temporary && session === null) return reject('INVALID_ARGUMENT', `temporary query ${name} needs an owner session: a temporary query goes when its session does`);
    if (queryOf(state, name) !== undefined) return reject('ALREADY_EXISTS', `query ${name} already exists`);
    const missing = refs.sources.filter((s) => state.get(LOGICAL_SOURCE, s) === undefined);
    if (missing.length > 0)
      return reject('NOT_FOUND', `query ${name} reads logical source ${shown(missing[0])}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}, which does not exist`);
    if (state.get(SINK, refs.sink) === undefined) return reject('NOT_FOUND', `query ${name} writes to sink ${shown(refs.sink)}, which does not exist`);
    if (session !== null && sessionOf(state, session)?.state !== 'OPEN') return reject('FAILED_PRECONDITION', `session ${shown(session)} is not open`);
    const image: QueryImage = {
      name,
      session,
      temporary,
      plan,
      sources: refs.sources,
      sink: refs.sink,
      state: 'CREATED',
      fragments: [],
      pending: null,
      deployBy: null,
      reason: '',
      reused: 0,
      createdAtTs: ctx.snapshotTs.toString(),
      ...ownedBy(msg),
    };
    return accept([{ entity: QUERY, key: name, image }], reply('OK', `created query ${name}`, queryPayload(image)));
  },
};

/**
 * A start places the fragments, sends DeployFragment to their workers and defers its reply
 * until every fragment reports RUNNING (OK), one FAILS or the deadline passes (ABORTED).
 */
export const startQuery: Handler<StartQuery> = {
  stage: 'queries',
  // A retry of a start still waiting is not refused for its deadline: the wait goes on, and the deadline is the check loop's.
  waiting: (msg, state) => {
    const q = queryOf(state, msg.value.name);
    return q?.state === 'DEPLOYING' && q.pending !== null && q.pending.correlationId === msg.correlationId;
  },
  decide: (msg, state, ctx): Decision => {
    const q = queryOf(state, msg.value.name);
    if (q === undefined) return reject('NOT_FOUND', `query ${shown(msg.value.name)} does not exist`);
    if (q.state === 'DEPLOYING' && q.pending !== null && q.pending.correlationId === msg.correlationId && msg.replyTo !== undefined)
      // The same start again before its answer: it keeps waiting, answered where it now listens.
      return accept([{ entity: QUERY, key: q.name, image: { ...q, pending: { ...q.pending, replyTo: msg.replyTo } } }]);
    // STOPPING may start again: the new fragments have new ids, so the old ones' last reports change nothing.
    if (live(q.state)) return reject('FAILED_PRECONDITION', `query ${q.name} is ${q.state}; stop it before starting it again`);
    if (q.session !== null && sessionOf(state, q.session)?.state !== 'OPEN') return reject('FAILED_PRECONDITION', `query ${q.name} belongs to session ${q.session}, which is not open`);
    const draft = new Draft(state);
    const placed = place(draft, q);
    if (!placed.ok) return reject(placed.status, placed.message);
    const deploying: QueryImage = {
      ...q,
      state: 'DEPLOYING',
      fragments: placed.fragments,
      reused: placed.reused,
      reason: '',
      // A client's deadline holds the slots and the reply at most maxDeadlineMs: 9e15 must not hold them forever.
      deployBy: msg.deadlineMs === undefined ? ctx.logTimeMs + DEPLOY_TIMEOUT_MS : Math.min(msg.deadlineMs, ctx.logTimeMs + settingsOf(state).maxDeadlineMs),
      pending:
        msg.correlationId === undefined || msg.replyTo === undefined
          ? null
          : { correlationId: msg.correlationId, replyTo: msg.replyTo, deadlineMs: msg.deadlineMs ?? null },
    };
    draft.put(QUERY, q.name, deploying);
    for (const f of placed.fragments) deployCommand(draft, deploying, f);
    return draft.decide(null);
  },
};

export const stopQueryHandler: Handler<StopQuery> = {
  stage: 'queries',
  decide: (msg, state, ctx): Decision => {
    const q = queryOf(state, msg.value.name);
    if (q === undefined) return reject('NOT_FOUND', `query ${shown(msg.value.name)} does not exist`);
    if (q.state === 'STOPPING' || q.state === 'STOPPED') return accept([], reply('OK', `query ${q.name} is already ${q.state}`, queryPayload(q)));
    if (!live(q.state)) return reject('FAILED_PRECONDITION', `query ${q.name} is ${q.state}, not running`);
    const draft = new Draft(state);
    const stopped = stopQuery(draft, q, 'StopQuery', ctx.logTimeMs, true);
    return draft.decide(reply('OK', `stopping query ${q.name}; its slots stay cached for its session`, queryPayload(stopped)));
  },
};

export const dropQuery: Handler<DropQuery> = {
  stage: 'queries',
  decide: (msg, state): Decision => {
    const q = queryOf(state, msg.value.name);
    if (q === undefined) return reject('NOT_FOUND', `query ${shown(msg.value.name)} does not exist`);
    if (live(q.state)) return reject('FAILED_PRECONDITION', `query ${q.name} is ${q.state}; stop it before dropping it`);
    return accept([{ entity: QUERY, key: q.name, image: null }], reply('OK', `dropped query ${q.name}`));
  },
};

export const getQuery: Handler<GetQuery> = getHandler('queries', QUERY, 'query', queryPayload);

export const listQueries: Handler<ListQueries> = listHandler('queries', QUERY, 'queries', 'coord.v1.QueryList', 'queries', queryPayload, (q: QueryImage, request: ListQueries) => {
  const session = unwrap(request.session);
  return session === null || q.session === session;
});

/** A worker's report on a fragment; reports from an older incarnation, or about fragments it does not run, change nothing. */
export const fragmentStatus: Handler<FragmentStatus> = {
  stage: 'infrastructure',
  decide: (msg, state, ctx): Decision => {
    const r = msg.value;
    const w = workerOf(state, r.workerId);
    if (w === undefined || w.incarnation !== r.incarnation) return accept([]);
    const q = queryOf(state, r.queryName);
    const f = q?.fragments.find((x) => x.fragmentId === r.fragmentId && x.workerId === r.workerId);
    const draft = new Draft(state);
    if (q === undefined || f === undefined) {
      // A worker runs something the coordinator does not know (a dropped query, a lost stop): tell it to stop.
      if (r.status === 'RUNNING') draft.command(r.workerId, 'coord.v1.StopFragment', { queryName: r.queryName, fragmentId: r.fragmentId });
      // The fragment of a query that was dropped meanwhile: its slot was waiting for this.
      else fragmentSettled(draft, r.workerId, r.fragmentId, ctx.logTimeMs);
      return draft.decide(null);
    }
    fragmentReported(draft, q, r.fragmentId, r.status, r.reason, ctx.logTimeMs);
    return draft.decide(null);
  },
};
