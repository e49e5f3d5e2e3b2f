/**
 * The Confluent-compatible Schema Registry, as the coordinator uses it. Fetching a writer's
 * schema by id goes through @kafkajs/confluent-schema-registry (its cache, its one request per
 * cold id, its retries); registering, and the three calls that library has no method for (the
 * subjects of an id, the global compatibility, the list of subjects), are plain HTTP here. See
 * README, "Why the registry library, and where not".
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';
import { CoordError, errorMessage, isCoordError } from '../errors';

export interface RegistryClient {
  /** Registers (or finds) `schema` under `subject`; returns its global id. */
  register(subject: string, schema: string): Promise<number>;
  /** The schema text of a global id; concurrent look-ups of one id share one request. */
  schemaById(id: number): Promise<string>;
  /**
   * The subjects a global id is registered under (`GET /schemas/ids/{id}/versions`); concurrent
   * look-ups of one id share one request. Not cached: a subject may register the id at any time.
   */
  subjectsOfId(id: number): Promise<string[]>;
  setCompatibility(level: 'BACKWARD' | 'FORWARD' | 'FULL' | 'NONE'): Promise<void>;
  subjects(): Promise<string[]>;
}

export interface RegistryOptions {
  readonly url: string;
  /** `user:password` for basic auth. */
  readonly auth?: string;
  readonly timeoutMs?: number;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export const createRegistryClient = (opts: RegistryOptions): RegistryClient => {
  const base = opts.url.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { 'Content-Type': CONTENT_TYPE, Accept: CONTENT_TYPE };
  if (opts.auth !== undefined) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;

  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new CoordError('SCHEMA_REGISTRY', `schema registry at ${base} did not answer ${method} ${path}: ${(err as Error).message}`, {
        retriable: true,
        cause: err,
      });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      json = { message: text };
    }
    if (res.ok) return json;
    const detail = (json as { message?: string }).message ?? text;
    const errorCode = (json as { error_code?: number }).error_code;
    if (res.status === 404 && errorCode === 40403)
      throw new CoordError('SCHEMA_UNKNOWN', `schema registry has no such schema (${method} ${path}): ${detail}`);
    if (res.status === 401 || res.status === 403)
      throw new CoordError('SCHEMA_REGISTRY_FORBIDDEN', `schema registry refused ${method} ${path} with ${res.status} (${res.status === 401 ? 'no or wrong credentials' : 'this principal may not'}): ${detail}`);
    throw new CoordError('SCHEMA_REGISTRY', `schema registry refused ${method} ${path} with ${res.status}: ${detail}`, {
      retriable: res.status >= 500 || res.status === 429,
    });
  };

  const [user, ...password] = opts.auth?.split(':') ?? [];
  const library = new SchemaRegistry({
    host: base,
    clientId: 'coord',
    auth: opts.auth === undefined ? undefined : { username: user ?? '', password: password.join(':') },
    // A few quick retries of a registry that stumbles; a longer outage is the caller's to retry, visibly.
    retry: { retries: 2, initialRetryTimeInSecs: 0.1, maxRetryTimeInSecs: 1 },
    middlewares: [TimeoutMiddleware(timeoutMs)],
  });
  /** What the library threw, as our error: its HTTP failures carry `status` (mappersmith answers a timeout or a refused connection with 400). */
  const fromLibrary = (what: string, err: unknown): CoordError => {
    const status = (err as { status?: unknown }).status;
    if (typeof status !== 'number') return new CoordError('SCHEMA_INVALID', `${what}: ${errorMessage(err)}`, { cause: err });
    if (status === 404 && what.startsWith('schema id')) return new CoordError('SCHEMA_UNKNOWN', `schema registry has no ${what}: ${errorMessage(err)}`, { cause: err });
    const refused = status >= 401 && status < 500 && status !== 408 && status !== 429;
    return new CoordError('SCHEMA_REGISTRY', `schema registry at ${base} ${refused ? `refused ${what} with ${status}` : `did not answer ${what}`}: ${errorMessage(err)}`, { retriable: !refused, cause: err });
  };

  const subjectsInFlight = new Map<number, Promise<string[]>>();

  return {
    // Not through the library: its register() compares the subject's own compatibility with one it expects and refuses
    // any difference, and Apicurio answers NONE for a subject with no setting of its own (the global BACKWARD applies).
    register: async (subject, schema) => {
      let out: { id?: unknown };
      try {
        out = (await call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema, schemaType: 'AVRO' })) as { id?: unknown };
      } catch (err) {
        if (!isCoordError(err, 'SCHEMA_REGISTRY_FORBIDDEN')) throw err;
        // A read-only producer (a secured registry's frontend or worker) may not register, but may
        // look up the schema the admin or the coordinator registered under the subject.
        out = (await call('POST', `/subjects/${encodeURIComponent(subject)}`, { schema, schemaType: 'AVRO' }).catch((lookupErr: unknown) => {
          throw isCoordError(lookupErr, 'SCHEMA_UNKNOWN') || (lookupErr as { message?: string }).message?.includes('404') === true
            ? new CoordError('SCHEMA_REGISTRY_FORBIDDEN', `${(err as Error).message}; and ${subject} does not hold this schema yet: provision first (coordctl provision, as an admin)`)
            : lookupErr;
        })) as { id?: unknown };
      }
      if (typeof out.id !== 'number') throw new CoordError('SCHEMA_REGISTRY', `schema registry answered registration of ${subject} without an id`);
      return out.id;
    },
    // The library keeps the schema of an id once fetched, and shares one request among concurrent look-ups; a failed one is asked again.
    schemaById: async (id) => {
      const type = await library.getSchema(id).catch((err: unknown) => {
        throw fromLibrary(`schema id ${id}`, err);
      });
      return JSON.stringify((type as unknown as { schema(o?: { exportAttrs?: boolean }): unknown }).schema({ exportAttrs: true }));
    },
    subjectsOfId: (id) => {
      const inFlight = subjectsInFlight.get(id);
      if (inFlight !== undefined) return inFlight;
      const pending = call('GET', `/schemas/ids/${id}/versions`).then((out) => {
        if (!Array.isArray(out) || !out.every((v) => typeof (v as { subject?: unknown } | null)?.subject === 'string'))
          throw new CoordError('SCHEMA_REGISTRY', `schema registry answered the subjects of schema id ${id} with something other than [{subject, version}]`);
        return out.map((v) => (v as { subject: string }).subject);
      });
      subjectsInFlight.set(id, pending);
      const settled = () => subjectsInFlight.delete(id);
      pending.then(settled, settled);
      return pending;
    },
    setCompatibility: async (level) => {
      await call('PUT', '/config', { compatibility: level });
    },
    subjects: async () => (await call('GET', '/subjects')) as string[],
  };
};
