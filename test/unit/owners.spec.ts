import { strict as assert } from 'node:assert';
import { createPrivateKey } from 'node:crypto';
import { PRINCIPAL_KEY, QUERY, READ_HOLD, SESSION, WORKER } from '../../projections/model';
import { createSigner, createVerifier, generateSigningKey, signedBytes, type Signer } from '../../src/messaging/signing';
import {
  acquireReadHold,
  as,
  createLogicalSource,
  createQuery,
  createSink,
  dropQuery,
  field,
  fragmentStatus,
  given,
  registerPrincipalKey,
  releaseReadHold,
  revokePrincipalKey,
  sessionClosed,
  sessionOpened,
  startQuery,
  stopQuery,
  T0,
  tick,
  updateSettings,
  workerHeartbeat,
  workerRegistered,
} from '../support/given';

const ADMIN = as('root', 'admin');
const ALICE = as('alice', 'frontend');
const BOB = as('bob', 'frontend');

const catalog = [tick(T0), createLogicalSource('cars', [field('id', 'INT64')]), createSink('out')];

describe('owners: sessions, queries, holds and workers belong to a verified principal', () => {
  describe('queries', () => {
    it('records the principal that created a query as its owner', () =>
      given(catalog).when(createQuery('q1', ALICE)).thenReplies('OK').thenField(QUERY, 'q1', 'owner', 'alice'));

    it('records no owner without a verified principal (signatures off), so images stay as before', () =>
      given(catalog).when(createQuery('q1')).thenReplies('OK').thenField(QUERY, 'q1', 'owner', undefined));

    it('refuses another principal stopping the query with PERMISSION_DENIED, naming the owner', () =>
      given([...catalog, createQuery('q1', ALICE)]).when(stopQuery('q1', BOB)).thenReplies('PERMISSION_DENIED', 'bob', 'alice').thenChanges(0));

    it('refuses another principal dropping the query', () => given([...catalog, createQuery('q1', ALICE)]).when(dropQuery('q1', BOB)).thenReplies('PERMISSION_DENIED', 'drop query q1'));

    it('lets the owner drop its query', () => given([...catalog, createQuery('q1', ALICE)]).when(dropQuery('q1', ALICE)).thenReplies('OK').thenState(QUERY, 'q1', undefined));

    it('lets an admin drop anyone’s query', () => given([...catalog, createQuery('q1', ALICE)]).when(dropQuery('q1', ADMIN)).thenReplies('OK'));

    it('lets only an admin touch a query made before signatures were required (no owner)', () => {
      given([...catalog, createQuery('q1')]).when(dropQuery('q1', ALICE)).thenReplies('PERMISSION_DENIED', 'no principal');
      given([...catalog, createQuery('q1')]).when(dropQuery('q1', ADMIN)).thenReplies('OK');
    });

    it('still answers NOT_FOUND for a query that does not exist', () => given(catalog).when(stopQuery('nope', BOB)).thenReplies('NOT_FOUND'));
  });

  describe('sessions', () => {
    it('records the principal that opened a session', () => given([tick(T0)]).when(sessionOpened('s1', ALICE)).thenField(SESSION, 's1', 'owner', 'alice'));

    it('refuses another principal closing the session: the session stays OPEN', () =>
      given([tick(T0), sessionOpened('s1', ALICE)]).when(sessionClosed('s1', BOB)).thenReplies('PERMISSION_DENIED', 'close session s1').thenField(SESSION, 's1', 'state', 'OPEN'));

    it('lets the owner close it', () => given([tick(T0), sessionOpened('s1', ALICE)]).when(sessionClosed('s1', ALICE)).thenField(SESSION, 's1', 'state', 'CLOSED'));
  });

  describe('read holds', () => {
    it('records the owner, refuses another principal releasing or renewing it, and lets the owner release it', () => {
      const history = [tick(T0), acquireReadHold('audit', ALICE)];
      given(history).when(releaseReadHold('audit', BOB)).thenReplies('PERMISSION_DENIED', 'release read hold audit').thenField(READ_HOLD, 'audit', 'owner', 'alice');
      given(history).when(acquireReadHold('audit', BOB)).thenReplies('PERMISSION_DENIED', 'renew read hold audit');
      given(history).when(acquireReadHold('audit', ALICE)).thenReplies('OK').thenField(READ_HOLD, 'audit', 'owner', 'alice');
      given(history).when(releaseReadHold('audit', ALICE)).thenReplies('OK').thenState(READ_HOLD, 'audit', undefined);
    });
  });

  describe('workers: one cannot speak for another', () => {
    const WA = as('worker-a', 'worker');
    const WB = as('worker-b', 'worker');
    const registered = [tick(T0), workerRegistered('w1', WA)];

    it('records the principal that registered the worker', () => given([tick(T0)]).when(workerRegistered('w1', WA)).thenField(WORKER, 'w1', 'owner', 'worker-a'));

    it('refuses a heartbeat for w1 from another worker principal: its last heartbeat does not move', () =>
      given(registered)
        .when(workerHeartbeat('w1', { ...WB, timestampMs: T0 + 5_000 }))
        .thenReplies('PERMISSION_DENIED', 'worker-b', 'speak for worker w1')
        .thenField(WORKER, 'w1', 'lastHeartbeatMs', T0));

    it('refuses a new registration of w1 by another principal', () =>
      given(registered).when(workerRegistered('w1', { ...WB, incarnation: 'other' })).thenReplies('PERMISSION_DENIED').thenField(WORKER, 'w1', 'owner', 'worker-a'));

    it('refuses a fragment report for w1 from another principal', () =>
      given(registered).when(fragmentStatus('w1', 'q1', 'q1#1-0', 'FAILED', { ...WB })).thenReplies('PERMISSION_DENIED'));

    it('takes the owner’s own heartbeat', () =>
      given(registered)
        .when(workerHeartbeat('w1', { ...WA, timestampMs: T0 + 5_000 }))
        .thenField(WORKER, 'w1', 'lastHeartbeatMs', T0 + 5_000));
  });
});

