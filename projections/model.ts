/**
 * The entities of the domain and their images, in one leaf module: projections read each
 * other's entities (a query reads the catalog, a dead worker fails queries) through these
 * names and types, and never through each other's handlers.
 */
import type { FragmentKind, FragmentState, QueryState, WorkerInfo } from './protocol.gen';
import { entity, type Entity, type Image, type StateView } from './types';

// The states a reply shows are the Reply schema's enums: an image cannot hold one the protocol cannot carry.
export type { FragmentKind, QueryState, WorkerState } from './protocol.gen';
export type FragmentStatus = FragmentState;

// Each entity type's name carries the type of its images: `state.get(WORKER, id)` is a WorkerImage.
export const WORKER: Entity<WorkerImage> = entity('worker');
export const SESSION: Entity<SessionImage> = entity('session');
export const LOGICAL_SOURCE: Entity<LogicalSourceImage> = entity('logical-source');
export const PHYSICAL_SOURCE: Entity<PhysicalSourceImage> = entity('physical-source');
export const SINK: Entity<SinkImage> = entity('sink');
export const QUERY: Entity<QueryImage> = entity('query');
export const ALLOCATION: Entity<AllocationImage> = entity('allocation');
export const ORACLE: Entity<OracleImage> = entity('oracle');
export const READ_HOLD: Entity<ReadHoldImage> = entity('read-hold');
export const SETTINGS: Entity<Settings> = entity('settings');
export const PRINCIPAL_KEY: Entity<PrincipalKeyImage> = entity('principal-key');

/** A worker: what ListWorkers shows of it (WorkerInfo), as the fold keeps it. */
export interface WorkerImage extends Image, Pick<WorkerInfo, 'workerId' | 'incarnation' | 'host' | 'slots' | 'capabilities' | 'state'> {
  /** Log time of the last sign of life, ms. */
  readonly lastHeartbeatMs: number;
  readonly registeredAtTs: string;
  readonly statistics: { readonly [name: string]: number } | null;
  /** Log time it became DEAD or DEREGISTERED, else null; missing in images written before it was kept (see goneSinceMs). */
  readonly goneAtMs: number | null;
  /** The verified principal that registered it, whose key its events must carry; absent when registered unsigned. */
  readonly owner?: string;
}

export type SessionState = 'OPEN' | 'CLOSED' | 'EXPIRED';

export interface SessionImage extends Image {
  readonly sessionId: string;
  readonly client: string;
  readonly state: SessionState;
  readonly openedAtTs: string;
  /** Log time of the last sign of life, ms. */
  readonly lastHeartbeatMs: number;
  /** Log time it was CLOSED or EXPIRED, else null; missing in images written before it was kept (see goneSinceMs). */
  readonly goneAtMs: number | null;
  /** The verified principal that opened it; absent when opened unsigned. */
  readonly owner?: string;
}

export interface FieldImage extends Image {
  readonly name: string;
  readonly type: string;
}

export interface LogicalSourceImage extends Image {
  readonly name: string;
  readonly fields: readonly FieldImage[];
  readonly createdAtTs: string;
}

export interface PhysicalSourceImage extends Image {
  readonly name: string;
  readonly logicalSource: string;
  readonly workerId: string;
  readonly connectorType: string;
  readonly options: { readonly [key: string]: string };
  /** False while its worker is DEAD or DEREGISTERED: nothing can read it there. */
  readonly available: boolean;
  readonly createdAtTs: string;
}

export interface SinkImage extends Image {
  readonly name: string;
  readonly type: string;
  readonly options: { readonly [key: string]: string };
  readonly createdAtTs: string;
}

export interface FragmentImage extends Image {
  /** `<query>#<deployment>-<n>`, the deployment id from the id allocator: a late report of an earlier deployment cannot touch it. */
  readonly fragmentId: string;
  readonly kind: FragmentKind;
  readonly workerId: string;
  /** The physical source a SOURCE fragment reads; null for the sink fragment. */
  readonly physicalSource: string | null;
  readonly allocation: string;
  readonly status: FragmentStatus;
}

/** The address of a request whose reply waits on the workers. */
export interface PendingReply extends Image {
  readonly correlationId: string;
  readonly replyTo: string;
  /** Epoch ms of the request's deadline, or null for none. */
  readonly deadlineMs: number | null;
}

/** What every query has, whatever its state. */
interface QueryFields extends Image {
  readonly name: string;
  /** The session that created it, or null. */
  readonly session: string | null;
  /** A temporary query goes with its session. */
  readonly temporary: boolean;
  /** The plan as the client gave it (opaque JSON). */
  readonly plan: string;
  readonly sources: readonly string[];
  readonly sink: string;
  readonly fragments: readonly FragmentImage[];
  /** Why it FAILED or was aborted, else ''. */
  readonly reason: string;
  /** Slots the last start took from the session's cache. */
  readonly reused: number;
  readonly createdAtTs: string;
  /** The verified principal that created it; absent when created unsigned. */
  readonly owner?: string;
}

