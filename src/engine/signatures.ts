/**
 * Who sent a record, as the log can prove it: while the settings require signatures, a record
 * must carry the id of a key registered on the log and a signature by it; the verified sender
 * becomes the message's `principal`, which owners and admin checks read. Pure: the verdict
 * depends on the record and on the state the log built (the keys, the settings) and nothing
 * else, so a replay reaches it again.
 */
import { PRINCIPAL_KEY, settingsOf, shown } from '../../projections/model';
import type { Principal, StateView } from '../../projections/types';
import { MAX_KEY_ID_CHARS, SIGNATURE_HEADERS, type Verifier } from '../messaging/signing';
import type { Envelope } from './decode';

export type SenderVerdict = { readonly ok: true; readonly principal: Principal | undefined } | { readonly ok: false; readonly reason: string };

const UNCHECKED: SenderVerdict = { ok: true, principal: undefined };

/** Kinds of record only a principal with one of these roles may write, whatever the ACLs say. */
const KIND_ROLES: Readonly<Partial<Record<string, readonly string[]>>> = { 'internal.ticks': ['coordinator', 'admin'] };

const refuse = (reason: string): SenderVerdict => ({ ok: false, reason });

/** Whether the state requires every input record to be signed. */
export const signaturesRequired = (state: StateView): boolean => settingsOf(state).signaturesRequired === 1;

/** Verdicts of signatures computed ahead, by record, with the public key each was checked against. */
export type Preverified = ReadonlyMap<Envelope, { readonly publicKey: string; readonly wrong: string | undefined }>;

/**
 * Checks the pass's signatures ahead, in parallel, against the keys registered before the pass:
 * a signature's verdict depends only on the key and the bytes, so `verifySender` takes it when the
 * key is still the same one when the record's turn comes (a key registered or revoked inside the
 * pass is checked again then, in order). Nothing when signatures are not required.
 */
export const preverify = async (envelopes: readonly Envelope[], kindOf: (topic: string) => string | undefined, state: StateView, verifier: Verifier): Promise<Preverified> => {
  const out = new Map<Envelope, { publicKey: string; wrong: string | undefined }>();
  if (!signaturesRequired(state)) return out;
  await Promise.all(
    envelopes.map(async (e) => {
      const keyId = e.headers[SIGNATURE_HEADERS.keyId];
      const key = keyId === undefined || keyId.length > MAX_KEY_ID_CHARS ? undefined : state.get(PRINCIPAL_KEY, keyId);
      if (key !== undefined) out.set(e, { publicKey: key.publicKey, wrong: await verifier.checkAsync(key.publicKey, kindOf(e.raw.topic) ?? '', e.raw.key, e.raw.value, e.headers) });
    }),
  );
  return out;
};

export const verifySender = (e: Envelope, kind: string | undefined, state: StateView, verifier: Verifier, ahead?: Preverified): SenderVerdict => {
  if (!signaturesRequired(state)) return UNCHECKED;
  const keyId = e.headers[SIGNATURE_HEADERS.keyId];
  if (keyId === undefined)
    return refuse(`unsigned: this deployment requires every record to be signed (signaturesRequired=1); sign with a registered key (COORD_SIGNING_KEY and COORD_SIGNING_KEY_ID)`);
  if (keyId.length > MAX_KEY_ID_CHARS) return refuse(`the ${SIGNATURE_HEADERS.keyId} header has ${keyId.length} characters, more than ${MAX_KEY_ID_CHARS}`);
  const key = state.get(PRINCIPAL_KEY, keyId);
  if (key === undefined) return refuse(`signing key ${shown(keyId)} is not registered (or was revoked); an admin registers keys with RegisterPrincipalKey`);
  const known = ahead?.get(e);
  const wrong = known !== undefined && known.publicKey === key.publicKey ? known.wrong : verifier.check(key.publicKey, kind ?? '', e.raw.key, e.raw.value, e.headers);
  if (wrong !== undefined) return refuse(`signed as principal ${key.principal} with key ${keyId}, but ${wrong}`);
  const needs = kind === undefined ? undefined : KIND_ROLES[kind];
  if (needs !== undefined && !needs.some((r) => key.roles.includes(r))) return refuse(`principal ${key.principal} may not write ${kind} records: that needs the ${needs.join(' or ')} role`);
  return { ok: true, principal: { name: key.principal, roles: key.roles } };
};
