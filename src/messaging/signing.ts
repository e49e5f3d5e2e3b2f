/**
 * Signed records: Kafka does not tell a consumer who produced a record, so a sender signs it.
 * The signature is Ed25519 over a canonical byte string (the topic's kind, the key, the value
 * and the headers the coordinator acts on), carried in two headers beside the key's id; the
 * public keys are registered on the log by admin requests, so a replay verifies with the same
 * keys and reaches the same verdicts, and no secret is ever on the log.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoordError } from '../errors';
import { H } from './headers';

/** Headers a signed record carries. */
export const SIGNATURE_HEADERS = Object.freeze({ keyId: 'signing-key-id', signature: 'signature' });

/** The headers the signature covers, besides the kind, the key and the value: those the coordinator acts on. */
const SIGNED_HEADERS = [H.correlationId, H.replyTo, H.deadlineMs, SIGNATURE_HEADERS.keyId] as const;

const DOMAIN = Buffer.from('coord-signature-v1');
const ABSENT = 0xffffffff;

/** An Ed25519 public key in DER (SPKI) is this prefix and the 32 raw bytes. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
export const PUBLIC_KEY_BYTES = 32;
/** A key id's longest form, and a signature's base64 length (64 bytes). */
export const MAX_KEY_ID_CHARS = 255;
const SIGNATURE_B64_CHARS = 88;

const field = (parts: Buffer[], v: Buffer | string | null | undefined): void => {
  const len = Buffer.alloc(4);
  if (v === null || v === undefined) {
    len.writeUInt32BE(ABSENT);
    parts.push(len);
    return;
  }
  const b = typeof v === 'string' ? Buffer.from(v) : v;
  len.writeUInt32BE(b.length);
  parts.push(len, b);
};

/**
 * The bytes a signature covers: each part length-prefixed (absent parts marked), so no two
 * records share them. The kind (`requests.query`), not the topic: the prefix is the deployment's.
 */
export const signedBytes = (kind: string, key: Buffer | string | null, value: Buffer | null, headers: Readonly<Record<string, string | undefined>>): Buffer => {
  const parts: Buffer[] = [DOMAIN];
  field(parts, kind);
  field(parts, key);
  field(parts, value);
  for (const h of SIGNED_HEADERS) field(parts, headers[h]);
  return Buffer.concat(parts);
};

export interface Signer {
  readonly keyId: string;
  /** The headers with the key id and the signature of the record added. */
  sign(kind: string, key: Buffer | string | null, value: Buffer | null, headers: Readonly<Record<string, string>>): Record<string, string>;
}

export const createSigner = (keyId: string, privateKey: KeyObject): Signer => {
  if (keyId === '' || keyId.length > MAX_KEY_ID_CHARS) throw new CoordError('CONFIG_INVALID', `a signing key id must have 1 to ${MAX_KEY_ID_CHARS} characters, got ${keyId.length}`);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new CoordError('CONFIG_INVALID', `signing key ${keyId} is ${privateKey.asymmetricKeyType ?? 'not an asymmetric key'}, not Ed25519`);
  return {
    keyId,
    sign: (kind, key, value, headers) => {
      const out: Record<string, string> = { ...headers, [SIGNATURE_HEADERS.keyId]: keyId };
      out[SIGNATURE_HEADERS.signature] = sign(null, signedBytes(kind, key, value, out), privateKey).toString('base64');
      return out;
    },
  };
};

/** A signer from a PEM (PKCS#8) private key file, as COORD_SIGNING_KEY names it. */
export const signerFromFile = (keyId: string, file: string): Signer => {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CoordError('CONFIG_INVALID', `cannot read the signing key ${file}: ${(err as Error).message}`);
  }
  try {
    return createSigner(keyId, createPrivateKey(pem));
  } catch (err) {
    throw new CoordError('CONFIG_INVALID', `${file} is not a PEM Ed25519 private key: ${(err as Error).message}`);
  }
};

