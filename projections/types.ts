/** The vocabulary every projection speaks: messages in, decisions out. Pure data, no I/O. */
import type { ProtocolRecords, RecordName, ReplyStatus } from './protocol.gen';

/**
 * The statuses a reply carries, as the ReplyStatus enum of schemas/coord.v1.Reply.avsc lists them:
 * the compiler checks each is one of its symbols, a unit spec that none is missing.
 */
export const REPLY_STATUSES = [
  'OK',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'FAILED_PRECONDITION',
  'RESOURCE_EXHAUSTED',
  'CONFLICT',
  'ABORTED',
  'DEADLINE_EXCEEDED',
  'INTERNAL',
  'PERMISSION_DENIED',
] as const satisfies readonly ReplyStatus[];
export type Status = (typeof REPLY_STATUSES)[number];

/** Stages in the order a pass decides them: infrastructure events and ticks, sessions, catalog, queries, system. */
export const STAGES = ['infrastructure', 'sessions', 'catalog', 'queries', 'system'] as const;
export type Stage = (typeof STAGES)[number];

/** A decoded input record as the deciders see it. */
export interface Message<V = Record<string, unknown>> {
  /** Full Avro record name, e.g. `coord.v1.CreateLogicalSource`. */
  readonly type: string;
  readonly value: V;
  readonly key: string | null;
  readonly correlationId: string | undefined;
  /** Where the reply goes; a decider that defers its reply keeps it with the correlation id. */
  readonly replyTo?: string;
  /** The request's `deadline-ms`, for a deferred reply that must not outlive it. */
  readonly deadlineMs?: number;
  /** Log time of the record, in ms. */
  readonly timestampMs: number;
  /**
   * Who sent it, as the messaging layer verified it; undefined when the deployment is not
   * secured, which counts as an admin (see projections/admin.ts).
   */
  readonly principal?: Principal;
}

/** A verified sender and the roles it holds (e.g. `admin`). */
export interface Principal {
  readonly name: string;
  readonly roles: readonly string[];
}

/** What the pass hands every decider: the log's clock and the snapshot being built. */
export interface PassContext {
  readonly snapshotId: bigint;
  /** Hybrid timestamp of the snapshot: physical ms << 18 | logical. */
  readonly snapshotTs: bigint;
  /** Log time of the pass: the newest record timestamp seen so far, never going back. */
  readonly logTimeMs: number;
}

/** One entity's new image, or its deletion (`image: null`). */
export interface Change {
  readonly entity: string;
  readonly key: string;
  readonly image: Image | null;
}

export type Image = { readonly [field: string]: Json | undefined };
export type Json = string | number | boolean | null | readonly Json[] | Image;

/**
 * An image's copy a decider sets fields on before it returns it: `const next: Mutable<I> = { ...image }`
 * then assignments keeps `{ ...image, field: v }`'s keys and order at under half its cost on a hot
 * path (V8 clones a plain spread fast, not one that overrides its keys).
 */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A typed reply payload: the Avro record name of the Reply's payload branch and its value. */
export interface Payload {
  readonly type: string;
  readonly value: Record<string, unknown>;
}

export interface ReplyDraft {
  readonly status: Status;
  readonly message: string;
  readonly payload: Payload | null;
}

/** The reply to an earlier request whose decider deferred it, addressed as that request asked. */
export interface Answer {
  readonly correlationId: string;
  readonly replyTo: string;
  readonly reply: ReplyDraft;
}

/** A record for one worker on `<prefix>.worker-commands`, keyed by the worker id. */
export interface Command {
  readonly workerId: string;
  /** Full Avro record name, e.g. `coord.v1.DeployFragment`. */
  readonly type: string;
  readonly value: Record<string, unknown>;
}

export interface Decision {
  readonly changes: readonly Change[];
  /**
   * The reply to the message's sender; requests always get one, events usually none. A request
   * whose reply is deferred gets `null` here and an Answer from a later decision.
   */
  readonly reply: ReplyDraft | null;
  readonly answers?: readonly Answer[];
  readonly commands?: readonly Command[];
  /** History versions that no read at or after this hybrid timestamp can reach are removed. */
  readonly compactTo?: bigint;
}

