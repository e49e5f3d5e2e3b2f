/**
 * Settings as state: UpdateSettings changes them (an admin only), GetSettings reads them. A
 * change is checked whole before anything moves, answered with the values before and after,
 * and in force for every decision after it in the snapshot that applies it.
 */
import { adminOnly } from '../admin';
import { SETTINGS, settingsOf, settingsRevision, type Settings } from '../model';
import type { GetSettings, SettingsChange, UpdateSettings } from '../protocol.gen';
import { compactionFrontier } from '../reads';
import { adminKeys } from './keys';
import { accept, reject, reply, unwrap, type Handler, type Payload, type StateView } from '../types';

/** Longest setting in ms: about 30 years, so log time plus it never overflows a safe integer. */
export const MAX_MS = 1_000_000_000_000;
export const INT32_MAX = 2 ** 31 - 1;

export const SETTING_NAMES = [
  'workerSuspectMs',
  'workerTimeoutMs',
  'sessionTimeoutMs',
  'maxAllocations',
  'allocationIdleMs',
  'maxCachedAllocations',
  'historyRetentionMs',
  'maxValueBytes',
  'dedupeRetentionMs',
  'goneRetentionMs',
  'maxDeadlineMs',
  'signaturesRequired',
] as const satisfies readonly (keyof UpdateSettings)[];
export type SettingName = (typeof SETTING_NAMES)[number];
export type SettingValues = { readonly [N in SettingName]: number };

/**
 * Bounds of each setting. `int` ones travel as Avro int (at most 2^31-1), the others as long,
 * held to MAX_MS. maxValueBytes below 1 KiB would refuse every later record, the correcting
 * request too; a deadline below a second could not be met.
 */
export const SETTING_BOUNDS: { readonly [N in SettingName]: { readonly min: number; readonly max: number; readonly avro: 'int' | 'long' } } = {
  workerSuspectMs: { min: 1, max: MAX_MS, avro: 'long' },
  workerTimeoutMs: { min: 1, max: MAX_MS, avro: 'long' },
  sessionTimeoutMs: { min: 1, max: MAX_MS, avro: 'long' },
  maxAllocations: { min: 0, max: INT32_MAX, avro: 'int' },
  allocationIdleMs: { min: 0, max: MAX_MS, avro: 'long' },
  maxCachedAllocations: { min: 0, max: INT32_MAX, avro: 'int' },
  historyRetentionMs: { min: 0, max: MAX_MS, avro: 'long' },
  maxValueBytes: { min: 1_024, max: INT32_MAX, avro: 'int' },
  dedupeRetentionMs: { min: 1, max: MAX_MS, avro: 'long' },
  goneRetentionMs: { min: 0, max: MAX_MS, avro: 'long' },
  maxDeadlineMs: { min: 1_000, max: MAX_MS, avro: 'long' },
  signaturesRequired: { min: 0, max: 1, avro: 'int' },
};

export const isSettingName = (name: string): name is SettingName => (SETTING_NAMES as readonly string[]).includes(name);

/** Images written before `signaturesRequired` existed lack it: signatures were not required. */
export const valuesOf = (s: Settings): SettingValues => Object.fromEntries(SETTING_NAMES.map((n) => [n, s[n] ?? 0])) as SettingValues;

/** What is wrong with a whole set of values, each problem naming the value and its bound; [] when none. */
export const settingsProblems = (v: Readonly<Record<SettingName, number | bigint>>): string[] => {
  const problems: string[] = [];
  for (const name of SETTING_NAMES) {
    const { min, max } = SETTING_BOUNDS[name];
    const n = v[name];
    if (typeof n === 'bigint' ? n < BigInt(min) || n > BigInt(max) : !Number.isSafeInteger(n) || n < min || n > max) problems.push(`${name} must be from ${min} to ${max}, got ${n}`);
  }
  if (problems.length > 0) return problems;
  if (v.workerTimeoutMs < v.workerSuspectMs) problems.push(`workerTimeoutMs (${v.workerTimeoutMs}) must be at least workerSuspectMs (${v.workerSuspectMs}): a worker is SUSPECT before it is DEAD`);
  if (v.dedupeRetentionMs < v.maxDeadlineMs)
    problems.push(`dedupeRetentionMs (${v.dedupeRetentionMs}) must be at least maxDeadlineMs (${v.maxDeadlineMs}): a deferred reply must still be remembered when it comes`);
  return problems;
};

