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
import type { Tick } from './protocol.gen';
import { checkQueries, sessionGone, workerGone } from './queries/lifecycle';
import { compactionFrontier } from './reads';
import { expireSessions, goneSessions } from './sessions/sessions';
import { checkHolds } from './system/holds';
import { INT32_MAX, MAX_MS, SETTING_NAMES, type SettingName } from './system/settings';
import { unwrap, type Handler, type HandlerMap, type Projection } from './types';
import { checkWorkers, goneWorkers } from './workers/workers';

type LegacyTick = { readonly [N in SettingName]?: bigint | number };

/** The settings a Tick may carry: those there were before settings became state (signaturesRequired came after). */
type TickSetting = Extract<SettingName, keyof Tick>;
// Which settings the Tick schema has, one by one: a setting added to either is a compile error here until it is said.
const ON_TICKS: { readonly [N in SettingName]: N extends TickSetting ? true : false } = {
  workerSuspectMs: true,
  workerTimeoutMs: true,
  sessionTimeoutMs: true,
  maxAllocations: true,
  allocationIdleMs: true,
  maxCachedAllocations: true,
  historyRetentionMs: true,
  maxValueBytes: true,
  dedupeRetentionMs: true,
  goneRetentionMs: true,
  maxDeadlineMs: true,
  signaturesRequired: false,
};
const TICK_SETTINGS = SETTING_NAMES.filter((n): n is TickSetting => ON_TICKS[n]);

/** The settings an old Tick carries, unwrapped; {} for a Tick that carries only the clock (all null). */
const carried = (t: Tick): LegacyTick => {
  const out: Record<string, bigint | number> = {};
  for (const name of TICK_SETTINGS) {
    const v = unwrap<bigint | number>(t[name]);
    if (v !== null) out[name] = v;
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

const settingsFrom = (t: LegacyTick, was: Settings): Pick<Settings, TickSetting> => {
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
      next === undefined || JSON.stringify(next) === JSON.stringify(current) ? was : { ...next, frontierFloorTs: compactionFrontier(state, now).toString() };
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

export const liveness: Projection = { name: 'liveness', entities: [], handlers: { 'coord.v1.Tick': tick } satisfies HandlerMap };
