/**
 * Given/when/then for pure deciders: each message runs through the real handler table onto a
 * WorkingState, one pass per message, with the snapshot id and hybrid ts the pass would give it,
 * the history versions the pass would record and the compaction it would run. For what only a
 * batch shows (cancel-outs, conflicts), `whenInOnePass` runs several messages through the real
 * pass with an in-memory codec: no Kafka, no registry, no RocksDB.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { replyToProblem } from '../../src/messaging/reply-to';
import {
  handlerTable,
  livenessFields,
  oracleHighWater,
  versionedEntities,
  type Answer,
  type Change,
  type Command,
  type Decision,
  type Handler,
  type Image,
  type Message,
  type PassContext,
  type Payload,
  type Principal,
  type StateView,
  type Status,
} from '../../projections';
import { ALLOCATION, DEFAULT_SETTINGS, each, queryOf, type AllocationImage, type FragmentImage } from '../../projections/model';
import type {
  AcquireReadHold,
  CreateLogicalSource,
  CreatePhysicalSource,
  CreateQuery,
  CreateSink,
  DropLogicalSource,
  DropQuery,
  Field,
  FragmentReport,
  FragmentStatus,
  GetLogicalSource,
  GetQuery,
  ListQueries,
  StartQuery,
  StopQuery,
  Tick,
  UpdateSettings,
  WorkerRegistered,
} from '../../projections/protocol.gen';
import { SETTING_BOUNDS, SETTING_NAMES, type SettingName } from '../../projections/system/settings';
import type { Decoded } from '../../src/messaging/codec';
import { changelogTables, withChangelogEnvelopes } from '../../src/messaging/changelog';
import { kindOfRecord } from '../../src/messaging/protocol';
import { loadContracts } from '../../src/messaging/schemas';
import { TOPIC_KINDS, topicName, type TopicKind } from '../../src/messaging/topics';
import type { RawRecord } from '../../src/engine/decode';
import { runPass, type PassDeps, type PassResult } from '../../src/engine/pass';
import { decodeExplainRecord } from '../../src/engine/explain';
import type { Signer } from '../../src/messaging/signing';
import { explainKey } from '../../src/store/keys';
import type { ExplainRecord } from '../../projections/system/explain';
import { applyDecision, closeSnapshot, type Touched } from '../../src/engine/apply';
import { nextHybrid, WorkingState } from '../../src/engine/state';

/** Log time of every built message unless a test names another: a fixed instant, so runs repeat. */
export const T0 = 1_700_000_000_000;

/** Where every built request asks its reply to go, so a deferred reply can be addressed. */
export const REPLY_TO = 'test.replies';

/** How a pass of the harness runs: as a replay folds it (`published`), and with records signed as their senders would (`sign`). */
export interface PassOptions {
  readonly published?: boolean;
  readonly sign?: (msg: AnyMessage) => Signer | undefined;
}

export interface MessageOptions {
  readonly correlationId?: string;
  readonly timestampMs?: number;
  readonly replyTo?: string;
  /** The request's `deadline-ms`, epoch ms. */
  readonly deadlineMs?: number;
  /** The verified sender (a secured deployment); none: security is off. */
  readonly principal?: Principal;
}

const message = <V>(type: string, value: V, key: string | null, opts: MessageOptions): Message<V> => ({
  type,
  value,
  key,
  correlationId: opts.correlationId ?? `c-${type}-${key ?? ''}`,
  replyTo: opts.replyTo ?? REPLY_TO,
  ...(opts.deadlineMs === undefined ? {} : { deadlineMs: opts.deadlineMs }),
  ...(opts.principal === undefined ? {} : { principal: opts.principal }),
  timestampMs: opts.timestampMs ?? T0,
});

/** An optional Avro long as the codec gives it. */
const long = (v: bigint | undefined): { long: bigint } | null => (v === undefined ? null : { long: v });
const string = (v: string | undefined): { string: string } | null => (v === undefined ? null : { string: v });
const int = (v: number | undefined): { int: number } | null => (v === undefined ? null : { int: v });

type AsOf = { readonly asOfTs?: bigint };

/** JSON for assertion messages, bigints included. */
const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

export const field = (name: string, type = 'string'): Field => ({ name, type });

export const createLogicalSource = (name: string, fields: readonly Field[] = [field('id')], opts: MessageOptions = {}): Message<CreateLogicalSource> =>
  message('coord.v1.CreateLogicalSource', { name, fields }, name, opts);

