/** Unavailability figures of a fault run, appended to FAULT_REPORT (a JSON-lines file) when set, for the README's table. */
import { appendFileSync } from 'node:fs';

export const recordUnavailability = (fault: string, ms: number): void => {
  const file = process.env.FAULT_REPORT;
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ fault, unavailableMs: ms, at: new Date().toISOString() })}\n`);
};