const asLongs = (v: SettingValues): { [name: string]: bigint } => Object.fromEntries(SETTING_NAMES.map((n) => [n, BigInt(v[n])]));

export const settingsChange = (before: SettingValues, after: SettingValues): Payload => ({
  type: 'coord.v1.SettingsChange',
  value: { before: asLongs(before), after: asLongs(after), changed: SETTING_NAMES.filter((n) => before[n] !== after[n]) } satisfies SettingsChange,
});

/**
 * Requiring signatures with no admin key registered would lock everyone out for good: no request
 * could be signed to register a key or change the settings back.
 */
const requiringLocksOut = (state: StateView, before: SettingValues, given: Partial<Record<SettingName, number | bigint>>): string | undefined =>
  Number(given.signaturesRequired ?? before.signaturesRequired) === 1 && before.signaturesRequired !== 1 && adminKeys(state).length === 0
    ? 'signaturesRequired=1 needs a key with the admin role registered first (RegisterPrincipalKey), or no request could ever be signed to change it back'
    : undefined;

export const updateSettings: Handler<UpdateSettings> = {
  // First of the stages, so every decision after it in the snapshot (sessions, catalog, queries, system) sees the new values.
  stage: 'infrastructure',
  decide: (msg, state, ctx) => {
    const denied = adminOnly(msg, 'change settings');
    if (denied !== undefined) return denied;
    const was = settingsOf(state);
    const before = valuesOf(was);
    if (msg.value.initial === true && settingsRevision(was) !== undefined)
      return accept([], reply('OK', `settings are already on the log (revision ${settingsRevision(was)}); initial values from local configuration ignored`, settingsChange(before, before)));
    const given: Partial<Record<SettingName, number | bigint>> = {};
    for (const name of SETTING_NAMES) {
      const v = unwrap<number | bigint>(msg.value[name]);
      if (v !== null) given[name] = v;
    }
    const problems = settingsProblems({ ...before, ...given });
    if (problems.length > 0) return reject('INVALID_ARGUMENT', `settings unchanged: ${problems.join('; ')}`);
    const lockout = requiringLocksOut(state, before, given);
    if (lockout !== undefined) return reject('FAILED_PRECONDITION', `settings unchanged: ${lockout}`);
    const after = Object.fromEntries(SETTING_NAMES.map((n) => [n, Number(given[n] ?? before[n])])) as SettingValues;
    const changed = SETTING_NAMES.filter((n) => before[n] !== after[n]);
    // An initial proposal always takes the log's settings over, so a later instance's file cannot.
    if (changed.length === 0 && msg.value.initial !== true) return accept([], reply('OK', 'settings unchanged: every value given is the one in force', settingsChange(before, after)));
    const revision = (settingsRevision(was) ?? 0) + 1;
    // A longer retention must not bring back, as readable, history already compacted away.
    const image: Settings = { ...after, frontierFloorTs: compactionFrontier(state, ctx.logTimeMs).toString(), revision };
    // Images of logs that never required signatures stay as they were before the setting existed (the same digests on replay).
    if (after.signaturesRequired === 0 && was.signaturesRequired === undefined) delete (image as { signaturesRequired?: number }).signaturesRequired;
    const what = changed.length === 0 ? 'no value changed' : `changed ${changed.map((n) => `${n} ${before[n]} → ${after[n]}`).join(', ')}`;
    return accept([{ entity: SETTINGS, key: 'current', image }], reply('OK', `settings revision ${revision}${msg.value.initial === true ? ' (initial, from local configuration)' : ''}: ${what}`, settingsChange(before, after)));
  },
};

export const getSettings: Handler<GetSettings> = {
  stage: 'system',
  decide: (_msg, state) => {
    const s = settingsOf(state);
    const v = valuesOf(s);
    return accept([], reply('OK', settingsRevision(s) === undefined ? 'settings not yet set on this log (defaults, or values from old ticks)' : `settings revision ${settingsRevision(s)}`, settingsChange(v, v)));
  },
};