describe('keys: registered and revoked by admins, on the log', () => {
  it('registers a key with its principal and sorted roles', () =>
    given([tick(T0)])
      .when(registerPrincipalKey('alice-1', 'alice', ['worker', 'frontend'], ADMIN))
      .thenReplies('OK', 'registered key alice-1 of principal alice')
      .thenField(PRINCIPAL_KEY, 'alice-1', 'roles', ['frontend', 'worker']));

  it('refuses a principal without the admin role', () => given([tick(T0)]).when(registerPrincipalKey('k', 'bob', ['admin'], BOB)).thenReplies('PERMISSION_DENIED', 'admin'));

  it('refuses a public key that is not 32 bytes of base64', () => given([tick(T0)]).when(registerPrincipalKey('k', 'bob', [], { publicKey: 'abc' })).thenReplies('INVALID_ARGUMENT', 'publicKey'));

  it('answers OK for the same key again, and ALREADY_EXISTS for another key under the id', () => {
    const other = Buffer.alloc(32, 2).toString('base64');
    given([tick(T0), registerPrincipalKey('k', 'bob')]).when(registerPrincipalKey('k', 'bob')).thenReplies('OK', 'already registered').thenChanges(0);
    given([tick(T0), registerPrincipalKey('k', 'bob')]).when(registerPrincipalKey('k', 'bob', [], { publicKey: other })).thenReplies('ALREADY_EXISTS', 'never reused');
  });

  it('revokes a key, and answers NOT_FOUND for one not registered', () => {
    given([tick(T0), registerPrincipalKey('k', 'bob')]).when(revokePrincipalKey('k')).thenReplies('OK').thenState(PRINCIPAL_KEY, 'k', undefined);
    given([tick(T0)]).when(revokePrincipalKey('k')).thenReplies('NOT_FOUND');
  });

  it('refuses to require signatures while no admin key is registered: nobody could sign again', () =>
    given([tick(T0), registerPrincipalKey('k', 'bob', ['frontend'])]).when(updateSettings({ signaturesRequired: 1 })).thenReplies('FAILED_PRECONDITION', 'admin role'));

  it('requires signatures once an admin key is registered, and keeps the last admin key while they are', () => {
    const on = [tick(T0), registerPrincipalKey('root-1', 'root', ['admin']), updateSettings({ signaturesRequired: 1 })];
    given(on.slice(0, 2)).when(updateSettings({ signaturesRequired: 1 })).thenReplies('OK', 'signaturesRequired 0 → 1');
    given(on).when(revokePrincipalKey('root-1', ADMIN)).thenReplies('FAILED_PRECONDITION', 'last key with the admin role');
  });

  it('leaves the settings image as before signatures existed while they are never required (old logs replay to the same digests)', () =>
    given([tick(T0)]).when(updateSettings({ maxAllocations: 64 })).thenField('settings', 'current', 'signaturesRequired', undefined));
});