export const getLogicalSource = (name: string, opts: MessageOptions & AsOf = {}): Message<GetLogicalSource> =>
  message('coord.v1.GetLogicalSource', { name, asOfTs: long(opts.asOfTs) }, name, opts);

export const listLogicalSources = (opts: MessageOptions & AsOf = {}): Message<unknown> => message('coord.v1.ListLogicalSources', { asOfTs: long(opts.asOfTs) }, null, opts);

export const dropLogicalSource = (name: string, opts: MessageOptions & { cascade?: boolean } = {}): Message<DropLogicalSource> =>
  message('coord.v1.DropLogicalSource', { name, cascade: opts.cascade ?? false }, name, opts);

export const createPhysicalSource = (
  name: string,
  logicalSource: string,
  workerId: string,
  opts: MessageOptions & { connectorType?: string; options?: Record<string, string> } = {},
): Message<CreatePhysicalSource> =>
  message('coord.v1.CreatePhysicalSource', { name, logicalSource, workerId, connectorType: opts.connectorType ?? 'kafka', options: opts.options ?? {} }, name, opts);

export const getPhysicalSource = (name: string, opts: MessageOptions & AsOf = {}): Message<unknown> =>
  message('coord.v1.GetPhysicalSource', { name, asOfTs: long(opts.asOfTs) }, name, opts);

export const listPhysicalSources = (opts: MessageOptions & AsOf & { logicalSource?: string } = {}): Message<unknown> =>
  message('coord.v1.ListPhysicalSources', { logicalSource: string(opts.logicalSource), asOfTs: long(opts.asOfTs) }, null, opts);

export const dropPhysicalSource = (name: string, opts: MessageOptions & { cascade?: boolean } = {}): Message<unknown> =>
  message('coord.v1.DropPhysicalSource', { name, cascade: opts.cascade ?? false }, name, opts);

export const createSink = (name: string, opts: MessageOptions & { type?: string; options?: Record<string, string> } = {}): Message<CreateSink> =>
  message('coord.v1.CreateSink', { name, type: opts.type ?? 'print', options: opts.options ?? {} }, name, opts);

export const getSink = (name: string, opts: MessageOptions & AsOf = {}): Message<unknown> => message('coord.v1.GetSink', { name, asOfTs: long(opts.asOfTs) }, name, opts);

export const listSinks = (opts: MessageOptions & AsOf = {}): Message<unknown> => message('coord.v1.ListSinks', { asOfTs: long(opts.asOfTs) }, null, opts);

export const dropSink = (name: string, opts: MessageOptions & { cascade?: boolean } = {}): Message<unknown> =>
  message('coord.v1.DropSink', { name, cascade: opts.cascade ?? false }, name, opts);

/** The plan a query carries: its logical sources and its sink, as the client sends it. */
export const plan = (sources: readonly string[], sink: string): string => JSON.stringify({ sources, sink, operators: [] });

export const createQuery = (
  name: string,
  opts: MessageOptions & { sources?: readonly string[]; sink?: string; plan?: string; session?: string; temporary?: boolean } = {},
): Message<CreateQuery> =>
  message(
    'coord.v1.CreateQuery',
    { name, plan: opts.plan ?? plan(opts.sources ?? ['cars'], opts.sink ?? 'out'), session: string(opts.session), temporary: opts.temporary ?? false },
    name,
    opts,
  );

export const startQuery = (name: string, opts: MessageOptions = {}): Message<StartQuery> => message('coord.v1.StartQuery', { name }, name, opts);
export const stopQuery = (name: string, opts: MessageOptions = {}): Message<StopQuery> => message('coord.v1.StopQuery', { name }, name, opts);
export const dropQuery = (name: string, opts: MessageOptions = {}): Message<DropQuery> => message('coord.v1.DropQuery', { name }, name, opts);

export const getQuery = (name: string, opts: MessageOptions & AsOf = {}): Message<GetQuery> => message('coord.v1.GetQuery', { name, asOfTs: long(opts.asOfTs) }, name, opts);

export const listQueries = (opts: MessageOptions & AsOf & { session?: string } = {}): Message<ListQueries> =>
  message('coord.v1.ListQueries', { session: string(opts.session), asOfTs: long(opts.asOfTs) }, null, opts);

/** A worker's report on fragment `fragmentId` (`<query>#<n>`) of `queryName`. */
export const fragmentStatus = (
  workerId: string,
  queryName: string,
  fragmentId: string,
  status: FragmentReport,
  opts: MessageOptions & { incarnation?: string; reason?: string } = {},
): Message<FragmentStatus> =>
  message('coord.v1.FragmentStatus', { workerId, incarnation: opts.incarnation ?? 'i1', queryName, fragmentId, status, reason: opts.reason ?? '' }, workerId, opts);

