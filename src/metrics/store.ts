/**
 * The store's own work, read from RocksDB at scrape time: the compactions it still owes. A
 * store that owes them (a bulk of writes, or a stop while they ran) spends a core on them
 * beside the passes until they are done, and a start on it shares the machine with them.
 */
import { Gauge, type Registry } from 'prom-client';
import { within } from '../engine/health';
import type { CompactionDebt, Store } from '../store/rocks';

export const registerStoreGauges = (deps: { readonly registry: Registry; readonly store: Pick<Store, 'compactionDebt'>; readonly readTimeoutMs?: number }): void => {
  const registers = [deps.registry];
  // One read serves both families of a scrape. What could not be read (a store closing, or failing its writes) shows as NaN, never as a 0 that would say "settled".
  let pending: { at: number; debt: Promise<CompactionDebt | undefined> } | undefined;
  const debt = (): Promise<CompactionDebt | undefined> => {
    const now = performance.now();
    if (pending === undefined || now - pending.at > 250)
      pending = { at: now, debt: within(deps.readTimeoutMs ?? 2_000, deps.store.compactionDebt()) };
    return pending.debt;
  };
  new Gauge({
    name: 'coord_store_pending_compaction_bytes',
    help: "Bytes RocksDB estimates its compactions must still rewrite before every level is within its target (0: the store is settled).",
    registers,
    async collect() {
      const d = await debt();
      this.set(d?.pendingBytes ?? NaN);
    },
  });
  new Gauge({
    name: 'coord_store_running_compactions',
    help: 'RocksDB compactions running now, each on a thread of its own.',
    registers,
    async collect() {
      const d = await debt();
      this.set(d?.running ?? NaN);
    },
  });
};