/**
 * An entity type's name, carrying the type of its images: `state.get(WORKER, id)` is a
 * `WorkerImage`. At run time it is the name (a string, as the store keys it); the image type
 * exists for the compiler only.
 */
export type Entity<I extends Image = Image> = string & { readonly __image?: I };

/** Names an entity type whose images are `I` (see projections/model.ts). */
export const entity = <I extends Image>(name: string): Entity<I> => name;

/**
 * Read access to the working snapshot, including the changes made earlier in the same pass.
 * Read through an `Entity<I>`, an image is an `I`; through a bare name, an `Image`.
 */
export interface StateView {
  get<I extends Image>(entity: Entity<I>, key: string): I | undefined;
  /** In key order. */
  list<I extends Image>(entity: Entity<I>): Iterable<readonly [string, I]>;
  /** A versioned entity's image as of the snapshot with hybrid timestamp `ts` (from the history). */
  getAt<I extends Image>(entity: Entity<I>, key: string, ts: bigint): I | undefined;
  /** A versioned entity's images as of `ts`, in key order. */
  listAt<I extends Image>(entity: Entity<I>, ts: bigint): Iterable<readonly [string, I]>;
}

export interface Handler<V = Record<string, unknown>> {
  readonly stage: Stage;
  /** True for a retry of a request whose deferred reply is still to come: its deadline is not checked again in the pass. */
  readonly waiting?: (msg: Message<V>, state: StateView) => boolean;
  /**
   * The entities and keys a message will read by key, so the pass reads them from the store in
   * one multi-get before deciding (an entity read through the store, see `onDemand`). Only a
   * hint: a read it does not name costs one more trip to the store, never a different answer.
   */
  readonly reads?: (value: V) => ReadonlyArray<readonly [entity: string, key: string]>;
  // A property, not a method: a handler of one record type cannot be taken for another's.
  readonly decide: (msg: Message<V>, state: StateView, ctx: PassContext) => Decision;
}

/**
 * A projection's handlers by record name, each deciding its record as schemas/ declare it
 * (projections/protocol.gen.ts): a handler under the wrong name, or of a value the record is
 * not, does not compile.
 */
export type HandlerMap = { readonly [R in RecordName]?: Handler<ProtocolRecords[R]> };

/** One projection: the entities it owns and the record types it decides. */
export interface Projection {
  readonly name: string;
  readonly entities: readonly string[];
  /** The entities whose every version is kept in the history, for reads `asOf` an earlier snapshot. */
  readonly versioned?: readonly string[];
  /**
   * The entities no decider lists whole, only reads by key (and a List request, which reads
   * them from the store): the coordinator keeps a bounded cache of their images and their
   * history in RocksDB only, so its memory and start-up do not grow with them.
   */
  readonly onDemand?: readonly string[];
  /**
   * Per entity, the fields of its image that only say it is alive (the time of its last
   * heartbeat). A change of only these is state like any other (the check loop reads it) and goes
   * to the entity's changelog table, but not to the deprecated JSON changelog.
   */
  readonly liveness?: Readonly<Record<string, readonly string[]>>;
  readonly handlers: Readonly<Record<string, Handler<never>>>;
}

export const accept = (changes: readonly Change[], reply: ReplyDraft | null = null): Decision => ({ changes, reply });

export const reply = (status: Status, message: string, payload: Payload | null = null): ReplyDraft => ({ status, message, payload });

export const reject = (status: Exclude<Status, 'OK'>, message: string): Decision => ({ changes: [], reply: reply(status, message) });

/** An optional Avro value as the codec wants it: null, or wrapped in its branch (`{ string: 'x' }`). */
export const wrap = <B extends string, T>(branch: B, v: T | null | undefined): { readonly [K in B]: T } | null =>
  // A computed key types as any string; it is `branch`, the one key the branch has.
  v === null || v === undefined ? null : ({ [branch]: v } as { readonly [K in B]: T });

/** An optional Avro value as the codec gives it: null, or the value inside its branch. */
export const unwrap = <T>(v: { readonly [branch: string]: T } | null | undefined): T | null => (v === null || v === undefined ? null : (Object.values(v)[0] ?? null));
