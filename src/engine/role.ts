/**
 * The roles a coordinator instance moves through, and the only moves allowed between them, in
 * one table (as kafkajs's transaction manager checks its moves against VALID_STATE_TRANSITIONS).
 * A move the table does not allow is a programming error: it throws, and is never retried.
 */
import { CoordError } from '../errors';

/**
 * - joining: not (yet) a member with an assignment: starting, or after the consumer crashed.
 * - standby: a member with nothing assigned; it follows the log (src/engine/follower.ts).
 * - activating: assigned every partition; catching up from the log before it serves.
 * - active: consuming, folding and publishing.
 * - stoodDown: a publication was given up because this instance may no longer be the active
 *   one; it folds nothing until a heartbeat or a rebalance says where it stands.
 * - stopped: closed, by request or after an error; nothing leaves it.
 */
export type Role = 'joining' | 'standby' | 'activating' | 'active' | 'stoodDown' | 'stopped';

/** The role a status shows (/metrics, the console): a stood-down instance is activating again, a stopped one is joining no group. */
export type ShownRole = 'joining' | 'standby' | 'activating' | 'active';

/**
 * Every move allowed. A rebalance can land in any role but stopped (the group assigns nothing or
 * everything); a crash of the consumer sends any of them back to joining; a stop ends every one.
 */
export const ROLE_TRANSITIONS: { readonly [from in Role]: readonly Role[] } = {
  joining: ['standby', 'activating', 'joining', 'stopped'],
  standby: ['standby', 'activating', 'joining', 'stopped'],
  activating: ['active', 'stoodDown', 'standby', 'activating', 'joining', 'stopped'],
  active: ['stoodDown', 'standby', 'activating', 'joining', 'stopped'],
  // The group confirms the membership (a heartbeat) or a rebalance assigns again: activating from RocksDB.
  stoodDown: ['activating', 'standby', 'joining', 'stopped'],
  stopped: ['stopped'],
};

export const shownRole = (role: Role): ShownRole => {
  switch (role) {
    case 'joining':
    case 'standby':
    case 'activating':
    case 'active':
      return role;
    case 'stoodDown':
      return 'activating';
    case 'stopped':
      return 'joining';
    default: {
      const never: never = role;
      return never;
    }
  }
};

export interface RoleMachine {
  readonly current: Role;
  /** Whether the role is one of `roles`. */
  is(...roles: readonly Role[]): boolean;
  /** Moves to `next`; throws ROLE_TRANSITION_INVALID when the table does not allow it. */
  to(next: Role): void;
}

export const createRoleMachine = (initial: Role = 'joining', onMove?: (from: Role, to: Role) => void): RoleMachine => {
  let current = initial;
  return {
    get current() {
      return current;
    },
    is: (...roles) => roles.includes(current),
    to: (next) => {
      if (!ROLE_TRANSITIONS[current].includes(next))
        throw new CoordError('ROLE_TRANSITION_INVALID', `a coordinator cannot move from ${current} to ${next}; from ${current} it may move to ${ROLE_TRANSITIONS[current].join(', ')}`);
      const from = current;
      current = next;
      if (from !== next) onMove?.(from, next);
    },
  };
};
