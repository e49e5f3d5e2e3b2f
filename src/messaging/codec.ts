/** Avro in Confluent framing through the Schema Registry: encode by record name, decode any registered writer schema. */
import type * as avro from 'avsc';
import { CoordError, errorMessage, isCoordError } from '../errors';
import { checkAvroBody, DEFAULT_DECODE_LIMITS, type DecodeLimits } from './avro-limits';
import type { RegistryClient } from './registry';
import { subjectOf } from './protocol';
import { parseAvro, type Contracts } from './schemas';
import { frame, HEADER_BYTES, unframe, writeFrameHeader } from './wire';

export interface Decoded {
  readonly schemaId: number;
  readonly fullName: string;
  readonly value: Record<string, unknown>;
}

export interface Codec {
  /** Registers every contract under its subject on `topic`; call once at start so encoding never waits. */
  registerAll(topicsByRecord: ReadonlyMap<string, string>): Promise<void>;
  encode(topic: string, fullName: string, value: unknown): Promise<Buffer>;
  /**
   * The same, at once, when the schema's id on that topic is known already (registered at
   * start): undefined when `encode` must ask the registry first. A pass encodes an output a
   * changed entity, where two promises an output cost as much as the encoding.
   */
  encodeKnown?(topic: string, fullName: string, value: unknown): Buffer | undefined;
  /**
   * Decodes a framed value. With `topic`, its schema id must be registered under
   * `subjectOf(topic, fullName)`, or it is refused with SCHEMA_SUBJECT_MISMATCH.
   */
  decode(value: Buffer | null, topic?: string): Promise<Decoded>;
  /**
   * The same, at once, when everything it needs is known already (the writer's schema, and the
   * subject verdict for `topic`): undefined when `decode` must ask the registry first. The hot
   * path of a pass, where a promise a record costs more than the decode itself.
   */
  decodeKnown?(value: Buffer | null, topic?: string): Decoded | undefined;
}

export interface CodecDeps {
  readonly registry: RegistryClient;
  readonly contracts: Contracts;
  /** Checked on every body before avsc decodes it; DEFAULT_DECODE_LIMITS unless given. */
  readonly limits?: DecodeLimits;
  /**
   * How long a refused (id, topic) stays refused without asking the registry again: a flood of
   * foreign ids costs one look-up per pair per period, and a subject registered later is seen.
   */
  readonly subjectRecheckMs?: number;
  /** The clock of that period; tests pass their own. */
  readonly now?: () => number;
}

/** Limits for decoding what the coordinator wrote (replies, markers, changelog): wide, but a forged record still cannot hang a reader. */
const OUTPUT_DECODE_LIMITS: DecodeLimits = Object.freeze({ maxItemsPerCollection: 1_000_000, maxSteps: 20_000_000, maxDepth: 64 });

interface Reader {
  readonly fullName: string;
  readonly writer: avro.Type;
  read(body: Buffer): unknown;
}

/** Subjects named in a mismatch: a popular schema may be registered under thousands. */
const SHOWN_SUBJECTS = 3;
const MAX_SHOWN = 120;

