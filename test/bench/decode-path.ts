/**
 * The measurement behind keeping our own decode on the pass's hot path: the same framed
 * records decoded by the codec's synchronous decodeKnown and by @kafkajs/confluent-schema-registry's
 * decode (a promise per record), both with the schema already cached, so no registry is asked.
 * Alternating rounds, so a noisy neighbour hits both alike. `npx tsx test/bench/decode-path.ts [records]`
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { CoordError } from '../../src/errors';
import { createCodec } from '../../src/messaging/codec';
import type { RegistryClient } from '../../src/messaging/registry';
import { loadContracts, parseAvro } from '../../src/messaging/schemas';

const RECORDS = Number(process.argv[2] ?? 200_000);
const TYPE = 'coord.v1.WorkerHeartbeat';
const TOPIC = 'bench.events.infra';

const main = async (): Promise<void> => {
  const contracts = loadContracts();
  const contract = contracts.get(TYPE);
  if (contract === undefined) throw new Error(`no ${TYPE}`);
  const registry: RegistryClient = {
    register: async () => 1,
    schemaById: async (id) => {
      if (id !== 1) throw new CoordError('SCHEMA_UNKNOWN', `no schema ${id}`);
      return contract.text;
    },
    subjectsOfId: async () => [`${TOPIC}-${TYPE}`],
    setCompatibility: async () => undefined,
    subjects: async () => [],
  };
  const codec = createCodec({ registry, contracts });
  const values = Array.from({ length: 1_000 }, (_, i) => ({ workerId: `worker-${i % 50}`, incarnation: `inc-${i}` }));
  const framed = await Promise.all(values.map((v) => codec.encode(TOPIC, TYPE, v)));
  await codec.decode(framed[0], TOPIC); // warms the reader and the subject verdict

  const library = new SchemaRegistry({ host: 'http://127.0.0.1:1' });
  library.cache.setSchema(1, SchemaType.AVRO, parseAvro(JSON.parse(contract.text)) as never);
  await library.decode(framed[0]);

  const ours = (): number => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < RECORDS; i++) if (codec.decodeKnown?.(framed[i % framed.length], TOPIC) === undefined) throw new Error('not known');
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  /** The same work as `ours`, with a promise a record: what an async decode costs the pass on top. */
  const oursAwaited = async (): Promise<number> => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < RECORDS; i++) if ((await Promise.resolve(codec.decodeKnown?.(framed[i % framed.length], TOPIC))) === undefined) throw new Error('not known');
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const theirs = async (): Promise<number> => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < RECORDS; i++) await library.decode(framed[i % framed.length]);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const rows: { round: number; oursMs: number; awaitedMs: number; libraryMs: number }[] = [];
  for (let round = 1; round <= 3; round++) rows.push({ round, oursMs: ours(), awaitedMs: await oursAwaited(), libraryMs: await theirs() });
  const perSec = (ms: number): number => Math.round((RECORDS / ms) * 1000);
  for (const r of rows)
    console.log(`round ${r.round}: decodeKnown ${perSec(r.oursMs)} records/s; the same awaited ${perSec(r.awaitedMs)} records/s; library decode (writer schema only, no limits, no subject check) ${perSec(r.libraryMs)} records/s`);
};

void main();
