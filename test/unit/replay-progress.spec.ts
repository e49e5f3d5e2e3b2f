import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { progressBar } from '../../src/cli/replay';

describe('coordctl replay: the progress bar', () => {
  it('writes lines with snapshots, records, rate and ETA where stderr is not a terminal, and ends with the final count', () => {
    const stream = new PassThrough();
    let out = '';
    stream.on('data', (b: Buffer) => (out += b.toString()));
    const bar = progressBar(stream);
    bar.update({ snapshots: 1, totalSnapshots: 10, records: 100, elapsedMs: 100 });
    bar.update({ snapshots: 10, totalSnapshots: 10, records: 2_000, elapsedMs: 1_000 });
    bar.stop();
    const lines = out.split('\n').filter((l) => l !== '');
    assert.match(lines[0], /^\[###\.{27}\] 1\/10 snapshots {2}100 records {2}1000 rec\/s {2}ETA \d+s$/);
    assert.match(lines[lines.length - 1], /^\[#{30}\] 10\/10 snapshots {2}2000 records {2}2000 rec\/s {2}ETA 0s$/);
  });

  it('writes nothing when the replay had nothing to report', () => {
    const stream = new PassThrough();
    let out = '';
    stream.on('data', (b: Buffer) => (out += b.toString()));
    progressBar(stream).stop();
    assert.equal(out, '');
  });
});
