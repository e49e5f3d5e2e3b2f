/** Waiting for a condition instead of sleeping; bounded, with a message that says what never happened. */

export const waitFor = async (what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 50): Promise<void> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
};