/** A query being deployed: it must be RUNNING by `deployBy`, and the start's reply waits on its fragments. */
export interface DeployingQuery extends QueryFields {
  readonly state: 'DEPLOYING';
  /** Log time (ms) by which it must be RUNNING: the start's deadline, at most maxDeadlineMs away, or DEPLOY_TIMEOUT_MS. */
  readonly deployBy: number;
  /** Where the start's reply goes once the fragments say how it went (null: the start asked for none). */
  readonly pending: PendingReply | null;
}

/** A query in any other state: no deadline runs and no reply waits. */
export interface SettledQuery extends QueryFields {
  readonly state: Exclude<QueryState, 'DEPLOYING'>;
  readonly deployBy: null;
  readonly pending: null;
}

/** A query's image: a union keyed by its state, so what only a deploying query has is typed as such. */
export type QueryImage = DeployingQuery | SettledQuery;

export interface AllocationImage extends Image {
  readonly allocationId: string;
  readonly workerId: string;
  /** The session it is held for: the owner of the query using it, or of the cache keeping it. */
  readonly session: string | null;
  /** The fragment using it, or null while it is cached. */
  readonly fragmentId: string | null;
  /** Log time (ms) at which a cached allocation is released, or null while in use. */
  readonly cachedUntilMs: number | null;
  /**
   * Set when its fragment was told to stop: the slot stays taken until the worker confirms
   * (STOPPED or FAILED) or is gone, then goes to the session's cache or is freed.
   */
  readonly releaseTo: 'CACHE' | 'FREE' | null;
}

export interface ReadHoldImage extends Image {
  readonly name: string;
  /** The hybrid timestamp whose state the hold keeps readable. */
  readonly ts: string;
  /** Log time (ms) at which the hold lapses unless renewed. */
  readonly expiresAtMs: number;
  /** The verified principal that acquired it; absent when acquired unsigned. */
  readonly owner?: string;
}

/** A public key registered for a principal: records signed with it speak for that principal, with these roles. */
export interface PrincipalKeyImage extends Image {
  readonly keyId: string;
  readonly principal: string;
  readonly roles: readonly string[];
  /** Ed25519, the base64 of its 32 bytes. */
  readonly publicKey: string;
  readonly registeredAtTs: string;
}

/**
 * The high-water marks of the id allocator (key `ids`: the next id to hand out) and of the
 * timestamp oracle (key `timestamps`: the last hybrid timestamp handed out), as decimal strings.
 */
export interface OracleImage extends Image {
  readonly next?: string;
  readonly last?: string;
}

/**
 * The settings the fold decides with: state, changed only by UpdateSettings (or, on logs
 * written before that, by the settings old Ticks carried), so a replay decides with the values
 * in force at the time and a takeover changes nothing.
 */
export interface Settings extends Image {
  readonly workerSuspectMs: number;
  readonly workerTimeoutMs: number;
  readonly sessionTimeoutMs: number;
  readonly maxAllocations: number;
  readonly allocationIdleMs: number;
  readonly maxCachedAllocations: number;
  readonly historyRetentionMs: number;
  /** Input values larger than this are refused to the DLQ: a verdict replay must reach again, so it travels on the log. */
  readonly maxValueBytes: number;
  /** Log time a request's reply is remembered for retries with the same correlation id. */
  readonly dedupeRetentionMs: number;
  /** Log time a worker DEAD or DEREGISTERED, or a session CLOSED or EXPIRED, stays in the state before it is removed. */
  readonly goneRetentionMs: number;
  /** The longest a request's `deadline-ms` may hold anything (a deferred reply, slots) past the log time it was applied at. */
  readonly maxDeadlineMs: number;
  /**
   * The compaction frontier when these settings took effect: a longer retention must not
   * bring back, as readable, history that was already compacted away.
   */
  readonly frontierFloorTs: string;
  /** 1: every input record must be signed by a registered key (the fold verifies it); absent or 0: not. */
  readonly signaturesRequired?: number;
  /** How many UpdateSettings set them; absent while none has (see settingsRevision). */
  readonly revision?: number;
}

/**
 * How many UpdateSettings set the settings (the image's `revision`); undefined while no request
 * has (defaults, or old Ticks' values), so images written before it existed stay byte for byte.
 */
export const settingsRevision = (s: Settings): number | undefined => s.revision;