/**
 * The fragment `index` of a query dropped meanwhile, known only by the slot that still waits for
 * its worker to confirm it stopped.
 */
const awaitedFragment = (state: StateView, queryName: string, index: number): { workerId: string; fragmentId: string } | undefined => {
  const waiting = each<AllocationImage>(state, ALLOCATION).filter((a) => a.releaseTo !== null && a.fragmentId !== null && fragmentIndexOf(a.fragmentId) === `${queryName}#${index}`);
  if (waiting.length > 1) throw new Error(`slots of several deployments of ${queryName}#${index} wait for a report; name the fragment with fragmentStatus`);
  return waiting.length === 0 ? undefined : { workerId: waiting[0].workerId, fragmentId: waiting[0].fragmentId as string };
};

/**
 * The report on fragment `index` of `queryName` as it stands when the step runs, from the worker
 * it was placed on: fragment ids carry the snapshot of their start, so a spec names them by position.
 * For a query dropped meanwhile, the fragment whose slot still waits for this report.
 */
export const fragmentReport =
  (queryName: string, index: number, status: FragmentReport, opts: MessageOptions & { incarnation?: string; reason?: string } = {}): Step =>
  (state) => {
    const q = queryOf(state, queryName);
    const f = q === undefined ? awaitedFragment(state, queryName, index) : q.fragments[index];
    if (f === undefined) throw new Error(`query ${queryName} has no fragment ${index} to report on`);
    return fragmentStatus(f.workerId, queryName, f.fragmentId, status, opts);
  };

/** Every one of the `count` fragments of `queryName` reports `status`, in order. */
export const fragmentReports = (queryName: string, count: number, status: FragmentReport): Step[] =>
  Array.from({ length: count }, (_, i) => fragmentReport(queryName, i, status));