describe('signatures: the pass verifies the sender with the keys on the log', () => {
  const root = generateSigningKey();
  const alice = generateSigningKey();
  const bob = generateSigningKey();
  const signer = (keyId: string, pem: string): Signer => createSigner(keyId, createPrivateKey(pem));
  const ROOT = signer('root-1', root.privateKeyPem);
  const ALICE_KEY = signer('alice-1', alice.privateKeyPem);
  const BOB_KEY = signer('bob-1', bob.privateKeyPem);
  const keys = [
    tick(T0),
    registerPrincipalKey('root-1', 'root', ['admin', 'coordinator'], { publicKey: root.publicKey }),
    registerPrincipalKey('alice-1', 'alice', ['frontend'], { publicKey: alice.publicKey }),
    registerPrincipalKey('bob-1', 'bob', ['frontend'], { publicKey: bob.publicKey }),
  ];
  const secured = [...keys, updateSettings({ signaturesRequired: 1 }), createLogicalSource('cars', [field('id', 'INT64')]), createSink('out')];
  /** The pass's records all signed by `s` (none: unsigned). */
  const by = (s: Signer | undefined) => ({ sign: () => s });

  it('refuses an unsigned request with PERMISSION_DENIED and a SIGNATURE_REFUSED DLQ record, and changes nothing', async () => {
    const t = await given(secured).whenInOnePass([createQuery('q1', { correlationId: 'c1' })]);
    t.thenRepliesTo('c1', 'PERMISSION_DENIED', 'unsigned').thenState(QUERY, 'q1', undefined);
    assert.deepStrictEqual(t.result.dlq, { SIGNATURE_REFUSED: 1 });
  });

  it('takes a signed request and records its verified principal as the owner', async () => {
    const t = await given(secured).whenInOnePass([createQuery('q1', { correlationId: 'c1' })], by(ALICE_KEY));
    t.thenRepliesTo('c1', 'OK').thenField(QUERY, 'q1', 'owner', 'alice');
  });

  it('refuses a record changed after it was signed', async () => {
    const tampering: Signer = { keyId: 'alice-1', sign: (kind, key, _value, h) => ALICE_KEY.sign(kind, key, Buffer.from('something else'), h) };
    const t = await given(secured).whenInOnePass([createQuery('q1', { correlationId: 'c1' })], by(tampering));
    t.thenRepliesTo('c1', 'PERMISSION_DENIED', 'does not match').thenState(QUERY, 'q1', undefined);
  });

  it('refuses a signature by one key under another key id (bob cannot sign as alice)', async () => {
    const posing: Signer = { keyId: 'alice-1', sign: (kind, key, value, h) => ({ ...BOB_KEY.sign(kind, key, value, { ...h, 'signing-key-id': 'alice-1' }), 'signing-key-id': 'alice-1' }) };
    const t = await given(secured).whenInOnePass([createQuery('q1', { correlationId: 'c1' })], by(posing));
    t.thenRepliesTo('c1', 'PERMISSION_DENIED', 'does not match');
  });

  it('refuses a key that is not registered, or was revoked', async () => {
    const stranger = signer('eve-1', generateSigningKey().privateKeyPem);
    (await given(secured).whenInOnePass([createQuery('q1', { correlationId: 'c1' })], by(stranger))).thenRepliesTo('c1', 'PERMISSION_DENIED', 'not registered');
    const revoked = await given([...secured, revokePrincipalKey('alice-1', ADMIN)]).whenInOnePass([createQuery('q1', { correlationId: 'c1' })], by(ALICE_KEY));
    revoked.thenRepliesTo('c1', 'PERMISSION_DENIED', 'not registered');
  });

  it('answers a frontend stopping another’s query PERMISSION_DENIED, with a DLQ record; an admin may', async () => {
    const history = [...secured, createQuery('q1', ALICE)];
    const t = await given(history).whenInOnePass([stopQuery('q1', { correlationId: 'c1' })], by(BOB_KEY));
    t.thenRepliesTo('c1', 'PERMISSION_DENIED', 'bob', 'alice');
    assert.deepStrictEqual(t.result.dlq, { PERMISSION_DENIED: 1 });
    (await given(history).whenInOnePass([dropQuery('q1', { correlationId: 'c2' })], by(ROOT))).thenRepliesTo('c2', 'OK');
  });

  it('refuses a tick signed by a principal without the coordinator role', async () => {
    const t = await given(secured).whenInOnePass([tick(T0 + 60_000)], by(ALICE_KEY));
    assert.deepStrictEqual(t.result.dlq, { SIGNATURE_REFUSED: 1 });
    const ok = await given(secured).whenInOnePass([tick(T0 + 60_000)], by(ROOT));
    assert.deepStrictEqual(ok.result.dlq, {});
  });

  it('verifies a key registered earlier in the same pass, in the pass’s order', async () => {
    const carol = generateSigningKey();
    const t = await given(secured).whenInOnePass(
      [startQuery('none', { correlationId: 'c0' }), registerPrincipalKey('carol-1', 'carol', [], { publicKey: carol.publicKey, correlationId: 'c1' })],
      { sign: (m) => (m.type === 'coord.v1.RegisterPrincipalKey' ? ROOT : signer('carol-1', carol.privateKeyPem)) },
    );
    t.thenRepliesTo('c1', 'OK').thenRepliesTo('c0', 'NOT_FOUND');
  });

  it('checks nothing while signatures are not required', async () => {
    const t = await given([...keys, createLogicalSource('cars', [field('id', 'INT64')]), createSink('out')]).whenInOnePass([createQuery('q1', { correlationId: 'c1' })]);
    t.thenRepliesTo('c1', 'OK').thenField(QUERY, 'q1', 'owner', undefined);
  });

  it('signs distinct bytes for distinct records (lengths prefix every part)', () => {
    assert.notDeepStrictEqual(signedBytes('k', 'ab', Buffer.from('c'), {}), signedBytes('k', 'a', Buffer.from('bc'), {}));
    assert.notDeepStrictEqual(signedBytes('k', null, null, {}), signedBytes('k', '', Buffer.alloc(0), {}));
    assert.notDeepStrictEqual(signedBytes('k', 'a', null, { 'reply-to': 'x' }), signedBytes('k', 'a', null, { 'reply-to': 'y' }));
  });

  it('verifies with a cached key: a bad signature length is refused before any verify', () => {
    const v = createVerifier();
    const h = ALICE_KEY.sign('requests.query', 'q', Buffer.from('v'), {});
    assert.equal(v.check(alice.publicKey, 'requests.query', Buffer.from('q'), Buffer.from('v'), h), undefined);
    assert.match(v.check(alice.publicKey, 'requests.query', Buffer.from('q'), Buffer.from('v'), { ...h, signature: 'AAAA' }) ?? '', /characters/);
  });
});
