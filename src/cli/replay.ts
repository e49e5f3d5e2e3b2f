/** `coordctl replay --to DIR [--verify] [--until POINT]`: rebuild the state from the log, with a progress bar. */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { LOGICAL_BITS } from '../../projections/system/hybrid';
import { loadConfig } from '../config';
import { replay, type ReplayProgress, type ReplayStop, type ReplayTarget } from '../engine/replay';
import { targetText } from '../engine/replay-stop';
import { createLogger } from '../log';
import { projectRoot } from '../messaging/schemas';
import { createParts } from '../runtime';
import { openStore } from '../store/rocks';
import { hybridTs, isIsoTime, UsageError } from './commands';
import { envWithRunFile } from './serve';

const USAGE = 'coordctl replay --to DIR [--verify] [--until SNAPSHOT|TS|ISO-TIME] [--compare-live URL] [--json]';

/**
 * Whole numbers below the hybrid timestamp of 2000-01-01 are snapshot ids: no log is that old,
 * and no coordinator takes that many snapshots (one a microsecond would need 7 800 years).
 */
const FIRST_HYBRID_TS = BigInt(Date.UTC(2000, 0, 1)) << LOGICAL_BITS;

/** `--until`: a snapshot id, a hybrid timestamp, or an ISO-8601 time (read as `--as-of` reads it). */
const verifiedText = (verify: boolean, otherVersion: number): string =>
  !verify
    ? ''
    : otherVersion === 0
      ? '; every snapshot digest verified'
      : `; ${otherVersion} snapshots folded by another logic version were decided again (digests not comparable), every other digest verified`;

export const parseUntil = (raw: string): ReplayTarget => {
  if (isIsoTime(raw)) return { kind: 'ts', ts: hybridTs(raw, '--until') };
  if (!/^\d+$/.test(raw))
    throw new UsageError(`--until must be a snapshot id, a hybrid timestamp (as snapshotTs prints it) or an ISO-8601 time such as 2026-11-21T15:07:58Z, got ${JSON.stringify(raw)}`, USAGE);
  const n = hybridTs(raw, '--until');
  if (n >= FIRST_HYBRID_TS) return { kind: 'ts', ts: n };
  if (n === 0n) throw new UsageError('--until 0 names no snapshot: snapshot ids start at 1', USAGE);
  return { kind: 'snapshot', snapshotId: n };
};

const iso = (ms: number): string => new Date(ms).toISOString();

/** Where the folder stops, in words: which snapshot, and why there. */
export const stopText = (stop: ReplayStop): string => {
  const at = `snapshot ${stop.snapshotId} (hybrid timestamp ${stop.snapshotTs}, log time ${iso(stop.logTimeMs)})`;
  const next = stop.next === undefined ? '' : `; the next, snapshot ${stop.next.snapshotId} at ${stop.next.snapshotTs}, lies past it`;
  switch (stop.reason) {
    case 'until':
      return `stopped at ${at}, the last at or before ${targetText(stop.target ?? { kind: 'snapshot', snapshotId: stop.snapshotId })}${next}`;
    case 'log-end':
      return stop.target === undefined ? `stopped at ${at}, the end of the log` : `stopped at ${at}: the log ends before ${targetText(stop.target)}`;
    case 'mismatch':
      return `stopped at ${at}, whose digest differs from the one the log recorded`;
    default: {
      const _: never = stop.reason;
      return _;
    }
  }
};

/**
 * The replay's progress bar on stderr (cli-progress): redrawn in place on a terminal, a line
 * every 2 s otherwise (a CI log). The rate is the replay's own, records per second.
 */
