/**
 * A decision under construction: a decider that changes several entities, or one that calls
 * another projection's cleanup (a cascade, a dead worker), writes through a Draft and reads its
 * own writes before the pass applies them. Pure: it only collects.
 */
import type { Answer, Change, Command, Decision, Entity, Image, ReplyDraft, StateView } from './types';

const byKey = ([a]: readonly [string, Image], [b]: readonly [string, Image]): number => (a < b ? -1 : a > b ? 1 : 0);

export class Draft implements StateView {
  private readonly written = new Map<string, Map<string, Image | null>>();
  private readonly changes: Change[] = [];
  private readonly commands: Command[] = [];
  private readonly answers: Answer[] = [];
  private compactTo: bigint | undefined;

  constructor(private readonly base: StateView) {}

  // What the draft wrote under an entity is an image of that entity's type: the reads hand it on as such.
  get<I extends Image>(entity: Entity<I>, key: string): I | undefined {
    const mine = this.written.get(entity)?.get(key);
    return mine === undefined ? this.base.get(entity, key) : ((mine ?? undefined) as I | undefined);
  }

  list<I extends Image>(entity: Entity<I>): Iterable<readonly [string, I]> {
    const mine = this.written.get(entity);
    if (mine === undefined) return this.base.list(entity);
    const out = new Map<string, I>(this.base.list(entity));
    for (const [k, v] of mine) {
      if (v === null) out.delete(k);
      else out.set(k, v as I);
    }
    return [...out.entries()].sort(byKey);
  }

  getAt<I extends Image>(entity: Entity<I>, key: string, ts: bigint): I | undefined {
    return this.base.getAt(entity, key, ts);
  }

  listAt<I extends Image>(entity: Entity<I>, ts: bigint): Iterable<readonly [string, I]> {
    return this.base.listAt(entity, ts);
  }

  put<I extends Image>(entity: Entity<I>, key: string, image: NoInfer<I>): this {
    return this.record({ entity, key, image });
  }

  delete(entity: string, key: string): this {
    return this.get(entity, key) === undefined ? this : this.record({ entity, key, image: null });
  }

  command(workerId: string, type: string, value: Record<string, unknown>): this {
    this.commands.push({ workerId, type, value });
    return this;
  }

  answer(correlationId: string, replyTo: string, reply: ReplyDraft): this {
    this.answers.push({ correlationId, replyTo, reply });
    return this;
  }

  compact(ts: bigint): this {
    this.compactTo = ts;
    return this;
  }

  /** The decision: the writes in the order made, the commands and answers, and the reply. */
  decide(reply: ReplyDraft | null = null): Decision {
    return {
      changes: [...this.changes],
      reply,
      ...(this.answers.length > 0 ? { answers: [...this.answers] } : {}),
      ...(this.commands.length > 0 ? { commands: [...this.commands] } : {}),
      ...(this.compactTo !== undefined ? { compactTo: this.compactTo } : {}),
    };
  }

  private record(change: Change): this {
    let m = this.written.get(change.entity);
    if (m === undefined) {
      m = new Map();
      this.written.set(change.entity, m);
    }
    m.set(change.key, change.image);
    this.changes.push(change);
    return this;
  }
}