/** A new key pair: the private key as PEM (PKCS#8), the public key as the base64 of its 32 bytes, as RegisterPrincipalKey takes it. */
export const generateSigningKey = (): { privateKeyPem: string; publicKey: string } => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKeyOf(publicKey) };
};

/** The base64 of an Ed25519 public key's 32 bytes (from a public or a private key). */
export const publicKeyOf = (key: KeyObject): string => {
  const der = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  return der.subarray(SPKI_PREFIX.length).toString('base64');
};

/** The public key of a PEM private key file, base64 (what `coordctl key register` sends). */
export const publicKeyOfFile = (file: string): string => publicKeyOf(createPrivateKey(readFileSync(file, 'utf8')));

/**
 * Verifies signatures with the keys the log registered. KeyObjects are kept per key id and
 * public key (at most `max`), so the hot path is one Ed25519 verify.
 */
export interface Verifier {
  /** Undefined when the record is signed by `publicKey`, else what is wrong. */
  check(publicKey: string, kind: string, key: Buffer | null, value: Buffer | null, headers: Readonly<Record<string, string>>): string | undefined;
  /** The same verdict, computed on libuv's thread pool: a pass verifies its records in parallel with its own work. */
  checkAsync(publicKey: string, kind: string, key: Buffer | null, value: Buffer | null, headers: Readonly<Record<string, string>>): Promise<string | undefined>;
}

export const createVerifier = (max = 1_024): Verifier => {
  const keys = new Map<string, KeyObject>();
  const keyObject = (publicKey: string): KeyObject => {
    let k = keys.get(publicKey);
    if (k === undefined) {
      if (keys.size >= max) keys.clear();
      k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKey, 'base64')]), format: 'der', type: 'spki' });
      keys.set(publicKey, k);
    }
    return k;
  };
  const malformed = (sig: string | undefined): string | undefined =>
    sig === undefined
      ? 'the record has no signature header'
      : sig.length !== SIGNATURE_B64_CHARS
        ? `the signature header has ${sig.length} characters, not the ${SIGNATURE_B64_CHARS} of a base64 Ed25519 signature`
        : undefined;
  const MISMATCH = 'the signature does not match the record (wrong key, or a record changed after it was signed)';
  return {
    check: (publicKey, kind, key, value, headers) => {
      const sig = headers[SIGNATURE_HEADERS.signature];
      const bad = malformed(sig);
      if (bad !== undefined) return bad;
      const ok = verify(null, signedBytes(kind, key, value, headers), keyObject(publicKey), Buffer.from(sig as string, 'base64'));
      return ok ? undefined : MISMATCH;
    },
    checkAsync: (publicKey, kind, key, value, headers) => {
      const sig = headers[SIGNATURE_HEADERS.signature];
      const bad = malformed(sig);
      if (bad !== undefined) return Promise.resolve(bad);
      return new Promise((resolve) =>
        verify(null, signedBytes(kind, key, value, headers), keyObject(publicKey), Buffer.from(sig as string, 'base64'), (err, ok) => resolve(err === null && ok ? undefined : MISMATCH)),
      );
    },
  };
};

/** The signer a configuration names (COORD_SIGNING_KEY and COORD_SIGNING_KEY_ID), or undefined: records go unsigned. */
export const signerFromConfig = (c: { readonly signingKey: string | undefined; readonly signingKeyId: string | undefined }): Signer | undefined =>
  c.signingKey === undefined || c.signingKeyId === undefined ? undefined : signerFromFile(c.signingKeyId, c.signingKey);

/** A record to produce, signed when there is a signer. */
export const signed = <M extends { readonly key: string | Buffer | null; readonly value: Buffer; readonly headers?: Record<string, string> }>(
  signer: Signer | undefined,
  kind: string,
  m: M,
): M => (signer === undefined ? m : { ...m, headers: signer.sign(kind, m.key, m.value, m.headers ?? {}) });
