/** The benchmark's verdicts: a PASS needs a figure that meets its target and a run that was exact and complete. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judged, type Summary, verdicts } from '../bench/lib/report.ts';

function summary(kind: string, overrides: Partial<Summary> = {}): Summary {
  return {
    kind,
    subscribers: 1_000,
    messages: 100,
    runs: 3,
    p50: 40,
    p99: 80,
    firstP50: 10,
    postP50: 2,
    rssPerStreamKiB: 20,
    cpuMsPerMessage: 1,
    openSeconds: 1,
    duplicates: 0,
    missing: 0,
    outOfOrder: 0,
    badIds: 0,
    resyncs: 0,
    endedEarly: 0,
    openFailed: 0,
    incompleteMessages: 0,
    postFailures: 0,
    unsettled: 0,
    ...overrides,
  };
}

const scale = { latencyAt: 1_000, completenessAt: 1_000 };
const passes = (list: ReturnType<typeof verdicts>) => Object.fromEntries(list.map((v) => [v.target.split(' ').slice(0, 2).join(' '), v.pass]));

describe('bench verdicts', () => {
  it('pass when the figures meet their targets and the runs were exact and complete (control)', () => {
    assert.deepEqual(passes(verdicts(summary('app'), summary('bare', { p50: 30, p99: 60, rssPerStreamKiB: 12 }), scale)), {
      'p50 latency': true,
      'p99 latency': true,
      'at 1000': true,
      'memory per': true,
    });
  });

  for (const [what, flaw] of [
    ['lost messages', { missing: 5, incompleteMessages: 5 }],
    ['failed to open streams', { openFailed: 12 }],
    ['streams that ended early', { endedEarly: 1 }],
    ['failed posts', { postFailures: 2 }],
    ['duplicates', { duplicates: 1 }],
  ] as const) {
    it(`latency verdicts do not pass on a run with ${what}`, () => {
      const list = verdicts(summary('app', flaw), summary('bare', { p50: 30, p99: 60, rssPerStreamKiB: 12 }), scale);
      assert.equal(passes(list)['p50 latency'], false);
      assert.equal(passes(list)['p99 latency'], false);
      assert.match(list[0]!.figure, /not judged, the run was incomplete/);
    });
  }

  it('latency verdicts do not pass when the bare ceiling itself lost messages', () => {
    const list = verdicts(summary('app'), summary('bare', { p50: 30, p99: 60, missing: 3 }), scale);
    assert.equal(passes(list)['p50 latency'], false);
  });

  it('memory verdicts do not pass on runs that never settled or did not open every stream', () => {
    const bare = summary('bare', { p50: 30, p99: 60, rssPerStreamKiB: 12 });
    assert.equal(passes(verdicts(summary('app', { unsettled: 1 }), bare, scale))['memory per'], false);
    assert.equal(passes(verdicts(summary('app'), summary('bare', { rssPerStreamKiB: 12, unsettled: 2 }), scale))['memory per'], false);
    assert.equal(passes(verdicts(summary('app', { openFailed: 1 }), bare, scale))['memory per'], false);
  });

  it('judged: a met figure with problems is not a PASS, and says why', () => {
    assert.deepEqual(judged('t', 'f', true, []), { target: 't', figure: 'f', pass: true });
    const v = judged('t', 'f', true, ['app: missing 1']);
    assert.equal(v.pass, false);
    assert.match(v.figure, /app: missing 1/);
  });
});
