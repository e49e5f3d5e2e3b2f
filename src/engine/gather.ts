/**
 * Step 1 of the pass: the consumer's fetches flow into a bounded buffer, and the pass takes
 * up to `batchSize` records, lingering at most `batchTimeoutMs` for more once one has come.
 * A full buffer makes the fetch callback wait (heartbeating), which pauses fetching.
 */
import type { RawRecord } from './decode';

export interface GatherOptions {
  readonly batchSize: number;
  readonly batchTimeoutMs: number;
  /** Most records held; a fetch waits while the buffer is past it. */
  readonly maxBuffered: number;
  /** Most key and value bytes held; a fetch waits while the buffer is past it. */
  readonly maxBufferedBytes: number;
  /** Most value bytes in one batch. */
  readonly maxBatchBytes: number;
}

/** What a record holds in memory, roughly: its key and value. */
const weight = (r: RawRecord): number => (r.key?.length ?? 0) + (r.value?.length ?? 0);

export class Gatherer {
  private buffer: RawRecord[] = [];
  private bytes = 0;
  private wakeTaker: (() => void) | undefined;
  private wakePushers: (() => void)[] = [];
  private closed = false;

  constructor(private readonly opts: GatherOptions) {}

  get size(): number {
    return this.buffer.length;
  }

  /** Key and value bytes held. */
  get sizeBytes(): number {
    return this.bytes;
  }

  private full(): boolean {
    return this.buffer.length > this.opts.maxBuffered || this.bytes > this.opts.maxBufferedBytes;
  }

  /** Adds records; resolves once there is room again, calling `heartbeat` while it waits. */
  async push(records: readonly RawRecord[], heartbeat: () => Promise<void>): Promise<void> {
    for (const r of records) {
      this.buffer.push(r);
      this.bytes += weight(r);
    }
    this.wakeTaker?.();
    while (!this.closed && this.full()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.wakePushers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await heartbeat();
    }
  }

  /** Puts a batch back in front, to be taken again. */
  unshift(records: readonly RawRecord[]): void {
    this.buffer.unshift(...records);
    for (const r of records) this.bytes += weight(r);
  }

  /** Forgets every buffered record (the member's partitions were taken away or given anew). */
  drop(): void {
    this.buffer = [];
    this.bytes = 0;
    this.releasePushers();
  }

  /** The next batch: waits for a first record (at most `idleMs`), then lingers for more. */
  async take(idleMs: number): Promise<RawRecord[]> {
    if (this.buffer.length === 0) await this.wait(idleMs);
    if (this.buffer.length === 0) return [];
    if (this.buffer.length < this.opts.batchSize && this.opts.batchTimeoutMs > 0) {
      const until = Date.now() + this.opts.batchTimeoutMs;
      while (!this.closed && this.buffer.length < this.opts.batchSize && Date.now() < until) await this.wait(until - Date.now());
    }
    let n = 0;
    let bytes = 0;
    while (n < this.buffer.length && n < this.opts.batchSize) {
      const size = this.buffer[n].value?.length ?? 0;
      if (n > 0 && bytes + size > this.opts.maxBatchBytes) break;
      bytes += size;
      n++;
    }
    const batch = this.buffer.splice(0, n);
    for (const r of batch) this.bytes -= weight(r);
    this.releasePushers();
    return batch;
  }

  close(): void {
    this.closed = true;
    this.wakeTaker?.();
    this.releasePushers();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeTaker === done) this.wakeTaker = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wakeTaker = done;
    });
  }

  private releasePushers(): void {
    if (this.full() && !this.closed) return;
    const waiting = this.wakePushers;
    this.wakePushers = [];
    for (const wake of waiting) wake();
  }
}
