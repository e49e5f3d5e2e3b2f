/**
 * A seeded generator of hostile records for every topic the coordinator reads: random bytes,
 * truncated frames, valid frames with mutated Avro bodies, huge counts, huge or missing
 * headers, record types of another topic, and unknown or foreign schema ids. The same seed
 * gives the same records (bar the schema ids the registry hands out).
 */
import type { Type } from 'avsc';
import type { Codec } from '../../src/messaging/codec';
import { RECORD_TOPICS } from '../../src/messaging/protocol';
import { loadContracts } from '../../src/messaging/schemas';
import { frame } from '../../src/messaging/wire';
import { INPUT_KINDS, topicName, type TopicKind } from '../../src/messaging/topics';

export const HOSTILE_KINDS = ['random-bytes', 'truncated', 'mutated-body', 'huge-count', 'huge-headers', 'missing-headers', 'wrong-type', 'unknown-id', 'foreign-id'] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export interface HostileRecord {
  readonly topic: string;
  readonly kind: HostileKind;
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

/** The topics under attack: every input, and the snapshots a standby and a replay read. */
export const fuzzedKinds: readonly TopicKind[] = [...INPUT_KINDS, 'snapshots'];

const REQUEST_KINDS = new Set<TopicKind>(['requests.catalog', 'requests.query', 'requests.system']);

/**
 * What the coordinator must do with a record of `kind` on `topic`: `dlq` when it can never be
 * valid input; `either` when it may happen to be (a mutated body that still decodes, random
 * bytes, headers an event does not need), in which case it is ordinary input.
 */
export const mustRefuse = (kind: HostileKind, topicKind: TopicKind): boolean => {
  switch (kind) {
    case 'truncated':
    case 'huge-count':
    case 'wrong-type':
    case 'unknown-id':
    case 'foreign-id':
      return true;
    case 'missing-headers':
    case 'huge-headers':
      return REQUEST_KINDS.has(topicKind);
    case 'random-bytes':
    case 'mutated-body':
      return false;
    default: {
      const never: never = kind;
      return never;
    }
  }
};

export interface GeneratorDeps {
  readonly codec: Codec;
  readonly prefix: string;
  readonly replyTopic: string;
  readonly random: () => number;
  /** A schema id registered under a subject of another topic than the record's (a foreign id). */
  readonly foreignId: number;
  /** A schema whose body is an array of nulls, registered under each input topic, for huge counts. */
  readonly bombIds: ReadonlyMap<string, number>;
}

export const createHostileGenerator = (deps: GeneratorDeps) => {
  const { codec, prefix, random } = deps;
  const contracts = loadContracts();
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const typesOf = (kind: TopicKind): string[] => Object.entries(RECORD_TOPICS).filter(([, k]) => k === kind).map(([n]) => n);
  const otherTypes = (kind: TopicKind): string[] => Object.entries(RECORD_TOPICS).filter(([, k]) => k !== kind).map(([n]) => n);
  /** avsc's random values are seeded by Math.random; our own seed picks among a fixed pool instead. */
  const pool = new Map<string, Buffer[]>();
  const sample = async (topic: string, fullName: string): Promise<Buffer> => {
    const key = `${topic}|${fullName}`;
    let got = pool.get(key);
    if (got === undefined) {
      const type = contracts.get(fullName)?.type as Type;
      got = [];
      // The pool is made once per run from a fixed avsc seed-free procedure: values derived from our seed.
      for (let i = 0; i < 4; i++) got.push(await codec.encode(topic, fullName, seededValue(type, random)));
      pool.set(key, got);
    }
    return Buffer.from(pick(got));
  };
  const requestHeaders = (i: number): Record<string, string> => ({ 'correlation-id': `fuzz-${i}`, 'reply-to': deps.replyTopic });

  return async (i: number): Promise<HostileRecord> => {
    const topicKind = pick(fuzzedKinds);
    const topic = topicName(prefix, topicKind);
    const kind = pick(HOSTILE_KINDS);
    const key = `fuzz-${i}`;
    const own = typesOf(topicKind);
    const headers = REQUEST_KINDS.has(topicKind) ? requestHeaders(i) : {};
    switch (kind) {
      case 'random-bytes':
        return { topic, kind, key, value: bytes(1 + int(512)), headers };
      case 'truncated': {
        const whole = await sample(topic, pick(own));
        return { topic, kind, key, value: whole.subarray(0, int(whole.length)), headers };
      }
      case 'mutated-body': {
        const v = await sample(topic, pick(own));
        if (topicKind === 'internal.ticks') return { topic, kind, key, value: v.subarray(0, Math.max(5, v.length - 1 - int(8))), headers };
        // One to three bytes of the body changed: it may still decode, as other input.
        for (let n = 1 + int(3); n > 0 && v.length > 5; n--) v[5 + int(v.length - 5)] = int(256);
        return { topic, kind, key, value: v, headers };
      }
      case 'huge-count': {
        // An array block count of up to 2^62 (zig-zag varint) in a few bytes, then nothing.
        const count = Buffer.from([0x80 | int(128), 0x80 | int(128), 0x80 | int(128), 0x80 | int(128), 0x80 | int(128), 0x80 | int(128), 0x80 | int(128), 0x01 + int(126), 0x00]);
        return { topic, kind, key, value: frame(deps.bombIds.get(topic) ?? deps.foreignId, count), headers };
      }
      case 'huge-headers': {
        const many: Record<string, string> = { ...headers };
        for (let h = 0; h < 40 + int(60); h++) many[`h${h}`] = 'x'.repeat(int(2_000));
        many['correlation-id'] = 'c'.repeat(256 + int(4_000));
        return { topic, kind, key, value: await sample(topic, pick(own)), headers: many };
      }
      case 'missing-headers': {
        const some: Record<string, string> = random() < 0.5 ? {} : random() < 0.5 ? { 'correlation-id': `fuzz-${i}` } : { 'reply-to': deps.replyTopic };
        return { topic, kind, key, value: await sample(topic, pick(own)), headers: some };
      }
      case 'wrong-type': {
        const fullName = pick(otherTypes(topicKind));
        // Encoded under the record's own topic: a record type that never travels on this one.
        const home = topicName(prefix, RECORD_TOPICS[fullName]);
        return { topic, kind, key, value: await sample(home, fullName), headers };
      }
      case 'unknown-id': {
        const v = await sample(topic, pick(own));
        v.writeUInt32BE(2_000_000_000 + int(1_000), 1);
        return { topic, kind, key, value: v, headers };
      }
      case 'foreign-id': {
        const v = await sample(topic, pick(own));
        v.writeUInt32BE(deps.foreignId, 1);
        return { topic, kind, key, value: v, headers };
      }
      default: {
        const never: never = kind;
        return never;
      }
    }
  };
};

/** A value of `type` built from our seeded generator (avsc's own `random()` reads Math.random). */
const seededValue = (type: Type, random: () => number): unknown => {
  const t = type as unknown as { typeName: string; fields?: { name: string; type: Type }[]; types?: Type[]; symbols?: string[]; itemsType?: Type; valuesType?: Type; size?: number };
  const word = (): string => Math.floor(random() * 36 ** 6).toString(36);
  switch (t.typeName) {
    case 'record':
    case 'error':
      return Object.fromEntries((t.fields ?? []).map((f) => [f.name, seededValue(f.type, random)]));
    case 'union:unwrapped':
    case 'union:wrapped': {
      const branches = t.types ?? [];
      const b = branches[Math.floor(random() * branches.length)];
      const v = seededValue(b, random);
      return t.typeName === 'union:wrapped' && (b as unknown as { typeName: string }).typeName !== 'null' ? { [(b as unknown as { branchName: string }).branchName]: v } : v;
    }
    case 'null':
      return null;
    case 'boolean':
      return random() < 0.5;
    case 'int':
      return Math.floor(random() * 2 ** 20) - 2 ** 19;
    case 'long':
      return Math.floor(random() * 2 ** 40);
    case 'float':
    case 'double':
      return random() * 1e6;
    case 'string':
      return word();
    case 'bytes':
      return Buffer.from(word());
    case 'fixed':
      return Buffer.alloc(t.size ?? 0, Math.floor(random() * 256));
    case 'enum': {
      const s = t.symbols ?? [];
      return s[Math.floor(random() * s.length)];
    }
    case 'array':
      return Array.from({ length: Math.floor(random() * 3) }, () => seededValue(t.itemsType as Type, random));
    case 'map':
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 3) }, () => [word(), seededValue(t.valuesType as Type, random)]));
    default:
      // Logical types and anything else: avsc's own random value of the underlying type.
      return (type as unknown as { random(): unknown }).random();
  }
};