export const progressBar = (stream: NodeJS.WritableStream = process.stderr): { update(p: ReplayProgress): void; stop(): void } => {
  const bar = new SingleBar(
    {
      stream,
      format: '[{bar}] {value}/{total} snapshots  {records} records  {rate} rec/s  ETA {eta}s',
      barCompleteChar: '#',
      barIncompleteChar: '.',
      barsize: 30,
      hideCursor: false,
      noTTYOutput: true,
      notTTYSchedule: 2_000,
      etaBuffer: 50,
    },
    Presets.legacy,
  );
  let started = false;
  return {
    update: (p) => {
      const payload = { records: p.records, rate: p.elapsedMs === 0 ? 0 : Math.round((p.records / p.elapsedMs) * 1000) };
      if (!started) {
        started = true;
        bar.start(p.totalSnapshots, p.snapshots, payload);
      } else {
        bar.setTotal(p.totalSnapshots);
        bar.update(p.snapshots, payload);
      }
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
};

const valueOf = (args: readonly string[], flag: string): string | undefined => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
};

interface LiveStatus {
  readonly snapshotId: string;
  readonly digest: string;
}

const liveStatus = async (url: string): Promise<LiveStatus> =>
  (await (await fetch(`${url.replace(/\/+$/, '')}/readyz`, { signal: AbortSignal.timeout(5_000) })).json()) as LiveStatus;

export const replayCommand = async (argv: readonly string[]): Promise<number> => {
  const { config, rest } = loadConfig(envWithRunFile(projectRoot()), argv);
  const verify = rest.includes('--verify');
  const json = rest.includes('--json');
  const to = valueOf(rest, '--to');
  if (to === undefined) throw new UsageError(USAGE);
  if (existsSync(to) && readdirSync(to).length > 0) throw new UsageError(`replay needs an empty or new folder; ${to} holds files`);
  const untilRaw = valueOf(rest, '--until');
  const until = untilRaw === undefined ? undefined : parseUntil(untilRaw);
  if (until !== undefined && valueOf(rest, '--compare-live') !== undefined)
    throw new UsageError('--until and --compare-live do not go together: --compare-live replays to where the live coordinator stands', USAGE);
  const log = createLogger('warn', { component: 'replay' });
  const { kafka, codec } = createParts(config, 'coordctl-replay', log);
  const created = !existsSync(to);
  const store = await openStore(to);
  const progress = progressBar();
  let done = false;
  try {
    // The live coordinator moves on with every tick: replay exactly to where it stood when asked.
    const liveUrl = valueOf(rest, '--compare-live');
    const live = liveUrl === undefined ? undefined : await liveStatus(liveUrl);
    if (live !== undefined) await new Promise((r) => setTimeout(r, 500)); // its marker is published just after its commit
    const report = await replay({
      until,
      untilSnapshotId: live === undefined ? undefined : BigInt(live.snapshotId),
      kafka,
      codec,
      store,
      log,
      topicPrefix: config.topicPrefix,
      verify,
      onProgress: progress.update,
      stateCacheEntries: config.stateCacheEntries,
    });
    progress.stop();
    const summary = {
      snapshots: report.snapshots,
      records: report.records,
      lastSnapshotId: report.lastSnapshotId.toString(),
      lastSnapshotTs: report.lastSnapshotTs.toString(),
      digest: report.digest,
      stop: report.stop && {
        reason: report.stop.reason,
        until: untilRaw ?? null,
        next: report.stop.next && { snapshotId: report.stop.next.snapshotId.toString(), snapshotTs: report.stop.next.snapshotTs.toString() },
      },
      elapsedMs: report.elapsedMs,
      verified: verify && report.mismatch === undefined,
      // Snapshots folded by another logic version: decided again by this one, their digests not compared.
      otherLogicVersion: report.otherVersion,
      mismatch: report.mismatch && { snapshotId: report.mismatch.snapshotId.toString(), expected: report.mismatch.expected, actual: report.mismatch.actual },
    };
    const liveOk =
      live === undefined || report.mismatch !== undefined
        ? undefined
        : live.snapshotId !== report.lastSnapshotId.toString()
          ? false
          : live.digest === report.digest;
    if (live !== undefined && liveOk !== undefined)
      process.stderr.write(
        liveOk
          ? `live digest at snapshot ${live.snapshotId} equals the replayed one: ${report.digest}\n`
          : `LIVE MISMATCH: the live coordinator stood at snapshot ${live.snapshotId} with digest ${live.digest}; replay reached snapshot ${report.lastSnapshotId} with ${report.digest}\n`,
      );
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else if (report.mismatch !== undefined)
      process.stdout.write(`MISMATCH at snapshot ${report.mismatch.snapshotId}: the log recorded digest ${report.mismatch.expected}, replay reached ${report.mismatch.actual}\n`);
    else
      process.stdout.write(
        `replayed ${report.snapshots} snapshots (${report.records} records) into ${to} in ${report.elapsedMs} ms; digest ${report.digest}${verifiedText(verify, report.otherVersion)}\n` +
          (report.stop === undefined ? '' : `${stopText(report.stop)}\n`),
      );
    done = true;
    return report.mismatch !== undefined || liveOk === false ? 3 : 0;
  } finally {
    progress.stop();
    await store.close();
    // A replay that failed (a point before the first snapshot, a broker away) leaves the folder as it found it, ready for another try.
    if (!done) {
      if (created) rmSync(to, { recursive: true, force: true });
      else for (const f of readdirSync(to)) rmSync(join(to, f), { recursive: true, force: true });
    }
  }
};
