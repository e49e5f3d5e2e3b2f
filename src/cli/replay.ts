/** `coordctl replay --to DIR [--verify]`: rebuild the state from the log, with a progress bar. */
import { existsSync, readdirSync } from 'node:fs';
import { loadConfig } from '../config';
import { replay, type ReplayProgress } from '../engine/replay';
import { createLogger } from '../log';
import { projectRoot } from '../messaging/schemas';
import { createParts } from '../runtime';
import { openStore } from '../store/rocks';
import { UsageError } from './commands';
import { envWithRunFile } from './serve';

const bar = (p: ReplayProgress): string => {
  const width = 30;
  const frac = p.totalSnapshots === 0 ? 1 : p.snapshots / p.totalSnapshots;
  const rate = p.elapsedMs === 0 ? 0 : (p.records / p.elapsedMs) * 1000;
  const etaS = frac === 0 ? 0 : ((p.elapsedMs / frac) * (1 - frac)) / 1000;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.snapshots}/${p.totalSnapshots} snapshots  ${p.records} records  ${Math.round(rate)} rec/s  ETA ${etaS.toFixed(0)}s`;
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
  if (to === undefined) throw new UsageError('coordctl replay --to DIR [--verify] [--compare-live URL] [--json]');
  if (existsSync(to) && readdirSync(to).length > 0) throw new UsageError(`replay needs an empty or new folder; ${to} holds files`);
  const log = createLogger('warn', { component: 'replay' });
  const { kafka, codec } = createParts(config, 'coordctl-replay', log);
  const store = await openStore(to);
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  try {
    // The live coordinator moves on with every tick: replay exactly to where it stood when asked.
    const liveUrl = valueOf(rest, '--compare-live');
    const live = liveUrl === undefined ? undefined : await liveStatus(liveUrl);
    if (live !== undefined) await new Promise((r) => setTimeout(r, 500)); // its marker is published just after its commit
    const report = await replay({
      untilSnapshotId: live === undefined ? undefined : BigInt(live.snapshotId),
      kafka,
      codec,
      store,
      log,
      topicPrefix: config.topicPrefix,
      verify,
      onProgress: (p) => {
        const now = Date.now();
        if (tty) process.stderr.write(`\r${bar(p)}`);
        else if (now - lastLine > 2_000 || p.snapshots === p.totalSnapshots) {
          lastLine = now;
          process.stderr.write(`${bar(p)}\n`);
        }
      },
    });
    if (tty) process.stderr.write('\n');
    const summary = {
      snapshots: report.snapshots,
      records: report.records,
      lastSnapshotId: report.lastSnapshotId.toString(),
      digest: report.digest,
      elapsedMs: report.elapsedMs,
      verified: verify && report.mismatch === undefined,
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
        `replayed ${report.snapshots} snapshots (${report.records} records) into ${to} in ${report.elapsedMs} ms; digest ${report.digest}${verify ? '; every snapshot digest verified' : ''}\n`,
      );
    return report.mismatch !== undefined || liveOk === false ? 3 : 0;
  } finally {
    await store.close();
  }
};
