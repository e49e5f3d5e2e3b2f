import { strict as assert } from 'node:assert';
import { askCeiling, scaleAskCeiling, throughputCeiling } from '../../test/bench/ceilings';

describe('the bench says what limits a missed goal (test/bench/ceilings.ts)', () => {
  it('gives a throughput goal its budget a record, and the cores the fold alone and the fetch would need to meet it', () => {
    // A goal of half a bare consumer reading 1 000 000 records/s leaves 2 µs a record; a fold alone of 3 µs and a fetch of 1.4 µs need 2.2 cores.
    const l = throughputCeiling({ goal: 0.5, rate: 200_000, baselineRate: 1_000_000, foldAloneUsPerRecord: 3, fetchCpuUsPerRecord: 1.4, cores: 2 });
    assert.equal(l.goal, '>= 0.5');
    assert.equal(l.met, false);
    assert.equal(l.measuredUsPerRecord, 5);
    assert.equal(l.budgetUsPerRecord, 2);
    assert.equal(l.coresTheFoldAloneNeeds, 1.5);
    assert.equal(l.coresNeeded, 2.2);
    assert.equal(l.beyondThisMachine, true);
  });

  it('says a goal is within the machine when the fold alone fits its cores, and met when the rate is', () => {
    const within = throughputCeiling({ goal: 0.5, rate: 200_000, baselineRate: 1_000_000, foldAloneUsPerRecord: 3, fetchCpuUsPerRecord: 0.6, cores: 2 });
    assert.equal(within.coresNeeded, 1.8);
    assert.equal(within.beyondThisMachine, false);
    assert.equal(within.met, false);
    // The batch gain: the defaults' rate against 20 × batch size 1's.
    const gain = throughputCeiling({ goal: 20, rate: 45_000, baselineRate: 2_000, foldAloneUsPerRecord: 20, fetchCpuUsPerRecord: 2, cores: 2 });
    assert.equal(gain.budgetUsPerRecord, 25);
    assert.equal(gain.met, true);
    assert.equal(gain.beyondThisMachine, false);
  });

  it("weighs the ask's slowest asks by their rounds' counts, and its budget by the echo's p99", () => {
    const split = (ms: number) => ({ totalMs: 5 * ms, inMs: ms, passMs: ms, queuedMs: ms, transactionMs: ms, outMs: ms });
    const l = askCeiling({
      goal: 2,
      ask: { p50: 2.4, p99: 20 },
      echo: { p50: 0.8, p99: 5 },
      transactionalEchoP99: 80,
      rounds: [
        { split: split(10), asks: 20, withMajorPause: 10 },
        { split: split(4), asks: 10, withMajorPause: 2 },
      ],
    });
    assert.equal(l.met, false);
    assert.equal(l.budgetP99Ms, 10);
    assert.equal(l.overBudgetMs, 10);
    assert.equal(l.medianRatio, 3);
    assert.equal(l.transactionalEchoP99Ms, 80);
    assert.equal(l.slowest1Percent.transactionMs, 8);
    assert.equal(l.slowestWithMajorCollection, 0.4);
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
