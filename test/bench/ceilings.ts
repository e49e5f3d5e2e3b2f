/**
 * What limits each goal, met or not (each says which), from the run's own figures (the JSON's `goalLimits`).
 *
 * A throughput goal gives each record a budget: one second ÷ (the goal × the baseline's rate). The
 * fold alone (test/bench/fold.ts: records built in memory folded by the real decode, deciders and
 * RocksDB write, with no fetch and no publication) is measured in the same run, in CPU time, and
 * so is what a bare kafkajs consumer's fetching costs a record. Their sum ÷ the budget is the
 * number of cores the goal needs at the least, were the fold spread over them without loss, before
 * publication and the broker take any. A figure above the machine's cores puts the goal out of
 * reach of any speed-up that keeps the fold's work.
 *
 * A latency goal is judged against what the same broker gives a bare kafkajs client: the echo's
 * medians, and an echo that answers in a transaction as the coordinator publishes.
 */
import { round } from './workload';

export interface ThroughputCeiling {
  readonly goal: string;
  readonly met: boolean | null;
  /** The figure end to end, µs a record: one second ÷ the measured rate. */
  readonly measuredUsPerRecord: number;
  /** What the goal leaves a record, µs: one second ÷ (the goal × the baseline's rate). */
  readonly budgetUsPerRecord: number;
  /** The fold alone, µs a record elapsed (the best of its rounds in this run). */
  readonly foldAloneUsPerRecord: number;
  /** The fold alone, µs a record of CPU (its thread and RocksDB's; the best of its rounds). */
  readonly foldAloneCpuUsPerRecord: number;
  /** The bare consumer's CPU a record (kafkajs fetching and decoding, nothing else), µs: what reading the input costs at least. */
  readonly fetchCpuUsPerRecord: number;
  /** foldAlone's CPU ÷ budget: the cores the fold alone would need to meet the goal, spread over them without loss. */
  readonly coresTheFoldAloneNeeds: number;
  /** (foldAlone's CPU + fetch) ÷ budget: the cores the goal needs at the least; the broker's share is not counted. */
  readonly coresNeeded: number;
  readonly cores: number;
  /** The goal needs more cores than the machine has: no speed-up that keeps the fold's work meets it here (null: a figure is missing). */
  readonly beyondThisMachine: boolean | null;
}

/**
 * `rate` records/s measured against `baselineRate`, for a goal of `rate ≥ goal × baselineRate`
 * (the ingest's and replay's ratios to the bare consumer, the batch gain's to batch size 1).
 */
export const throughputCeiling = (o: {
  readonly goal: number;
  readonly rate: number;
  readonly baselineRate: number;
  readonly foldAlone: { readonly usPerRecord: number; readonly cpuUsPerRecord: number };
  readonly fetchCpuUsPerRecord: number;
  readonly cores: number;
}): ThroughputCeiling => {
  const budget = 1e6 / (o.goal * o.baselineRate);
  const needed = (o.foldAlone.cpuUsPerRecord + o.fetchCpuUsPerRecord) / budget;
  const known = (x: number): boolean => Number.isFinite(x);
  return {
    goal: `>= ${o.goal}`,
    met: known(o.rate) && known(o.baselineRate) ? o.rate >= o.goal * o.baselineRate : null,
    measuredUsPerRecord: round(1e6 / o.rate, 2),
    budgetUsPerRecord: round(budget, 2),
    foldAloneUsPerRecord: round(o.foldAlone.usPerRecord, 2),
    foldAloneCpuUsPerRecord: round(o.foldAlone.cpuUsPerRecord, 2),
    fetchCpuUsPerRecord: round(o.fetchCpuUsPerRecord, 2),
    coresTheFoldAloneNeeds: round(o.foldAlone.cpuUsPerRecord / budget, 2),
    coresNeeded: round(needed, 2),
    cores: o.cores,
    beyondThisMachine: known(needed) ? needed > o.cores : null,
  };
};

export interface LatencyCeiling {
  readonly goal: string;
  readonly met: boolean;
  readonly p99Ms: number;
  /** The goal × the baseline's p99. */
  readonly budgetP99Ms: number;
  readonly overBudgetMs: number;
}

