/**
 * The check loop (time and liveness, README "The domain, and its policies"): on every Tick, by the tick's log time and the settings in the
 * state (see system/settings.ts; a Tick written before settings became state still sets the
 * ones it carries, until an UpdateSettings has set them), silent workers become SUSPECT then DEAD (their fragments fail and their sources
 * become unavailable), silent sessions EXPIRED (their cached slots and temporary queries go),
 * workers and sessions gone for `goneRetentionMs` removed, idle cached slots released, overdue
 * deployments aborted, lapsed read holds dropped and the history compacted. One handler owns
 * the Tick, so every check sees the same instant.
 */
import { Draft } from './draft';
import { SETTINGS, settingsOf, settingsRevision, type Settings } from './model';
import { checkQueries, sessionGone, workerGone } from './queries/lifecycle';
import { compactionFrontier } from './reads';
import { expireSessions, goneSessions } from './sessions/sessions';
import { checkHolds } from './system/holds';
import { INT32_MAX, MAX_MS, SETTING_NAMES, type SettingName } from './system/settings';
import { unwrap, type Handler, type Projection } from './types';
import { checkWorkers, goneWorkers } from './workers/workers';

/** A Tick as decoded: the clock, and on Ticks written before settings became state, the settings (wrapped or bare). */
type Carried<T> = T | { readonly [branch: string]: T } | null | undefined;
export interface Tick {
  readonly tickMs: bigint;
  readonly workerSuspectMs?: Carried<bigint>;
  readonly workerTimeoutMs?: Carried<bigint>;
  readonly sessionTimeoutMs?: Carried<bigint>;
  readonly maxAllocations?: Carried<number>;
  readonly allocationIdleMs?: Carried<bigint>;
  readonly maxCachedAllocations?: Carried<number>;
  readonly historyRetentionMs?: Carried<bigint>;
  readonly maxValueBytes?: Carried<number>;
  readonly dedupeRetentionMs?: Carried<bigint>;
  readonly goneRetentionMs?: Carried<bigint>;
  readonly maxDeadlineMs?: Carried<bigint>;
  /** Never on a Tick: it came after settings became state. */
  readonly signaturesRequired?: undefined;
}

type LegacyTick = { readonly [N in SettingName]?: bigint | number };

/** The settings an old Tick carries, unwrapped; {} for a Tick that carries only the clock. */
const carried = (t: Tick): LegacyTick => {
  const out: Record<string, bigint | number> = {};
  for (const name of SETTING_NAMES) {
    const v = t[name];
    const bare = v !== null && typeof v === 'object' ? unwrap<bigint | number>(v as { readonly [branch: string]: bigint | number }) : v;
    if (bare !== null && bare !== undefined) out[name] = bare;
  }
  return out;
};


/**
 * A value a Tick carries, if it is within its bounds; otherwise the one in force stays. Anyone
 * who can write the ticks topic could otherwise set maxValueBytes to 0 (refusing every later
 * record, the correcting Tick too) or a negative retention (forgetting every reply).
 */
const within = (v: bigint | number | undefined, was: number, min: number, max: number): number => {
  if (v === undefined) return was;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : was;
};

const settingsFrom = (t: LegacyTick, was: Settings): Omit<Settings, 'frontierFloorTs'> => {
  const workerSuspectMs = within(t.workerSuspectMs, was.workerSuspectMs, 1, MAX_MS);
  const workerTimeoutMs = within(t.workerTimeoutMs, was.workerTimeoutMs, 1, MAX_MS);
  const maxDeadlineMs = within(t.maxDeadlineMs, was.maxDeadlineMs, 1_000, MAX_MS);
  return {
    // The two thresholds move together, so SUSPECT never comes after DEAD.
    workerSuspectMs: workerTimeoutMs >= workerSuspectMs ? workerSuspectMs : was.workerSuspectMs,
    workerTimeoutMs: workerTimeoutMs >= workerSuspectMs ? workerTimeoutMs : was.workerTimeoutMs,
    sessionTimeoutMs: within(t.sessionTimeoutMs, was.sessionTimeoutMs, 1, MAX_MS),
    maxAllocations: within(t.maxAllocations, was.maxAllocations, 0, INT32_MAX),
    allocationIdleMs: within(t.allocationIdleMs, was.allocationIdleMs, 0, MAX_MS),
    maxCachedAllocations: within(t.maxCachedAllocations, was.maxCachedAllocations, 0, INT32_MAX),
    historyRetentionMs: within(t.historyRetentionMs, was.historyRetentionMs, 0, MAX_MS),
    maxValueBytes: within(t.maxValueBytes, was.maxValueBytes, 1_024, INT32_MAX),
    // A reply is remembered at least as long as a deferred one may take to come.
    dedupeRetentionMs: within(t.dedupeRetentionMs, was.dedupeRetentionMs, maxDeadlineMs, MAX_MS),
    goneRetentionMs: within(t.goneRetentionMs, was.goneRetentionMs, 0, MAX_MS),
    maxDeadlineMs,
  };
};

export const tick: Handler<Tick> = {
  stage: 'infrastructure',
  decide: (msg, state, ctx) => {
    // The pass's log time, which never goes back, even if a later tick carries an earlier stamp.
    const now = ctx.logTimeMs;
    const draft = new Draft(state);
    const was = settingsOf(state);
    const legacy = carried(msg.value);
    // Old Ticks keep the meaning they had, so an old log replays to the same bytes; once a request set the settings, they are the log's.
    const next = Object.keys(legacy).length > 0 && settingsRevision(was) === undefined ? settingsFrom(legacy, was) : undefined;
    const { frontierFloorTs: _, ...current } = was;
    const settings: Settings =
      next === undefined || JSON.stringify(next) === JSON.stringify(current) ? was : ({ ...next, frontierFloorTs: compactionFrontier(state, now).toString() } as Settings);
    if (settings !== was) draft.put(SETTINGS, 'current', settings);
    for (const c of checkWorkers(draft, now, settings.workerSuspectMs, settings.workerTimeoutMs)) {
      draft.put(c.entity, c.key, c.image as never);
      if ((c.image as { state: string }).state === 'DEAD') workerGone(draft, c.key, 'DEAD', now);
    }
    for (const c of expireSessions(draft, now, settings.sessionTimeoutMs)) {
      draft.put(c.entity, c.key, c.image as never);
      sessionGone(draft, c.key, now);
    }
    // After the transitions above, so one tick with no retention declares and removes alike.
    for (const c of [...goneWorkers(draft, now, settings.goneRetentionMs), ...goneSessions(draft, now, settings.goneRetentionMs)]) draft.delete(c.entity, c.key);
    checkQueries(draft, now);
    checkHolds(draft, now);
    return draft.decide(null);
  },
};

export const liveness: Projection = { name: 'liveness', entities: [], handlers: { 'coord.v1.Tick': tick } };