/** How long a start without a `deadline-ms` may wait for its fragments before it is aborted. */
export const DEPLOY_TIMEOUT_MS = 60_000;

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  workerSuspectMs: 5_000,
  workerTimeoutMs: 15_000,
  sessionTimeoutMs: 30_000,
  maxAllocations: 1_000,
  allocationIdleMs: 60_000,
  maxCachedAllocations: 8,
  historyRetentionMs: 600_000,
  maxValueBytes: 1_000_000,
  dedupeRetentionMs: 86_400_000,
  goneRetentionMs: 86_400_000,
  maxDeadlineMs: 600_000,
  frontierFloorTs: '0',
});

export const settingsOf = (state: StateView): Settings => state.get(SETTINGS, 'current') ?? DEFAULT_SETTINGS;

export const workerOf = (state: StateView, id: string): WorkerImage | undefined => state.get(WORKER, id);
export const sessionOf = (state: StateView, id: string): SessionImage | undefined => state.get(SESSION, id);
export const queryOf = (state: StateView, name: string): QueryImage | undefined => state.get(QUERY, name);

export const each = <I extends Image>(state: StateView, of: Entity<I>): I[] => [...state.list(of)].map(([, image]) => image);

/** A worker that can take new fragments. */
export const placeable = (w: WorkerImage): boolean => w.state === 'ACTIVE';

/** A worker that is gone for good in its incarnation: its fragments and sources are lost. */
export const gone = (w: WorkerImage): boolean => w.state === 'DEAD' || w.state === 'DEREGISTERED';

/**
 * Log time since which a gone worker or session has been gone. An image written before the
 * time was kept has no `goneAtMs`: its last sign of life stands in, which is no later.
 */
export const goneSinceMs = (image: WorkerImage | SessionImage): number => image.goneAtMs ?? image.lastHeartbeatMs;

/**
 * How large client input may be. Names, ids and option maps live in the state, its history and
 * the changelog, and travel in replies and worker commands: each is bounded, and anything over
 * is refused with the limit and its size, never its content.
 */
export const LIMITS = Object.freeze({
  /** Names, ids, incarnations, hosts, connector and sink types, capabilities, read hold names. */
  nameChars: 255,
  /** Entries of a physical source's or a sink's `options`. */
  options: 64,
  optionKeyChars: 255,
  optionValueChars: 4_096,
  /** Fields of a logical source; their names are names (nameChars). */
  fields: 1_000,
  fieldTypeChars: 64,
  /** A query's plan, UTF-8. */
  planBytes: 65_536,
  /** A worker's capabilities, and the figures of its statistics. */
  capabilities: 64,
  statistics: 64,
  /** Characters of client input an error message echoes. */
  shownChars: 64,
});

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;

/**
 * Client input as a message may echo it: a plain name as it is, anything else quoted (so blanks
 * and control characters show), and never more than `LIMITS.shownChars` of it.
 */
export const shown = (value: string): string => {
  if (value.length <= LIMITS.shownChars && NAME.test(value)) return value;
  const head = JSON.stringify(value.slice(0, LIMITS.shownChars));
  return value.length > LIMITS.shownChars ? `${head}… (${value.length} characters)` : head;
};

/** What is wrong with the size of `value`, or undefined when it is at most `max` characters. */
export const tooLong = (what: string, value: string, max: number = LIMITS.nameChars): string | undefined =>
  value.length <= max ? undefined : `${what} has ${value.length} characters, more than the limit of ${max}`;

/** What is wrong with a name, or undefined when it is fine. */
export const nameProblem = (what: string, name: string): string | undefined =>
  name.length > LIMITS.nameChars
    ? `${what} name ${shown(name)} has ${name.length} characters, more than the limit of ${LIMITS.nameChars}`
    : NAME.test(name)
      ? undefined
      : `${what} name ${shown(name)} is invalid: use 1 to ${LIMITS.nameChars} letters, digits, '_', '.' or '-', starting with a letter or '_'`;

/** What is wrong with the size of an option map, or undefined when it is within LIMITS. */
export const optionsProblem = (what: string, options: Readonly<Record<string, string>>): string | undefined => {
  const entries = Object.entries(options);
  if (entries.length > LIMITS.options) return `${what} has ${entries.length} options, more than the limit of ${LIMITS.options}`;
  for (const [key, value] of entries) {
    const bad = tooLong(`an option key of ${what}`, key, LIMITS.optionKeyChars) ?? tooLong(`option ${shown(key)} of ${what}`, value, LIMITS.optionValueChars);
    if (bad !== undefined) return bad;
  }
  return undefined;
};

/** The length of `s` in UTF-8, without encoding it. */
export const utf8Bytes = (s: string): number => {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
};

export const sortedOptions = (options: Readonly<Record<string, string>>): { [key: string]: string } =>
  Object.fromEntries(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
