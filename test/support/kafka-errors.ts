/** The kafkajs protocol error types in an error and the errors it wraps (`cause`, or kafkajs's own `originalError`). */
export const errorTypes = (err: unknown): string[] => {
  const out: string[] = [];
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError, depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') out.push(type);
  }
  return out;
};
