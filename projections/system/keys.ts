/**
 * The principals' public keys, registered and revoked by admin requests. The fold verifies every
 * signed record with the key its `signing-key-id` names, as the log registered it at that point,
 * so a replay reaches the same verdicts; only public keys are ever on the log.
 */
import { adminOnly, ADMIN_ROLE } from '../admin';
import { each, nameProblem, PRINCIPAL_KEY, settingsOf, shown, type PrincipalKeyImage } from '../model';
import type { RegisterPrincipalKey, RevokePrincipalKey } from '../protocol.gen';
import { accept, reject, reply, type Decision, type Handler, type StateView } from '../types';

/** Roles one key may carry. */
export const MAX_ROLES = 16;

/** An Ed25519 public key as base64: 32 bytes are 43 characters and one `=`. */
const ED25519_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** The registered keys that carry the admin role. */
export const adminKeys = (state: StateView): PrincipalKeyImage[] => each(state, PRINCIPAL_KEY).filter((k) => k.roles.includes(ADMIN_ROLE));

const describe = (k: PrincipalKeyImage): string => `key ${k.keyId} of principal ${k.principal} (roles ${k.roles.length === 0 ? 'none' : k.roles.join(', ')})`;

export const registerPrincipalKey: Handler<RegisterPrincipalKey> = {
  // With the settings, first in the pass: a key and the records it signs may arrive in one batch.
  stage: 'infrastructure',
  decide: (msg, state, ctx): Decision => {
    const denied = adminOnly(msg, 'register keys');
    if (denied !== undefined) return denied;
    const v = msg.value;
    const bad =
      nameProblem('key id', v.keyId) ??
      nameProblem('principal', v.principal) ??
      (v.roles.length > MAX_ROLES ? `a key carries at most ${MAX_ROLES} roles, got ${v.roles.length}` : undefined) ??
      v.roles.map((r) => nameProblem('role', r)).find((p) => p !== undefined) ??
      (ED25519_BASE64.test(v.publicKey) ? undefined : `publicKey must be an Ed25519 public key as the base64 of its 32 bytes (44 characters), got ${shown(v.publicKey)}`);
    if (bad !== undefined) return reject('INVALID_ARGUMENT', bad);
    const image: PrincipalKeyImage = { keyId: v.keyId, principal: v.principal, roles: [...new Set(v.roles)].sort(), publicKey: v.publicKey, registeredAtTs: ctx.snapshotTs.toString() };
    const existing = state.get(PRINCIPAL_KEY, v.keyId);
    if (existing !== undefined) {
      const same = existing.principal === image.principal && existing.publicKey === image.publicKey && existing.roles.join() === image.roles.join();
      return same
        ? accept([], reply('OK', `${describe(existing)} is already registered`))
        : reject('ALREADY_EXISTS', `key id ${v.keyId} is already registered to another key or principal; a key id is never reused: register the new key under a new id, then revoke the old one`);
    }
    return accept([{ entity: PRINCIPAL_KEY, key: v.keyId, image }], reply('OK', `registered ${describe(image)}`));
  },
};

export const revokePrincipalKey: Handler<RevokePrincipalKey> = {
  stage: 'infrastructure',
  decide: (msg, state): Decision => {
    const denied = adminOnly(msg, 'revoke keys');
    if (denied !== undefined) return denied;
    const k = state.get(PRINCIPAL_KEY, msg.value.keyId);
    if (k === undefined) return reject('NOT_FOUND', `key ${shown(msg.value.keyId)} is not registered`);
    if (settingsOf(state).signaturesRequired === 1 && k.roles.includes(ADMIN_ROLE) && adminKeys(state).length === 1)
      return reject('FAILED_PRECONDITION', `key ${k.keyId} is the last key with the admin role while signatures are required: register another admin key first`);
    return accept([{ entity: PRINCIPAL_KEY, key: k.keyId, image: null }], reply('OK', `revoked ${describe(k)}; records signed with it are refused from now on`));
  },
};