const bounded = (s: string): string => (s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}…` : s);

const registeredUnder = (subjects: readonly string[]): string => {
  if (subjects.length === 0) return 'no subject';
  const shown = subjects.slice(0, SHOWN_SUBJECTS).map(bounded).join(', ');
  return subjects.length > SHOWN_SUBJECTS ? `${shown} and ${subjects.length - SHOWN_SUBJECTS} more` : shown;
};

/** A refusal is remembered with the time it may be asked again; an acceptance for good. */
type Verdict = { readonly ok: true } | { readonly ok: false; readonly message: string; readonly until: number };

/** Each encoded value is written here behind its frame first, then copied once into a buffer of its size. */
const SCRATCH = Buffer.allocUnsafe(64 * 1024);

/** `value` as `type` in Confluent framing under `schemaId`: one right-sized copy, where avsc's toBuffer and framing would make two buffers. */
const encodeFramed = (schemaId: number, type: avro.Type, value: unknown): Buffer => {
  writeFrameHeader(SCRATCH, schemaId);
  const end = type.encode(value, SCRATCH, HEADER_BYTES);
  if (end >= 0) {
    const out = Buffer.allocUnsafe(end);
    SCRATCH.copy(out, 0, 0, end);
    return out;
  }
  // Larger than the scratch: avsc said by how much, so the value is written once more, straight into a buffer of its size.
  const out = Buffer.allocUnsafe(SCRATCH.length - end);
  writeFrameHeader(out, schemaId);
  const written = type.encode(value, out, HEADER_BYTES);
  return written === out.length ? out : frame(schemaId, type.toBuffer(value));
};

const encodeAs = (schemaId: number, type: avro.Type, fullName: string, value: unknown): Buffer => {
  try {
    return encodeFramed(schemaId, type, value);
  } catch (err) {
    throw new CoordError('SCHEMA_INVALID', `value is not a valid ${fullName}: ${errorMessage(err)}`);
  }
};

/**
 * The field names of each avsc record class, read once: every instance of a class has the same
 * own fields, so a record folded costs no Object.keys array.
 */
const fieldsOf = new WeakMap<object, readonly string[]>();

/** avsc decodes records as class instances; the rest of the code wants plain data. */
export const plain = (v: unknown): unknown => {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain);
  if (Buffer.isBuffer(v)) return v;
  const out: Record<string, unknown> = {};
  const ctor = (v as { constructor?: unknown }).constructor;
  // A plain object (a map's value) has its own keys; a record class's instances share theirs.
  let keys = typeof ctor === 'function' && ctor !== Object ? fieldsOf.get(ctor) : undefined;
  if (keys === undefined) {
    keys = Object.keys(v);
    if (typeof ctor === 'function' && ctor !== Object) fieldsOf.set(ctor, keys);
  }
  for (let i = 0; i < keys.length; i++) out[keys[i]] = plain((v as Record<string, unknown>)[keys[i]]);
  return out;
};

export const createCodec = (deps: CodecDeps): Codec => {
  const { registry, contracts, limits = DEFAULT_DECODE_LIMITS, subjectRecheckMs = 60_000, now = Date.now } = deps;
  const idBySubject = new Map<string, Promise<number>>();
  /** The ids that have arrived, by topic and then record name (no subject string built an output). */
  const knownIds = new Map<string, Map<string, number>>();
  const readerById = new Map<number, Promise<Reader>>();
  /** Readers whose schema has arrived, and (id, topic) pairs known to be on their subject: what decodeKnown needs. */
  const readyReaders = new Map<number, Reader>();
  /** The topics each schema id was found registered for (its subject is `<topic>-<full name>`). */
  const acceptedTopics = new Map<number, Set<string>>();
  const accept = (schemaId: number, topic: string): void => {
    let topics = acceptedTopics.get(schemaId);
    if (topics === undefined) acceptedTopics.set(schemaId, (topics = new Set()));
    topics.add(topic);
  };
  // Keyed by id and topic; only ids the registry knows get here, and topics are the caller's own.
  const verdicts = new Map<string, Promise<Verdict>>();

  const contract = (fullName: string) => {
    const c = contracts.get(fullName);
    if (c === undefined) throw new CoordError('SCHEMA_UNKNOWN', `no contract named ${fullName} in schemas/`);
    return c;
  };

  const idFor = (topic: string, fullName: string): Promise<number> => {
    const subject = subjectOf(topic, fullName);
    let id = idBySubject.get(subject);
    if (id === undefined) {
      id = registry.register(subject, contract(fullName).text);
      idBySubject.set(subject, id);
      id.then(
        (known) => {
          let names = knownIds.get(topic);
          if (names === undefined) knownIds.set(topic, (names = new Map()));
          names.set(fullName, known);
        },
        () => idBySubject.delete(subject),
      );
    }
    return id;
  };

  /** Resolves the writer's schema to our reader contract when we have one, so older and newer writers both decode. */
  const readerFor = (schemaId: number) => {
    let reader = readerById.get(schemaId);
    if (reader === undefined) {
      reader = registry.schemaById(schemaId).then((text) => {
        let writer: avro.Type;
        try {
          writer = parseAvro(JSON.parse(text));
        } catch (err) {
          throw new CoordError('SCHEMA_INVALID', `schema id ${schemaId} is not a usable Avro schema: ${errorMessage(err)}`);
        }
        const fullName = writer.name;
        if (fullName === undefined) throw new CoordError('SCHEMA_INVALID', `schema id ${schemaId} is not a named record`);
        const ours = contracts.get(fullName);
        if (ours === undefined) return { fullName, writer, read: (body: Buffer) => writer.fromBuffer(body) };
        let resolver: avro.Resolver;
        try {
          resolver = ours.type.createResolver(writer);
        } catch (err) {
          // Refused when a body is read, after the subject check: a foreign schema is first of all on the wrong subject.
          const problem = new CoordError('SCHEMA_INVALID', `schema id ${schemaId} (${fullName}) cannot be read as our ${fullName}: ${errorMessage(err)}`);
          return {
            fullName,
            writer,
            read: (): never => {
              throw problem;
            },
          };
        }
        return { fullName, writer, read: (body: Buffer) => ours.type.fromBuffer(body, resolver) };
      });
      readerById.set(schemaId, reader);
      reader.then(
        (r) => readyReaders.set(schemaId, r),
        () => undefined,
      );
      // Only a schema that is there but unusable stays known as such; an unknown id is asked again next time,
      // since a registry that was restored or is catching up may know it soon.
      reader.catch((err) => {
        if (!isCoordError(err, 'SCHEMA_INVALID')) readerById.delete(schemaId);
      });
    }
    return reader;
  };

  /** Asks the registry once for every caller of one (id, topic); a registry that does not answer gives no verdict. */
  const ask = (key: string, schemaId: number, topic: string, fullName: string): Promise<Verdict> => {
    const expected = subjectOf(topic, fullName);
    const verdict = registry.subjectsOfId(schemaId).then((subjects): Verdict =>
      subjects.includes(expected)
        ? (accept(schemaId, topic), { ok: true })
        : {
            ok: false,
            until: now() + subjectRecheckMs,
            message:
              `schema id ${schemaId} (${bounded(fullName)}) is registered under ${registeredUnder(subjects)}, not under ${bounded(expected)}; ` +
              `a producer to ${bounded(topic)} must register its schema under that subject (TopicRecordNameStrategy)`,
          },
    );
    verdicts.set(key, verdict);
    verdict.catch(() => {
      if (verdicts.get(key) === verdict) verdicts.delete(key);
    });
    return verdict;
  };

  /** TopicRecordNameStrategy: a record on `topic` is written with a schema registered under `<topic>-<full name>`. */
  const checkSubject = async (schemaId: number, topic: string, fullName: string): Promise<void> => {
    const key = `${schemaId}/${topic}`;
    const cached = verdicts.get(key);
    let verdict = await (cached ?? ask(key, schemaId, topic, fullName));
    if (!verdict.ok && now() >= verdict.until) {
      if (verdicts.get(key) === cached) verdicts.delete(key);
      verdict = await (verdicts.get(key) ?? ask(key, schemaId, topic, fullName));
    }
    if (!verdict.ok) throw new CoordError('SCHEMA_SUBJECT_MISMATCH', verdict.message);
  };

  const readBody = (schemaId: number, reader: Reader, body: Buffer, topic: string | undefined): Decoded => {
    // Input (a topic given) meets the limits; what a coordinator wrote (a long List reply) meets wider ones, still bounded.
    const problem = checkAvroBody(reader.writer, body, topic === undefined ? OUTPUT_DECODE_LIMITS : limits);
    if (problem !== undefined) throw new CoordError(problem.code, `body of ${bounded(reader.fullName)} (schema id ${schemaId}) refused before decoding: ${problem.message}`);
    let decoded: unknown;
    try {
      decoded = reader.read(body);
    } catch (err) {
      throw new CoordError('SCHEMA_INVALID', `body does not decode as ${reader.fullName} (schema id ${schemaId}): ${errorMessage(err)}`);
    }
    return { schemaId, fullName: reader.fullName, value: plain(decoded) as Record<string, unknown> };
  };

  return {
    registerAll: async (topicsByRecord) => {
      // A few at a time: forty registrations at once on a cold registry time out together.
      const left = [...topicsByRecord];
      const worker = async (): Promise<void> => {
        for (let next = left.shift(); next !== undefined; next = left.shift()) await idFor(next[1], next[0]);
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    },
    encode: async (topic, fullName, value) => {
      const c = contract(fullName);
      return encodeAs(await idFor(topic, fullName), c.type, fullName, value);
    },
    encodeKnown: (topic, fullName, value) => {
      const id = knownIds.get(topic)?.get(fullName);
      return id === undefined ? undefined : encodeAs(id, contract(fullName).type, fullName, value);
    },
    decode: async (value, topic) => {
      const { schemaId, body } = unframe(value);
      const reader = await readerFor(schemaId);
      if (topic !== undefined) await checkSubject(schemaId, topic, reader.fullName);
      return readBody(schemaId, reader, body, topic);
    },
    decodeKnown: (value, topic) => {
      const { schemaId, body } = unframe(value);
      const reader = readyReaders.get(schemaId);
      if (reader === undefined || (topic !== undefined && acceptedTopics.get(schemaId)?.has(topic) !== true)) return undefined;
      return readBody(schemaId, reader, body, topic);
    },
  };
};
