import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexBlock, recordOf, spliceIndex, type ChartRecord } from '../../bench/charts.js';
import { figureProblem, type Figure } from '../../bench/lib/figures.js';
import { barLength, colorOf, formatValue, renderChart } from '../../bench/lib/svg-chart.js';

const runD: Figure = {
  title: '`run -d` <overlay> & co',
  unit: 'ms',
  better: 'lower',
  values: { berth: 77.5, docker: 351.5 },
  target: 'Berth ≤ 0.2 × Docker',
  met: false,
};
const tput: Figure = {
  title: 'TCP over the overlay',
  unit: 'Gbit/s',
  better: 'higher',
  values: { berth: 11.87, docker: 12.21, underlay: 13.98 },
};
const run = { benchmark: 'overlay', date: '2026-12-06T03:00:00.000Z', commit: 'abcdef0123456' };

/** The bars of an SVG: [label, width] in document order. */
function bars(svg: string): [string, number][] {
  return [...svg.matchAll(/<rect x="110" y="\d+" width="(\d+)"[^>]*><title>([^:]+):/g)].map((m) => [
    m[2]!,
    Number(m[1]),
  ]);
}

test('each panel has its own scale: the largest value fills the bar, the rest in proportion', () => {
  const svg = renderChart(run, [runD, tput]);
  assert.deepEqual(bars(svg), [
    ['Berth', barLength(77.5, 351.5)],
    ['Docker 20.10', 400],
    ['Berth', barLength(11.87, 13.98)],
    ['Docker 20.10', barLength(12.21, 13.98)],
    ['underlay', 400],
  ]);
  assert.equal(barLength(77.5, 351.5), Math.round((77.5 / 351.5) * 400));
  assert.equal(barLength(0, 5), 1, 'a measured zero still shows');
});

test('titles are escaped, the verdict and ratios are printed, the heading names the run', () => {
  const svg = renderChart(run, [runD, tput]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="770" height="\d+"/);
  assert.ok(svg.includes('run -d &lt;overlay&gt; &amp; co'));
  assert.ok(!svg.includes('<overlay>'));
  assert.match(svg, /class="miss">target Berth ≤ 0.2 × Docker: NOT met</);
  assert.ok(svg.includes('352 ms (Berth 0.22×)'), 'Docker bar carries Berth/Docker');
  assert.ok(svg.includes('14.0 Gbit/s (Berth 0.85×)'));
  assert.ok(svg.includes('overlay: 2026-12-06 03:00 UTC, commit abcdef0'));
  assert.equal(svg.match(/<svg/g)?.length, 1);
  assert.equal(svg.match(/<\/svg>/g)?.length, 1);
  // The document height grows with the panels.
  const h = (s: string) => Number(/height="(\d+)"/.exec(s)![1]);
  assert.ok(h(svg) > h(renderChart(run, [runD])));
});

test('series that are not peers get labels and shades of their engine', () => {
  const nth = { berth: 0, docker: 0 };
  assert.equal(colorOf('berth', nth), '#1f6feb');
  const a = colorOf('Berth overlay', nth);
  const b = colorOf('Berth bridge', nth);
  const d = colorOf('Docker overlay', nth);
  assert.notEqual(a, b);
  assert.equal(d, '#6e7781');
  assert.equal(formatValue(0.2345, 'ms'), '0.234 ms');
  assert.equal(formatValue(1234.5, 'q/s'), '1235 q/s');
  assert.equal(formatValue(3, 'answered'), '3 answered');
  assert.equal(formatValue(9.876, 'ms'), '9.88 ms');
});

test('a figure must be a real measurement', () => {
  assert.equal(figureProblem(runD), undefined);
  assert.match(figureProblem({ ...runD, values: {} })!, /no values/);
  assert.match(figureProblem({ ...runD, values: { berth: NaN } })!, /not a measurement/);
  assert.match(figureProblem({ ...runD, values: { berth: -1 } })!, /not a measurement/);
  assert.match(figureProblem({ ...runD, better: 'more' })!, /better/);
  assert.match(figureProblem({ ...runD, title: '' })!, /no title/);
  assert.match(figureProblem(null)!, /not an object/);
});

test('a results file becomes a record only when it is clean and complete', () => {
  const good = {
    benchmark: 'overlay',
    date: run.date,
    versions: { berthCommit: run.commit },
    figures: [runD],
    cleanup: { machineChanges: [] },
  };
  const r = recordOf('overlay', '/tmp/x.json', good);
  assert.deepEqual(r, { ...run, figures: [runD], source: '/tmp/x.json' });
  assert.deepEqual(recordOf('overlay', 'f', { ...good, versions: undefined, commit: 'c1' }), {
    benchmark: 'overlay',
    date: run.date,
    commit: 'c1',
    figures: [runD],
    source: 'f',
  });
  const skip = (o: unknown) => (recordOf('overlay', 'f', o) as { skip?: string }).skip;
  assert.match(skip({ ...good, benchmark: 'dns' })!, /not a overlay run/);
  assert.match(skip({ ...good, figures: [] })!, /no figures/);
  assert.match(skip({ ...good, figures: [{ ...runD, unit: 3 }] })!, /bad figure/);
  assert.match(skip({ ...good, cleanup: { machineChanges: ['link x'] } })!, /left changes/);
  assert.match(skip({ ...good, date: undefined })!, /no date/);
  // A run with a stage skipped would drop the figures of that stage from the chart.
  assert.match(skip({ ...good, partial: true })!, /a partial run/);
});

test('the index block is spliced in once and replaced on the next run', () => {
  const rec: ChartRecord = { ...run, figures: [runD, tput], source: 'f' };
  const doc = '# Benchmarks\n\nintro\n\n## `run-rm`\n\ntext\n';
  const once = spliceIndex(doc, indexBlock([rec]));
  assert.match(once, /intro\n\n## Charts \(latest run of each benchmark\)\n\n<!-- charts:begin/);
  assert.ok(once.includes('![overlay: Berth against its peers](bench/overlay.svg)'));
  assert.ok(once.includes('- `run -d` <overlay> & co: target Berth ≤ 0.2 × Docker — **NOT met**'));
  assert.ok(!once.includes('TCP over the overlay'), 'figures without a target are only drawn');
  assert.ok(once.endsWith('<!-- charts:end -->\n\n## `run-rm`\n\ntext\n'));
  const twice = spliceIndex(once, indexBlock([{ ...rec, figures: [{ ...runD, met: true }] }]));
  assert.equal(twice.match(/charts:begin/g)?.length, 1);
  assert.ok(twice.includes('— met'));
  assert.ok(!twice.includes('NOT met'));
});
