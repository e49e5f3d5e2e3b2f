/** Waiting for a condition instead of sleeping; bounded, with a message that says what never happened. */

export const waitFor = async (what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 50): Promise<void> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
};

/** `promise`, or an error naming `what` once `timeoutMs` has passed without it settling. */
export const within = async <T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
};