const latency = (p99: number, baselineP99: number, goal: number): LatencyCeiling => ({
  goal: `<= ${goal}`,
  met: p99 <= goal * baselineP99,
  p99Ms: round(p99),
  budgetP99Ms: round(goal * baselineP99),
  overBudgetMs: round(Math.max(0, p99 - goal * baselineP99)),
});

export interface AskCeiling extends LatencyCeiling {
  /** The ask's median ÷ the echo's: what the protocol's round trip costs before any tail. */
  readonly medianRatio: number;
  /** A bare kafkajs echo that answers in a transaction, as the coordinator publishes a pass (the same broker, the same run). */
  readonly transactionalEchoP99Ms: number;
  /**
   * The slowest 1 % of the asks that could be cut at their pass and transaction, the means over the
   * rounds weighted by how many each had, ms.
   */
  readonly slowest1Percent: { readonly inMs: number; readonly passMs: number; readonly queuedMs: number; readonly transactionMs: number; readonly outMs: number };
  /** Of the slowest 1 % of all measured asks, the share with one of Node's major collections inside. */
  readonly slowestWithMajorCollection: number;
}

type Split = AskCeiling['slowest1Percent'];

export const askCeiling = (o: {
  readonly goal: number;
  readonly ask: { readonly p50: number; readonly p99: number };
  readonly echo: { readonly p50: number; readonly p99: number };
  readonly transactionalEchoP99: number;
  /**
   * Each round: its slowest cut asks' split and how many they were (undefined when none could be
   * cut), and of its slowest 1 % of all asks how many, and how many had a major collection inside.
   */
  readonly rounds: readonly { readonly split: { readonly slowest: Split; readonly asks: number } | undefined; readonly roundTrips: number; readonly withMajorPause: number }[];
}): AskCeiling => {
  const cut = o.rounds.flatMap((r) => (r.split === undefined ? [] : [r.split]));
  const cutAsks = cut.reduce((n, c) => n + c.asks, 0);
  const mean = (k: keyof Split): number => round(cutAsks === 0 ? NaN : cut.reduce((n, c) => n + c.slowest[k] * c.asks, 0) / cutAsks);
  const trips = o.rounds.reduce((n, r) => n + r.roundTrips, 0);
  return {
    ...latency(o.ask.p99, o.echo.p99, o.goal),
    medianRatio: round(o.ask.p50 / o.echo.p50),
    transactionalEchoP99Ms: round(o.transactionalEchoP99),
    slowest1Percent: { inMs: mean('inMs'), passMs: mean('passMs'), queuedMs: mean('queuedMs'), transactionMs: mean('transactionMs'), outMs: mean('outMs') },
    slowestWithMajorCollection: round(trips === 0 ? NaN : o.rounds.reduce((n, r) => n + r.withMajorPause, 0) / trips, 3),
  };
};

export interface ScaleAskCeiling extends LatencyCeiling {
  /** Under the fleet: the share of passes, and of transactions, that took more than 10 ms. */
  readonly passesOver10Ms: number;
  readonly transactionsOver10Ms: number;
  /** Under the fleet: the share of the run's time in Node's collections. */
  readonly gcShareOfTime: number;
}

export const scaleAskCeiling = (o: {
  readonly goal: number;
  readonly loadedP99: number;
  readonly unloadedP99: number;
  readonly seconds: number;
  readonly loaded: { readonly passes: number; readonly passesOver10Ms: number; readonly publications: number; readonly publicationsOver10Ms: number; readonly gcMs: number } | undefined;
}): ScaleAskCeiling => ({
  ...latency(o.loadedP99, o.unloadedP99, o.goal),
  passesOver10Ms: o.loaded === undefined ? NaN : round(o.loaded.passesOver10Ms / Math.max(1, o.loaded.passes), 3),
  transactionsOver10Ms: o.loaded === undefined ? NaN : round(o.loaded.publicationsOver10Ms / Math.max(1, o.loaded.publications), 3),
  gcShareOfTime: o.loaded === undefined ? NaN : round(o.loaded.gcMs / (o.seconds * 1000), 3),
});
