/**
 * Fail points: named places in the engine where a fault test makes the coordinator crash (as
 * kill -9 would, at that very instruction), stall, or lose what reached it, armed by the
 * environment variable COORD_FAILPOINTS, e.g. `commit.before-publish=crash@20,activation.after-fence=pause:3000`.
 *
 * `crash` kills the process with SIGKILL; `pause:<ms>` blocks its one thread for that long (a
 * GC pause, a stopped VM); `lose` makes `failPoint` answer true, and the engine then loses what
 * reached the point, as the point's comment says; `@N` fires at the Nth time the point is
 * reached (the first by default), once. The arming is read once when the module loads, a process-wide fact like
 * the process's own signals (which is why this is the one module-level value of the engine);
 * unset, every `failPoint` call is a test of a constant `undefined` and nothing else.
 */
import { writeSync } from 'node:fs';

export const FAIL_POINTS = [
  /** A pass's snapshot is in RocksDB (state, offsets, outbox); nothing of it is published yet. */
  'commit.before-publish',
  /** A publication's transaction is committed on the broker; its outboxes are still in RocksDB. */
  'publish.before-outbox-clear',
  /** A catch-up (or rebuild) has folded some of the missing snapshots, not all. */
  'catch-up.mid',
  /** An activation has fenced every earlier producer and has not yet run a pass. */
  'activation.after-fence',
  /**
   * The consumer heard a heartbeat's answer from the group. With `lose`, the engine hears
   * nothing more from that consumer (no heartbeat, no join, no crash), as when kafkajs was seen
   * to wait silently after the group coordinator's broker died under a join.
   */
  'group.heartbeat',
] as const;

export type FailPointName = (typeof FAIL_POINTS)[number];

type Action = { readonly kind: 'crash' } | { readonly kind: 'lose' } | { readonly kind: 'pause'; readonly ms: number };

interface Armed {
  readonly action: Action;
  readonly at: number;
  hits: number;
}

/** Parses COORD_FAILPOINTS; a word it does not know is an error at start, never a point silently unarmed. */
export const parseFailPoints = (spec: string | undefined): Map<FailPointName, Armed> | undefined => {
  if (spec === undefined || spec.trim() === '') return undefined;
  const out = new Map<FailPointName, Armed>();
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^([a-z.-]+)=(crash|lose|pause:(\d+))(?:@(\d+))?$/.exec(part);
    const name = m?.[1] as FailPointName | undefined;
    if (m === null || name === undefined || !FAIL_POINTS.includes(name))
      throw new Error(`COORD_FAILPOINTS: cannot read "${part.slice(0, 64)}"; write <point>=crash|lose|pause:<ms>[@<nth hit>] with a point of ${FAIL_POINTS.join(', ')}`);
    const action: Action = m[2] === 'crash' || m[2] === 'lose' ? { kind: m[2] } : { kind: 'pause', ms: Number(m[3]) };
    out.set(name, { action, at: m[4] === undefined ? 1 : Math.max(1, Number(m[4])), hits: 0 });
  }
  return out;
};

const armed = parseFailPoints(process.env.COORD_FAILPOINTS);

/** Whether the point fired with `lose`. */
const fire = (name: FailPointName, point: Armed): boolean => {
  point.hits++;
  if (point.hits !== point.at) return false;
  // Said on stderr synchronously, so a test can tell a fail point's crash from any other death.
  writeSync(2, `${JSON.stringify({ level: 'warn', msg: 'fail point fired', point: name, action: point.action.kind, hit: point.hits })}\n`);
  if (point.action.kind === 'crash') process.kill(process.pid, 'SIGKILL');
  else if (point.action.kind === 'pause') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, point.action.ms);
  return point.action.kind === 'lose';
};

/** Reaches the named point: nothing at all unless COORD_FAILPOINTS armed it; true when it fired with `lose`. */
export const failPoint = (name: FailPointName): boolean => {
  if (armed === undefined) return false;
  const point = armed.get(name);
  return point !== undefined && fire(name, point);
};
