/** Hybrid timestamps: physical milliseconds shifted left, a logical counter in the low bits. */
export const LOGICAL_BITS = 18n;

/** The next hybrid timestamp: physical time from the log, logical counter when the log time stands still. */
export const nextHybrid = (prev: bigint, physicalMs: number): bigint => {
  const candidate = BigInt(physicalMs) << LOGICAL_BITS;
  return candidate > prev ? candidate : prev + 1n;
};
