/** A steady load of requests whose senders ask until answered, reusing the correlation id, as a client of a failing coordinator must. */
import type { Client, Reply } from '../../src/client/client';
import { isCoordError } from '../../src/errors';

export interface Load {
  /** Requests sent so far (each until it is answered). */
  readonly sent: number;
  /** Every reply, once each request has one; rejects if an ask fails otherwise than by a timeout. */
  readonly done: Promise<Reply[]>;
  /** The names the load creates, one logical source each. */
  readonly names: readonly string[];
}

/** How long a request of a load is asked again before the load fails, naming it: a coordinator that never answers again fails the test, not the run. */
export const GIVE_UP_MS = 300_000;

/**
 * Asks until answered, for at most GIVE_UP_MS. A timeout is retried; with `sendErrors`, so is a
 * failed send (a broker away), at most 200 times, each counted there by its message.
 */
export const askUntilAnswered = async (client: Client, name: string, tag: string, timeoutMs = 3_000, sendErrors?: Map<string, number>): Promise<Reply> => {
  const until = Date.now() + GIVE_UP_MS;
  for (let failed = 0; ; ) {
    try {
      return await client.ask('coord.v1.CreateLogicalSource', { name, fields: [{ name: 'n', type: 'INT64' }] }, { correlationId: `${tag}-${name}`, timeoutMs });
    } catch (err) {
      if (isCoordError(err, 'ASK_TIMEOUT')) {
        if (Date.now() > until) throw new Error(`no reply to ${tag}-${name} in ${GIVE_UP_MS} ms of asking again`, { cause: err });
        continue;
      }
      if (sendErrors === undefined || ++failed > 200) throw err;
      const what = String((err as Error).message).slice(0, 80);
      sendErrors.set(what, (sendErrors.get(what) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
};

/** `count` creates from `senders` concurrent senders, `gapMs` apart per sender, so requests are in flight at any fault. */
export const steadyLoad = (client: Client, tag: string, count: number, opts: { senders?: number; gapMs?: number; sendErrors?: Map<string, number> } = {}): Load => {
  const names = Array.from({ length: count }, (_, i) => `${tag}${i}`);
  let next = 0;
  const replies: Reply[] = [];
  const done = Promise.all(
    Array.from({ length: opts.senders ?? 6 }, async () => {
      while (next < names.length) {
        replies.push(await askUntilAnswered(client, names[next++], tag, 3_000, opts.sendErrors));
        await new Promise((r) => setTimeout(r, opts.gapMs ?? 20));
      }
    }),
  ).then(() => replies);
  return {
    get sent() {
      return next;
    },
    done,
    names,
  };
};

/** Exactly one effect per request: every create answered OK (a second effect would answer ALREADY_EXISTS) and readable. */
export const notOk = (replies: readonly Reply[]): string[] => replies.filter((r) => r.status !== 'OK').map((r) => `${r.correlationId}: ${r.status} ${r.message}`);
