/** The vocabulary every projection speaks: messages in, decisions out. Pure data, no I/O. */

export type Status =
  | 'OK'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'CONFLICT'
  | 'ABORTED'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL';

/** Stages in processing order (DESIGN §4 step 3). */
export const STAGES = ['infrastructure', 'sessions', 'catalog', 'queries', 'system'] as const;
export type Stage = (typeof STAGES)[number];

/** A decoded input record as the deciders see it. */
export interface Message<V = Record<string, unknown>> {
  /** Full Avro record name, e.g. `coord.v1.CreateLogicalSource`. */
  readonly type: string;
  readonly value: V;
  readonly key: string | null;
  readonly correlationId: string | undefined;
  /** Log time of the record, in ms. */
  readonly timestampMs: number;
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

export type Image = { readonly [field: string]: Json };
export type Json = string | number | boolean | null | readonly Json[] | Image;

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

export interface Decision {
  readonly changes: readonly Change[];
  /** The reply to the message's sender; requests always get one, events usually none. */
  readonly reply: ReplyDraft | null;
}

/** Read access to the working snapshot, including the changes made earlier in the same pass. */
export interface StateView {
  get(entity: string, key: string): Image | undefined;
  list(entity: string): Iterable<readonly [string, Image]>;
}

export interface Handler<V = Record<string, unknown>> {
  readonly stage: Stage;
  decide(msg: Message<V>, state: StateView, ctx: PassContext): Decision;
}

/** One projection: the entities it owns and the record types it decides. */
export interface Projection {
  readonly name: string;
  readonly entities: readonly string[];
  readonly handlers: Readonly<Record<string, Handler<never>>>;
}

export const accept = (changes: readonly Change[], reply: ReplyDraft | null = null): Decision => ({ changes, reply });

export const reply = (status: Status, message: string, payload: Payload | null = null): ReplyDraft => ({ status, message, payload });

export const reject = (status: Exclude<Status, 'OK'>, message: string): Decision => ({ changes: [], reply: reply(status, message) });
