/**
 * Given/when/then for pure deciders: each message runs through the real handler table onto a
 * WorkingState, one pass per message, with the snapshot id and hybrid ts the pass would give it.
 */
import { strict as assert } from 'node:assert';
import { handlerTable, type Change, type Decision, type Handler, type Image, type Message, type PassContext, type Payload, type Status } from '../../projections';
import type { CreateLogicalSource, DropLogicalSource, FieldSpec, GetLogicalSource } from '../../projections/catalog/logical-sources';
import type { WorkerRegistered } from '../../projections/workers/workers';
import { nextHybrid, WorkingState } from '../../src/engine/state';

/** Log time of every built message unless a test names another: a fixed instant, so runs repeat. */
export const T0 = 1_700_000_000_000;

export interface MessageOptions {
  readonly correlationId?: string;
  readonly timestampMs?: number;
}

const message = <V>(type: string, value: V, key: string | null, opts: MessageOptions): Message<V> => ({
  type,
  value,
  key,
  correlationId: opts.correlationId ?? `c-${type}-${key ?? ''}`,
  timestampMs: opts.timestampMs ?? T0,
});

export const field = (name: string, type = 'string'): FieldSpec => ({ name, type });

export const createLogicalSource = (name: string, fields: readonly FieldSpec[] = [field('id')], opts: MessageOptions = {}): Message<CreateLogicalSource> =>
  message('coord.v1.CreateLogicalSource', { name, fields }, name, opts);

export const getLogicalSource = (name: string, opts: MessageOptions = {}): Message<GetLogicalSource> =>
  message('coord.v1.GetLogicalSource', { name }, name, opts);

export const dropLogicalSource = (name: string, opts: MessageOptions & { cascade?: boolean } = {}): Message<DropLogicalSource> =>
  message('coord.v1.DropLogicalSource', { name, cascade: opts.cascade ?? false }, name, opts);

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

/** A Tick at log time `atMs`, with the default thresholds (suspect 5 s, dead 15 s, sessions 30 s) unless given. */
export const tick = (atMs: number, opts: { suspectMs?: number; timeoutMs?: number; sessionTimeoutMs?: number } = {}): Message<unknown> =>
  message(
    'coord.v1.Tick',
    { tickMs: BigInt(atMs), workerSuspectMs: BigInt(opts.suspectMs ?? 5_000), workerTimeoutMs: BigInt(opts.timeoutMs ?? 15_000), sessionTimeoutMs: BigInt(opts.sessionTimeoutMs ?? 30_000) },
    null,
    { timestampMs: atMs },
  );

export const sessionOpened = (sessionId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.SessionOpened', { sessionId, client: 'test' }, sessionId, opts);
export const sessionHeartbeat = (sessionId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.SessionHeartbeat', { sessionId }, sessionId, opts);
export const sessionClosed = (sessionId: string, opts: MessageOptions = {}): Message<unknown> => message('coord.v1.SessionClosed', { sessionId }, sessionId, opts);

type AnyMessage = Message<unknown>;

/** What one message did: the decision, the context it was decided in, and the state after it. */
export class Then {
  constructor(
    readonly decision: Decision,
    readonly state: WorkingState,
    /** The context of every step, the given ones first and the `when` last. */
    readonly contexts: readonly PassContext[],
  ) {}

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

  /** The reply carries exactly this payload (`null`: none). */
  thenPayload(expected: Payload | null): this {
    assert.ok(this.decision.reply !== null, 'expected a reply with a payload, got no reply');
    assert.deepStrictEqual(this.decision.reply.payload, expected);
    return this;
  }

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

  /** The decision changed this many entities, or exactly these. */
  thenChanges(expected: number | readonly Change[]): this {
    if (typeof expected === 'number') assert.equal(this.decision.changes.length, expected, `expected ${expected} changes, got ${JSON.stringify(this.decision.changes)}`);
    else assert.deepStrictEqual(this.decision.changes, expected);
    return this;
  }
}

export interface When {
  when(msg: AnyMessage): Then;
}

/**
 * Runs `history` as passes of one message each, then offers `when`. A history message that is
 * refused fails the test at once: a given that did not happen would make the `then` meaningless.
 */
export const given = (history: readonly AnyMessage[] = [], handlers: ReadonlyMap<string, Handler<never>> = handlerTable()): When => {
  const state = new WorkingState();
  const contexts: PassContext[] = [];
  let prev: PassContext = { snapshotId: 0n, snapshotTs: 0n, logTimeMs: 0 };

  const step = (msg: AnyMessage): Decision => {
    const handler = handlers.get(msg.type);
    if (handler === undefined) throw new Error(`no projection decides ${msg.type}; is it in PROJECTIONS?`);
    const logTimeMs = Math.max(prev.logTimeMs, msg.timestampMs);
    const ctx: PassContext = { snapshotId: prev.snapshotId + 1n, snapshotTs: nextHybrid(prev.snapshotTs, logTimeMs), logTimeMs };
    const decision = handler.decide(msg as Message<never>, state, ctx);
    for (const c of decision.changes) state.apply(c);
    contexts.push(ctx);
    prev = ctx;
    return decision;
  };

  history.forEach((msg, i) => {
    const { reply } = step(msg);
    if (reply !== null && reply.status !== 'OK')
      throw new Error(`given step ${i + 1} (${msg.type}) was refused with ${reply.status}: ${reply.message}`);
  });

  return {
    when: (msg) => new Then(step(msg), state, [...contexts]),
  };
};
