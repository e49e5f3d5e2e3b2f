import { strict as assert } from 'node:assert';
import { isCoordError } from '../../src/errors';
import { createRoleMachine, ROLE_TRANSITIONS, shownRole, type Role } from '../../src/engine/role';

const ROLES = Object.keys(ROLE_TRANSITIONS) as Role[];

/** A machine standing in `role`, reached by allowed moves only. */
const at = (role: Role) => {
  const path: Record<Role, Role[]> = {
    joining: [],
    standby: ['standby'],
    activating: ['activating'],
    active: ['activating', 'active'],
    stoodDown: ['activating', 'active', 'stoodDown'],
    stopped: ['stopped'],
  };
  const m = createRoleMachine();
  for (const r of path[role]) m.to(r);
  return m;
};

describe('the role state machine', () => {
  it('starts joining', () => assert.equal(createRoleMachine().current, 'joining'));

  it('goes joining → activating → active, as an instance assigned every partition does', () => {
    const m = createRoleMachine();
    m.to('activating');
    m.to('active');
    assert.ok(m.is('active'));
    assert.ok(m.is('standby', 'active'));
    assert.ok(!m.is('activating'));
  });

  it('refuses to serve without a catch-up: standby → active throws, and the role stays', () => {
    const m = at('standby');
    assert.throws(
      () => m.to('active'),
      (err: unknown) => isCoordError(err, 'ROLE_TRANSITION_INVALID') && !err.retriable && err.message.includes('standby to active') && err.message.includes('activating'),
    );
    assert.equal(m.current, 'standby');
  });

  it('lets a stood-down instance activate again, but never serve again directly', () => {
    const m = at('stoodDown');
    assert.throws(() => m.to('active'), (err: unknown) => isCoordError(err, 'ROLE_TRANSITION_INVALID'));
    m.to('activating');
    m.to('active');
  });

  it('leaves stopped for nothing', () => {
    for (const r of ROLES.filter((r) => r !== 'stopped')) assert.throws(() => at('stopped').to(r), (err: unknown) => isCoordError(err, 'ROLE_TRANSITION_INVALID'));
  });

  it('allows a stop, a consumer crash (joining) and a rebalance (standby, activating) from every live role', () => {
    for (const from of ROLES.filter((r) => r !== 'stopped')) for (const to of ['stopped', 'joining', 'standby', 'activating'] as const) at(from).to(to);
  });

  it('stands down only while it publishes (activating or active)', () => {
    const allowed = ROLES.filter((r) => ROLE_TRANSITIONS[r].includes('stoodDown'));
    assert.deepEqual(allowed.sort(), ['activating', 'active']);
  });

  it('tells every move to the observer, and not a stay', () => {
    const moves: string[] = [];
    const m = createRoleMachine('joining', (from, to) => moves.push(`${from}→${to}`));
    m.to('standby');
    m.to('standby');
    m.to('activating');
    assert.deepEqual(moves, ['joining→standby', 'standby→activating']);
  });

  it('shows a stood-down instance as activating and a stopped one as joining', () => {
    assert.equal(shownRole('stoodDown'), 'activating');
    assert.equal(shownRole('stopped'), 'joining');
    for (const r of ['joining', 'standby', 'activating', 'active'] as const) assert.equal(shownRole(r), r);
  });
});
