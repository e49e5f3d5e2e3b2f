/** A small client of the Confluent-compatible Schema Registry API: register, look up by id and its subjects, set compatibility. */
import { CoordError, isCoordError } from '../errors';

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

  const byId = new Map<number, Promise<string>>();
  const subjectsInFlight = new Map<number, Promise<string[]>>();

  return {
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
    schemaById: (id) => {
      const cached = byId.get(id);
      if (cached !== undefined) return cached;
      const pending = call('GET', `/schemas/ids/${id}`).then((out) => {
        const schema = (out as { schema?: unknown }).schema;
        if (typeof schema !== 'string') throw new CoordError('SCHEMA_REGISTRY', `schema registry answered schema id ${id} without a schema`);
        return schema;
      });
      byId.set(id, pending);
      // A failed look-up must not poison the cache: the next caller asks again.
      pending.catch(() => byId.delete(id));
      return pending;
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