export const allocIds = (count: number, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.AllocIds', { count }, null, opts);
export const allocTimestamps = (count: number, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.AllocTimestamps', { count }, null, opts);

export const acquireReadHold = (name: string, opts: MessageOptions & AsOf & { leaseMs?: bigint } = {}): Message<AcquireReadHold> =>
  message('coord.v1.AcquireReadHold', { name, asOfTs: long(opts.asOfTs), leaseMs: opts.leaseMs ?? 60_000n }, name, opts);

export const releaseReadHold = (name: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.ReleaseReadHold', { name }, name, opts);
export const listReadHolds = (opts: MessageOptions = {}): Message<unknown> => message('coord.v1.ListReadHolds', {}, null, opts);
export const describeCoordinator = (opts: MessageOptions = {}): Message<unknown> => message('coord.v1.DescribeCoordinator', {}, null, opts);

export const workerRegistered = (workerId: string, opts: MessageOptions & { incarnation?: string; slots?: number; host?: string; capabilities?: string[] } = {}): Message<WorkerRegistered> =>
  message('coord.v1.WorkerRegistered', { workerId, incarnation: opts.incarnation ?? 'i1', host: opts.host ?? `${workerId}.local`, slots: opts.slots ?? 4, capabilities: opts.capabilities ?? [] }, workerId, opts);

export const workerHeartbeat = (workerId: string, opts: MessageOptions & { incarnation?: string } = {}): Message<unknown> =>
  message('coord.v1.WorkerHeartbeat', { workerId, incarnation: opts.incarnation ?? 'i1' }, workerId, opts);

export const workerStatistics = (workerId: string, statistics: Record<string, number>, opts: MessageOptions & { incarnation?: string } = {}): Message<unknown> =>
  message('coord.v1.WorkerStatistics', { workerId, incarnation: opts.incarnation ?? 'i1', statistics }, workerId, opts);

export const workerDraining = (workerId: string, opts: MessageOptions & { incarnation?: string } = {}): Message<unknown> =>
  message('coord.v1.WorkerDraining', { workerId, incarnation: opts.incarnation ?? 'i1' }, workerId, opts);

export const workerDeregistered = (workerId: string, opts: MessageOptions & { incarnation?: string } = {}): Message<unknown> =>
  message('coord.v1.WorkerDeregistered', { workerId, incarnation: opts.incarnation ?? 'i1' }, workerId, opts);

export interface TickOptions {
  readonly suspectMs?: number;
  readonly timeoutMs?: number;
  readonly sessionTimeoutMs?: number;
  readonly maxAllocations?: number;
  readonly allocationIdleMs?: number;
  readonly maxCachedAllocations?: number;
  readonly historyRetentionMs?: number;
  readonly maxValueBytes?: number;
  readonly dedupeRetentionMs?: number;
  readonly goneRetentionMs?: number;
  readonly maxDeadlineMs?: number;
}

/**
 * A Tick at log time `atMs` as an old coordinator wrote it, carrying the settings: the default
 * thresholds (suspect 5 s, dead 15 s, sessions 30 s) and the schema's default settings unless
 * given, each wrapped in its union branch as the codec gives them.
 */
export const tick = (atMs: number, opts: TickOptions = {}): Message<Tick> =>
  message(
    'coord.v1.Tick',
    {
      tickMs: BigInt(atMs),
      workerSuspectMs: long(BigInt(opts.suspectMs ?? 5_000)),
      workerTimeoutMs: long(BigInt(opts.timeoutMs ?? 15_000)),
      sessionTimeoutMs: long(BigInt(opts.sessionTimeoutMs ?? 30_000)),
      maxAllocations: int(opts.maxAllocations ?? DEFAULT_SETTINGS.maxAllocations),
      allocationIdleMs: long(BigInt(opts.allocationIdleMs ?? DEFAULT_SETTINGS.allocationIdleMs)),
      maxCachedAllocations: int(opts.maxCachedAllocations ?? DEFAULT_SETTINGS.maxCachedAllocations),
      historyRetentionMs: long(BigInt(opts.historyRetentionMs ?? DEFAULT_SETTINGS.historyRetentionMs)),
      maxValueBytes: int(opts.maxValueBytes ?? DEFAULT_SETTINGS.maxValueBytes),
      dedupeRetentionMs: long(BigInt(opts.dedupeRetentionMs ?? DEFAULT_SETTINGS.dedupeRetentionMs)),
      goneRetentionMs: long(BigInt(opts.goneRetentionMs ?? DEFAULT_SETTINGS.goneRetentionMs)),
      maxDeadlineMs: long(BigInt(opts.maxDeadlineMs ?? DEFAULT_SETTINGS.maxDeadlineMs)),
    },
    null,
    { timestampMs: atMs },
  );

/** A Tick as coordinators append them now: the clock only, every setting null. */
export const clockTick = (atMs: number): Message<Tick> =>
  message(
    'coord.v1.Tick',
    {
      tickMs: BigInt(atMs),
      workerSuspectMs: null,
      workerTimeoutMs: null,
      sessionTimeoutMs: null,
      maxAllocations: null,
      allocationIdleMs: null,
      maxCachedAllocations: null,
      historyRetentionMs: null,
      maxValueBytes: null,
      dedupeRetentionMs: null,
      goneRetentionMs: null,
      maxDeadlineMs: null,
    },
    null,
    { timestampMs: atMs },
  );

/** UpdateSettings with these values, wrapped as the codec gives them (ints for the int settings). */
export const updateSettings = (values: Partial<Record<SettingName, number>>, opts: MessageOptions & { initial?: boolean } = {}): Message<UpdateSettings> =>
  message(
    'coord.v1.UpdateSettings',
    {
      ...Object.fromEntries(
        SETTING_NAMES.map((n) => [n, values[n] === undefined ? null : SETTING_BOUNDS[n].avro === 'int' ? { int: values[n] } : { long: BigInt(values[n] as number) }]),
      ),
      initial: opts.initial ?? false,
    } as UpdateSettings,
    'settings',
    opts,
  );

/** A base64 Ed25519 public key for specs (any 32 bytes: the deciders never verify with it). */
export const PUBLIC_KEY_A = Buffer.alloc(32, 1).toString('base64');
export const registerPrincipalKey = (keyId: string, principal: string, roles: readonly string[] = [], opts: MessageOptions & { publicKey?: string } = {}): Message<unknown> =>
  message('coord.v1.RegisterPrincipalKey', { keyId, principal, roles, publicKey: opts.publicKey ?? PUBLIC_KEY_A }, keyId, opts);
export const revokePrincipalKey = (keyId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.RevokePrincipalKey', { keyId }, keyId, opts);
/** A verified sender, as the pass puts it on a message under signaturesRequired. */
export const as = (name: string, ...roles: string[]): { principal: Principal } => ({ principal: { name, roles } });

export const getSettings = (opts: MessageOptions = {}): Message<unknown> => message('coord.v1.GetSettings', {}, null, opts);
export const explainRequest = (correlationId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.ExplainRequest', { correlationId }, null, opts);

export const sessionOpened = (sessionId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.SessionOpened', { sessionId, client: 'test' }, sessionId, opts);
export const sessionHeartbeat = (sessionId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.SessionHeartbeat', { sessionId }, sessionId, opts);
export const sessionClosed = (sessionId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.SessionClosed', { sessionId }, sessionId, opts);

export type AnyMessage = Message<unknown>;

/** A message, or one built from the state it will meet (a report on a fragment placed by an earlier step). */
export type Step = AnyMessage | ((state: StateView) => AnyMessage);

/** A fragment id without the snapshot of its deployment: `q1#7-0` is `q1#0`, the first fragment of q1. */
export const fragmentIndexOf = (fragmentId: string): string => fragmentId.replace(/#\d+-(\d+)$/, '#$1');

/** A worker command as the specs compare it: its type without the namespace, its worker, and its fragment by position. */
export interface CommandSummary {
  readonly type: 'DeployFragment' | 'StopFragment';
  readonly workerId: string;
  /** `<query>#<n>`: the n-th fragment of the query's deployment (see fragmentIndexOf). */
  readonly fragment: string;
}

const summarize = (c: Command): CommandSummary => ({
  type: c.type.replace(/^coord\.v1\./, '') as CommandSummary['type'],
  workerId: c.workerId,
  fragment: fragmentIndexOf(String(c.value.fragmentId)),
});

export const deploy = (workerId: string, fragment: string): CommandSummary => ({ type: 'DeployFragment', workerId, fragment });
export const stop = (workerId: string, fragment: string): CommandSummary => ({ type: 'StopFragment', workerId, fragment });

/** A fragment as the specs compare it: where it runs and how it stands, without its ids. */
export interface FragmentSummary {
  readonly kind: FragmentImage['kind'];
  readonly workerId: string;
  readonly physicalSource: string | null;
  readonly status: FragmentImage['status'];
}

/** An allocation as the specs compare it: its worker, its session, whether it is cached, and where it goes once its fragment stops. */
export interface AllocationSummary {
  readonly workerId: string;
  readonly session: string | null;
  readonly cached: boolean;
  /** Set while the slot waits for its worker to confirm its fragment stopped; absent: it does not wait. */
  readonly releaseTo?: 'CACHE' | 'FREE';
}

/** Assertions on the state after the `when`, shared by one-message and one-pass runs. */
abstract class StateThen {
  constructor(readonly state: WorkingState) {}

  /** After the `when`, the entity's image is `expected` (`undefined`: it does not exist). */
  thenState(entity: string, key: string, expected: Image | undefined): this {
    assert.deepStrictEqual(this.state.get(entity, key), expected);
    return this;
  }

  /** After the `when`, the entity exists and `field` of its image equals `expected`. */
  thenField(entity: string, key: string, field: string, expected: unknown): this {
    const image = this.state.get(entity, key);
    assert.ok(image !== undefined, `expected ${entity} ${key} to exist`);
    assert.deepStrictEqual(image[field], expected, `${entity} ${key}.${field}`);
    return this;
  }
}

/** What one message did: the decision, the context it was decided in, and the state after it. */
export class Then extends StateThen {
  constructor(
    readonly decision: Decision,
    state: WorkingState,
    /** The context of every step, the given ones first and the `when` last. */
    readonly contexts: readonly PassContext[],
  ) {
    super(state);
  }

  /** The context the `when` message was decided in. */
  get ctx(): PassContext {
    return this.contexts[this.contexts.length - 1];
  }

  /** The reply has `status`, and its message contains each of `mentions`. */
  thenReplies(status: Status, ...mentions: string[]): this {
    const reply = this.decision.reply;
    assert.ok(reply !== null, `expected a ${status} reply, got no reply`);
    assert.equal(reply.status, status, `expected ${status}, got ${reply.status}: ${reply.message}`);
    for (const m of mentions) assert.ok(reply.message.includes(m), `expected the reply message to mention ${m}, got: ${reply.message}`);
    return this;
  }

  /** The request got no reply now: it is deferred until the workers report (or, for an event, none is due). */
  thenNoReply(): this {
    assert.equal(this.decision.reply, null, `expected no reply, got ${show(this.decision.reply)}`);
    return this;
  }

  /** The reply carries exactly this payload (`null`: none). */
  thenPayload(expected: Payload | null): this {
    assert.ok(this.decision.reply !== null, 'expected a reply with a payload, got no reply');
    assert.deepStrictEqual(this.decision.reply.payload, expected);
    return this;
  }

  /** The reply's payload is of `type` and these fields of its value are as given; the others are not compared. */
  thenPayloadFields(type: string, fields: Readonly<Record<string, unknown>>): this {
    const payload = this.decision.reply?.payload;
    assert.ok(payload !== null && payload !== undefined, `expected a reply with a ${type} payload, got ${show(this.decision.reply)}`);
    assert.equal(payload.type, type);
    for (const [k, v] of Object.entries(fields)) assert.deepStrictEqual(payload.value[k], v, `payload ${type}.${k}`);
    return this;
  }

  /** The decision changed this many entities, or exactly these. */
  thenChanges(expected: number | readonly Change[]): this {
    if (typeof expected === 'number') assert.equal(this.decision.changes.length, expected, `expected ${expected} changes, got ${show(this.decision.changes)}`);
    else assert.deepStrictEqual(this.decision.changes, expected);
    return this;
  }

  /** After the `when`, query `name` exists and its fragments are these, in order. */
  thenFragments(name: string, expected: readonly FragmentSummary[]): this {
    const q = queryOf(this.state, name);
    assert.ok(q !== undefined, `expected query ${name} to exist`);
    assert.deepStrictEqual(
      q.fragments.map((f) => ({ kind: f.kind, workerId: f.workerId, physicalSource: f.physicalSource, status: f.status })),
      expected,
    );
    return this;
  }

  /** After the `when`, the allocations are exactly these, in any order (`[]`: none). */
  thenAllocations(expected: readonly AllocationSummary[]): this {
    const canonical = (xs: readonly AllocationSummary[]): string[] => xs.map((x) => JSON.stringify([x.workerId, x.session, x.cached, x.releaseTo ?? null])).sort();
    const actual = each<AllocationImage>(this.state, ALLOCATION).map(
      (a): AllocationSummary => ({ workerId: a.workerId, session: a.session, cached: a.cachedUntilMs !== null, ...(a.releaseTo === null ? {} : { releaseTo: a.releaseTo }) }),
    );
    assert.deepStrictEqual(canonical(actual), canonical(expected), `allocations: ${show(actual)}`);
    return this;
  }

  /** The decision sent exactly these worker commands, in this order (`[]`: none). */
  thenCommands(expected: readonly CommandSummary[]): this {
    assert.deepStrictEqual((this.decision.commands ?? []).map(summarize), expected);
    return this;
  }

  /** The decision answered exactly these earlier requests, by correlation id and status, in this order (`[]`: none). */
  thenAnswers(expected: readonly { readonly correlationId: string; readonly status: Status }[]): this {
    assert.deepStrictEqual(
      (this.decision.answers ?? []).map((a) => ({ correlationId: a.correlationId, status: a.reply.status })),
      expected,
    );
    return this;
  }

  /** The decision answered the earlier request `correlationId` once, with `status`, to `replyTo`, and the message mentions each of `mentions`. */
  thenAnswer(correlationId: string, status: Status, replyTo: string, ...mentions: string[]): Answer {
    const mine = (this.decision.answers ?? []).filter((a) => a.correlationId === correlationId);
    assert.equal(mine.length, 1, `expected one answer to ${correlationId}, got ${show(this.decision.answers ?? [])}`);
    const [answer] = mine;
    assert.equal(answer.reply.status, status, `expected ${status} to ${correlationId}, got ${answer.reply.status}: ${answer.reply.message}`);
    assert.equal(answer.replyTo, replyTo);
    for (const m of mentions) assert.ok(answer.reply.message.includes(m), `expected the answer to mention ${m}, got: ${answer.reply.message}`);
    return answer;
  }
}

/** A reply, a worker command or a changelog record that one pass put in its outbox, decoded. */
export interface PassOutput {
  readonly topic: string;
  readonly key: string | null;
  /** The record's full name, or 'tombstone' for a null value (whose `value` is then empty). */
  readonly type: string;
  readonly value: Record<string, unknown>;
  readonly headers: Readonly<Record<string, string>>;
}

/** What one pass of several messages did: its result, its decoded outbox, and the state after it. */
export class PassThen extends StateThen {
  constructor(
    readonly result: PassResult,
    readonly outputs: readonly PassOutput[],
    state: WorkingState,
  ) {
    super(state);
  }

  get replies(): PassOutput[] {
    return this.outputs.filter((o) => o.type === 'coord.v1.Reply');
  }

  get changelog(): PassOutput[] {
    return this.outputs.filter((o) => o.type === 'coord.v1.ChangelogRecord');
  }

  /** The records of the changelog's tables (typed envelopes and tombstones). */
  get tables(): PassOutput[] {
    return this.outputs.filter((o) => o.topic.startsWith(`${PREFIX}.changelog.`));
  }

  get commands(): PassOutput[] {
    return this.outputs.filter((o) => o.type === 'coord.v1.DeployFragment' || o.type === 'coord.v1.StopFragment');
  }

  /** The request `correlationId` got exactly one reply, with `status`, whose message mentions each of `mentions`. */
  thenRepliesTo(correlationId: string, status: Status, ...mentions: string[]): this {
    const mine = this.replies.filter((r) => r.key === correlationId);
    assert.equal(mine.length, 1, `expected one reply to ${correlationId}, got ${mine.length}`);
    const { value } = mine[0];
    assert.equal(value.status, status, `expected ${status} to ${correlationId}, got ${String(value.status)}: ${String(value.message)}`);
    for (const m of mentions) assert.ok(String(value.message).includes(m), `expected the reply to ${correlationId} to mention ${m}, got: ${String(value.message)}`);
    return this;
  }

  /** The request `correlationId` got no reply from the pass: it still waits. */
  thenNoReplyTo(correlationId: string): this {
    const mine = this.replies.filter((r) => r.key === correlationId);
    assert.equal(mine.length, 0, `expected no reply to ${correlationId}, got ${show(mine.map((r) => r.value))}`);
    return this;
  }

  /** The changelog records of the pass, as `entity/key`, in order (`[]`: none). */
  thenChangelog(expected: readonly string[]): this {
    assert.deepStrictEqual(
      this.changelog.map((c) => c.key),
      expected,
    );
    return this;
  }

  /** The pass changed this many entities' images, net of cancel-outs. */
  thenNetChanges(expected: number): this {
    assert.equal(this.result.changed, expected, `expected ${expected} net changes, got ${this.result.changed}`);
    return this;
  }

  /** The explain record the pass wrote for `correlationId`. */
  explained(correlationId: string): ExplainRecord {
    const put = this.result.ops.puts.find(([k]) => k === explainKey(correlationId));
    assert.ok(put !== undefined, `expected an explain record for ${correlationId}`);
    return decodeExplainRecord(put[1]);
  }

  /** The pass sent this many worker commands. */
  thenCommandCount(expected: number): this {
    assert.equal(this.commands.length, expected, `expected ${expected} worker commands, got ${show(this.commands)}`);
    return this;
  }
}

export interface When {
  when(msg: Step): Then;
  /**
   * Runs `batch` as one pass of the real engine (ordered by stage, then by position in `batch`);
   * `published`: as a replay folds it; `sign` signs a record as a sender would.
   */
  whenInOnePass(batch: readonly AnyMessage[], opts?: PassOptions): Promise<PassThen>;
}

export const PREFIX = 'test-coord';
const CONTRACTS = withChangelogEnvelopes(loadContracts());
const CHANGELOG_TABLES = changelogTables(CONTRACTS);

/** A codec that keeps every value in memory and frames it as its index: the pass's wire, minus Avro and the registry. */
export const memoryCodec = (): { codec: PassDeps['codec']; read: (b: Buffer) => Decoded } => {
  const values = new Map<string, Decoded>();
  const read = (b: Buffer): Decoded => {
    const d = values.get(b.toString());
    if (d === undefined) throw new Error(`no value ${b.toString()} in the memory codec`);
    return d;
  };
  return {
    codec: {
      registerAll: async () => undefined,
      // Deterministic as Avro is: the same record encodes to the same bytes whatever was encoded before, so a retry's fingerprint matches.
      encode: async (_topic, fullName, value) => {
        // The changelog's typed envelopes are checked against their Avro schema: a mapping that drifts fails here.
        if (fullName.startsWith('coord.v1.changelog.')) CONTRACTS.get(fullName)?.type.toBuffer(value);
        const key = `${fullName}/${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`;
        const id = createHash('sha1').update(key).digest('hex');
        if (!values.has(id)) values.set(id, { schemaId: 0, fullName, value: value as Record<string, unknown> });
        return Buffer.from(id);
      },
      decode: async (b) => {
        if (b === null) throw new Error('a null value reached the memory codec');
        return read(b);
      },
    },
    read,
  };
};

/** The records a batch of messages is on the log, encoded with `codec`, at offsets from `firstOffset` on (signed as `sign` says). */
export const toRecords = async (batch: readonly AnyMessage[], codec: PassDeps['codec'], firstOffset: number, sign?: PassOptions['sign']): Promise<RawRecord[]> => {
  const records: RawRecord[] = [];
  for (const [i, msg] of batch.entries()) {
    const kind = kindOfRecord(msg.type);
    if (kind === undefined) throw new Error(`${msg.type} is not part of the protocol`);
    const key = msg.key === null ? null : Buffer.from(msg.key);
    const value = await codec.encode(topicName(PREFIX, kind), msg.type, msg.value);
    const headers: Record<string, string> = {
      ...(msg.correlationId === undefined ? {} : { 'correlation-id': msg.correlationId }),
      ...(msg.replyTo === undefined ? {} : { 'reply-to': msg.replyTo }),
      ...(msg.deadlineMs === undefined ? {} : { 'deadline-ms': String(msg.deadlineMs) }),
    };
    const signer = sign?.(msg);
    records.push({
      topic: topicName(PREFIX, kind),
      partition: 0,
      offset: String(firstOffset + i),
      key,
      value,
      headers: signer === undefined ? headers : signer.sign(kind, key, value, headers),
      timestamp: String(msg.timestampMs),
    });
  }
  return records;
};

/**
 * Runs `history` as passes of one message each, then offers `when`. A history message that is
 * refused fails the test at once: a given that did not happen would make the `then` meaningless.
 */
export const given = (history: readonly Step[] = [], handlers: ReadonlyMap<string, Handler<never>> = handlerTable()): When => {
  const state = new WorkingState();
  const versioned = versionedEntities();
  const contexts: PassContext[] = [];
  let prev: PassContext = { snapshotId: 0n, snapshotTs: 0n, logTimeMs: 0 };

  const step = (s: Step): { decision: Decision; msg: AnyMessage } => {
    const msg = typeof s === 'function' ? s(state) : s;
    const handler = handlers.get(msg.type);
    if (handler === undefined) throw new Error(`no projection decides ${msg.type}; is it in PROJECTIONS?`);
    const logTimeMs = Math.max(prev.logTimeMs, msg.timestampMs);
    // As the pass does: after the previous snapshot and after every timestamp the oracle handed out.
    const high = oracleHighWater(state);
    const ctx: PassContext = { snapshotId: prev.snapshotId + 1n, snapshotTs: nextHybrid(high > prev.snapshotTs ? high : prev.snapshotTs, logTimeMs), logTimeMs };
    const decision = handler.decide(msg as Message<never>, state, ctx);
    // The pass's own steps: apply the decision, then close the snapshot (history versions, compaction).
    const before = new Map<string, Touched>();
    applyDecision(state, decision.changes, before);
    closeSnapshot(state, before, versioned, ctx.snapshotTs, decision.compactTo);
    contexts.push(ctx);
    prev = ctx;
    return { decision, msg };
  };

  history.forEach((s, i) => {
    const { decision, msg } = step(s);
    if (decision.reply !== null && decision.reply.status !== 'OK')
      throw new Error(`given step ${i + 1} (${msg.type}) was refused with ${decision.reply.status}: ${decision.reply.message}`);
  });

  const inOnePass = async (batch: readonly AnyMessage[], opts: PassOptions = {}): Promise<PassThen> => {
    const { sign } = opts;
    const { codec, read } = memoryCodec();
    const records = await toRecords(batch, codec, 0, sign);
    const deps: PassDeps = {
      codec,
      handlers,
      kindOf: (topic) => TOPIC_KINDS.find((k: TopicKind) => topicName(PREFIX, k) === topic),
      replyToProblem: (topic) => replyToProblem(PREFIX, topic),
      topics: {
        replies: topicName(PREFIX, 'replies'),
        dlq: topicName(PREFIX, 'dlq'),
        snapshots: topicName(PREFIX, 'snapshots'),
        changelog: topicName(PREFIX, 'changelog'),
        commands: topicName(PREFIX, 'worker-commands'),
      },
      versioned,
      remembered: async () => new Map(),
      // Nothing kept before the pass: the records are the pass's own (PassThen.explained).
      explained: async () => new Map(),
      liveness: livenessFields(),
      changelog: { prefix: PREFIX, tables: CHANGELOG_TABLES },
      generation: 1,
      published: opts.published,
    };
    const result = await runPass(records, state, { id: prev.snapshotId, ts: prev.snapshotTs, logTimeMs: prev.logTimeMs, digest: 0n }, deps);
    const outputs = result.outbox.records.map((r) => {
      if (r.value === null) return { topic: r.topic, key: r.key, type: 'tombstone', value: {}, headers: r.headers };
      const d = read(r.value);
      return { topic: r.topic, key: r.key, type: d.fullName, value: d.value, headers: r.headers };
    });
    return new PassThen(result, outputs, state);
  };

  return {
    when: (s) => new Then(step(s).decision, state, [...contexts]),
    whenInOnePass: inOnePass,
  };
};
