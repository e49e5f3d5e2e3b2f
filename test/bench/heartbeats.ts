/**
 * A load generator in its own process: WORKERS workers register, then each heartbeats once a
 * second (in ten slices a second) for SECONDS seconds. It prints one JSON line when the
 * registrations are sent and one at the end with what it sent and how far it fell behind.
 *
 *   tsx test/bench/heartbeats.ts <brokers> <registryUrl> <topicPrefix> <workers> <seconds>
 */
import { Partitioners } from 'kafkajs';
import { makeConfig } from '../../src/config';
import { topicName } from '../../src/messaging/topics';
import { createParts } from '../../src/runtime';
import { benchLog, now, sleep } from './workload';

const main = async (): Promise<void> => {
  const [brokers, registryUrl, prefix, workersRaw, secondsRaw] = process.argv.slice(2);
  const workers = Number(workersRaw);
  const seconds = Number(secondsRaw);
  const config = makeConfig({ kafkaBrokers: [brokers], schemaRegistryUrl: registryUrl, topicPrefix: prefix, groupId: `${prefix}-coordinator` });
  const { kafka, codec } = createParts(config, 'bench-heartbeats', benchLog('bench-heartbeats'));
  const topic = topicName(prefix, 'events.infra');
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const id = (w: number): string => `sw${w}`;
  const CHUNK = 1_000;
  for (let from = 0; from < workers; from += CHUNK) {
    const messages = [];
    for (let w = from; w < Math.min(workers, from + CHUNK); w++)
      messages.push({ key: id(w), value: await codec.encode(topic, 'coord.v1.WorkerRegistered', { workerId: id(w), incarnation: 'i1', host: `${id(w)}.local`, slots: 8, capabilities: [] }) });
    await producer.send({ topic, acks: -1, messages });
  }
  const beats = await Promise.all(Array.from({ length: workers }, (_, w) => codec.encode(topic, 'coord.v1.WorkerHeartbeat', { workerId: id(w), incarnation: 'i1' })));
  process.stdout.write(`${JSON.stringify({ registered: workers })}\n`);
  // Ten slices a second, each a tenth of the workers: every worker once a second, open loop.
  const SLICES = 10;
  const perSlice = Math.ceil(workers / SLICES);
  let sent = 0;
  let maxBehindMs = 0;
  const t0 = now();
  const inFlight = new Set<Promise<unknown>>();
  for (let s = 0; s < seconds * SLICES; s++) {
    const due = t0 + (s * 1000) / SLICES;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    else maxBehindMs = Math.max(maxBehindMs, -wait);
    const from = (s % SLICES) * perSlice;
    const messages = [];
    for (let w = from; w < Math.min(workers, from + perSlice); w++) messages.push({ key: id(w), value: beats[w] });
    const p: Promise<unknown> = producer.send({ topic, acks: -1, messages }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    sent += messages.length;
  }
  await Promise.all(inFlight);
  await producer.disconnect();
  process.stdout.write(`${JSON.stringify({ sent, seconds: (now() - t0) / 1000, maxBehindMs: Math.round(maxBehindMs) })}\n`);
};

main().catch((err: unknown) => {
  process.stderr.write(`heartbeats: ${String(err)}\n`);
  process.exit(1);
});
