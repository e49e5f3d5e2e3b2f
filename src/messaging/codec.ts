/** Avro in Confluent framing through the Schema Registry: encode by record name, decode any registered writer schema. */
import type * as avro from 'avsc';
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { RegistryClient } from './registry';
import { subjectOf } from './protocol';
import { parseAvro, type Contracts } from './schemas';
import { frame, unframe } from './wire';

export interface Decoded {
  readonly schemaId: number;
  readonly fullName: string;
  readonly value: Record<string, unknown>;
}

export interface Codec {
  /** Registers every contract under its subject on `topic`; call once at start so encoding never waits. */
  registerAll(topicsByRecord: ReadonlyMap<string, string>): Promise<void>;
  encode(topic: string, fullName: string, value: unknown): Promise<Buffer>;
  decode(value: Buffer | null): Promise<Decoded>;
}

/** avsc decodes records as class instances; the rest of the code wants plain data. */
const plain = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(plain);
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = plain(x);
  return out;
};

export const createCodec = (deps: { registry: RegistryClient; contracts: Contracts }): Codec => {
  const { registry, contracts } = deps;
  const idBySubject = new Map<string, Promise<number>>();
  const readerById = new Map<number, Promise<{ fullName: string; read: (body: Buffer) => unknown }>>();

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
      id.catch(() => idBySubject.delete(subject));
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
        if (ours === undefined) return { fullName, read: (body: Buffer) => writer.fromBuffer(body) };
        let resolver: avro.Resolver;
        try {
          resolver = ours.type.createResolver(writer);
        } catch (err) {
          throw new CoordError('SCHEMA_INVALID', `schema id ${schemaId} (${fullName}) cannot be read as our ${fullName}: ${errorMessage(err)}`);
        }
        return { fullName, read: (body: Buffer) => ours.type.fromBuffer(body, resolver) };
      });
      readerById.set(schemaId, reader);
      // Only a schema that is there but unusable stays known as such; an unknown id is asked again next time,
      // since a registry that was restored or is catching up may know it soon.
      reader.catch((err) => {
        if (!isCoordError(err, 'SCHEMA_INVALID')) readerById.delete(schemaId);
      });
    }
    return reader;
  };

  return {
    registerAll: async (topicsByRecord) => {
      await Promise.all([...topicsByRecord].map(([fullName, topic]) => idFor(topic, fullName)));
    },
    encode: async (topic, fullName, value) => {
      const c = contract(fullName);
      const id = await idFor(topic, fullName);
      let body: Buffer;
      try {
        body = c.type.toBuffer(value);
      } catch (err) {
        throw new CoordError('SCHEMA_INVALID', `value is not a valid ${fullName}: ${errorMessage(err)}`);
      }
      return frame(id, body);
    },
    decode: async (value) => {
      const { schemaId, body } = unframe(value);
      const reader = await readerFor(schemaId);
      let decoded: unknown;
      try {
        decoded = reader.read(body);
      } catch (err) {
        throw new CoordError('SCHEMA_INVALID', `body does not decode as ${reader.fullName} (schema id ${schemaId}): ${errorMessage(err)}`);
      }
      return { schemaId, fullName: reader.fullName, value: plain(decoded) as Record<string, unknown> };
    },
  };
};
