import { strict as assert } from 'node:assert';
import { askCeiling, scaleAskCeiling, throughputCeiling } from '../../test/bench/ceilings';

describe('the bench says what limits a missed goal (test/bench/ceilings.ts)', () => {
  it("gives a throughput goal its budget a record, and the cores the fold alone's CPU and the fetch's would need to meet it", () => {
    // A goal of half a bare consumer reading 1 000 000 records/s leaves 2 µs a record; a fold alone of 3 µs and a fetch of 1.4 µs need 2.2 cores.
    const l = throughputCeiling({ goal: 0.5, rate: 200_000, baselineRate: 1_000_000, foldAlone: { usPerRecord: 2.5, cpuUsPerRecord: 3 }, fetchCpuUsPerRecord: 1.4, cores: 2 });
    assert.equal(l.goal, '>= 0.5');
    assert.equal(l.met, false);
    assert.equal(l.measuredUsPerRecord, 5);
    assert.equal(l.budgetUsPerRecord, 2);
    assert.equal(l.foldAloneUsPerRecord, 2.5);
    assert.equal(l.foldAloneCpuUsPerRecord, 3);
    assert.equal(l.coresTheFoldAloneNeeds, 1.5);
    assert.equal(l.coresNeeded, 2.2);
    assert.equal(l.beyondThisMachine, true);
  });

  it('says a goal is within the machine when the fold alone and the fetch fit its cores, met when the rate is, and unknown when a figure is missing', () => {
    const within = throughputCeiling({ goal: 0.5, rate: 200_000, baselineRate: 1_000_000, foldAlone: { usPerRecord: 2.5, cpuUsPerRecord: 3 }, fetchCpuUsPerRecord: 0.6, cores: 2 });
    assert.equal(within.coresNeeded, 1.8);
    assert.equal(within.beyondThisMachine, false);
    assert.equal(within.met, false);
    // The batch gain: the defaults' rate against 20 × batch size 1's.
    const gain = throughputCeiling({ goal: 20, rate: 45_000, baselineRate: 2_000, foldAlone: { usPerRecord: 18, cpuUsPerRecord: 20 }, fetchCpuUsPerRecord: 2, cores: 2 });
    assert.equal(gain.budgetUsPerRecord, 25);
    assert.equal(gain.met, true);
    assert.equal(gain.beyondThisMachine, false);
    const unknown = throughputCeiling({ goal: 0.6, rate: 30_000, baselineRate: 500_000, foldAlone: { usPerRecord: NaN, cpuUsPerRecord: NaN }, fetchCpuUsPerRecord: 1, cores: 2 });
    assert.equal(unknown.beyondThisMachine, null);
    assert.equal(unknown.met, false);
    assert.equal(throughputCeiling({ goal: 20, rate: 30_000, baselineRate: NaN, foldAlone: { usPerRecord: 1, cpuUsPerRecord: 1 }, fetchCpuUsPerRecord: 1, cores: 2 }).met, null);
  });

  it("weighs the ask's slowest cut asks by how many each round cut, and the major collections over the slowest of all asks", () => {
    const split = (ms: number) => ({ inMs: ms, passMs: ms, queuedMs: ms, transactionMs: ms, outMs: ms });
    const l = askCeiling({
      goal: 2,
      ask: { p50: 2.4, p99: 20 },
      echo: { p50: 0.8, p99: 5 },
      transactionalEchoP99: 80,
      rounds: [
        // 20 slowest of all asks, of which 10 with a major collection; 15 slowest among those cut.
        { split: { slowest: split(10), asks: 15 }, roundTrips: 20, withMajorPause: 10 },
        { split: { slowest: split(2), asks: 5 }, roundTrips: 20, withMajorPause: 2 },
        // A round none of whose asks could be cut still counts its collections.
        { split: undefined, roundTrips: 10, withMajorPause: 8 },
      ],
    });
    assert.equal(l.met, false);
    assert.equal(l.budgetP99Ms, 10);
    assert.equal(l.overBudgetMs, 10);
    assert.equal(l.medianRatio, 3);
    assert.equal(l.transactionalEchoP99Ms, 80);
    assert.equal(l.slowest1Percent.transactionMs, 8);
    assert.equal(l.slowestWithMajorCollection, 0.4);
    assert.ok(Number.isNaN(askCeiling({ goal: 2, ask: { p50: 1, p99: 3 }, echo: { p50: 1, p99: 2 }, transactionalEchoP99: 9, rounds: [] }).slowest1Percent.inMs));
  });

  it("gives the scale run's ask its budget, and the shares of slow passes, transactions and collections under the fleet", () => {
    const l = scaleAskCeiling({ goal: 3, loadedP99: 39, unloadedP99: 12.5, seconds: 60, loaded: { passes: 1000, passesOver10Ms: 50, publications: 800, publicationsOver10Ms: 80, gcMs: 1800 } });
    assert.equal(l.met, false);
    assert.equal(l.budgetP99Ms, 37.5);
    assert.equal(l.overBudgetMs, 1.5);
    assert.equal(l.passesOver10Ms, 0.05);
    assert.equal(l.transactionsOver10Ms, 0.1);
    assert.equal(l.gcShareOfTime, 0.03);
    assert.equal(scaleAskCeiling({ goal: 3, loadedP99: 30, unloadedP99: 12.5, seconds: 60, loaded: undefined }).met, true);
  });
});
