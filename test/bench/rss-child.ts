/**
 * One coordinator in a process of its own, on a folder a bench run folded: started, ready, then
 * its resident set size once the garbage collector has run, printed as JSON on stdout. Run by
 * `rssAfterRestart` (ingest.ts) with `node --expose-gc`, so the figure is the coordinator's alone.
 */
import { makeConfig, type Config } from '../../src/config';
import { createCoordinator } from '../../src/engine/coordinator';
import { createParts } from '../../src/runtime';
import { openStore } from '../../src/store/rocks';
import { benchLog, bounded, now, sleep } from './workload';

const main = async (): Promise<void> => {
  const config = makeConfig(JSON.parse(process.argv[2]) as Partial<Config>);
  const { kafka, codec } = createParts(config, 'bench-rss', benchLog('bench-rss'));
  const store = await openStore(config.dataDir);
  const coordinator = createCoordinator({ config, kafka, codec, store, log: benchLog('bench-rss') });
  await bounded('coordinator start', 120_000, coordinator.start());
  const until = now() + 120_000;
  while (!coordinator.status().ready) {
    if (now() > until) throw new Error('not ready within 120 s');
    await sleep(10);
  }
  // Past the background check of the store, which reads every entry once.
  await sleep(5_000);
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(500);
  const rssMb = Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10;
  process.stdout.write(`${JSON.stringify({ rssMb, heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1024 / 1024), cachedImages: coordinator.status().cachedImages })}\n`);
  await bounded('coordinator close', 60_000, coordinator.close());
  await store.close();
};

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
    process.exit(1);
  },
);
