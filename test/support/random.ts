/** A seeded generator (mulberry32), so a failing run can be repeated with its seed. */
export const seeded = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** Seeded draws: a number in [0, 1), an integer in [0, n), one of a list. */
export const draws = (seed: number): { next: () => number; int: (n: number) => number; pick: <T>(xs: readonly T[]) => T } => {
  const next = seeded(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)] };
};

/** The seed of this run: TEST_SEED when given, otherwise one that the test prints. */
export const runSeed = (): number => (process.env.TEST_SEED !== undefined ? Number(process.env.TEST_SEED) : Math.floor(Math.random() * 2 ** 31));
