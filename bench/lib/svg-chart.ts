/**
 * Draws one benchmark run's figures as an SVG bar chart: a panel per figure,
 * a horizontal bar per peer on the panel's own scale (the figures of one run
 * mix milliseconds and Gbit/s), the value and its ratio to Berth's printed
 * beside each bar, and the issue's target with this run's verdict under the
 * title. Pure string work, so it is unit-tested without a browser.
 */
import { seriesLabel, type Figure, type Peer } from './figures.js';

/** What the chart's heading says about the run. */
export interface ChartRun {
  /** Benchmark name (`run-rm`, `overlay`, ...). */
  benchmark: string;
  /** ISO time of the run. */
  date: string;
  /** Berth's commit measured. */
  commit: string;
}

const COLOR: Record<Peer, string> = {
  berth: '#1f6feb',
  docker: '#6e7781',
  netavark: '#bf8700',
  cni: '#8250df',
  'aardvark-dns': '#1a7f37',
  underlay: '#afb8c1',
};

const WIDTH = 770;
const LABEL_W = 110;
const BAR_MAX = 400;
const BAR_H = 16;
const ROW_H = 22;
const TITLE_H = 38;
const GAP = 14;
const HEAD_H = 44;

/** Escapes text for an SVG text node or attribute. */
export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** A value to 3 significant digits (a count as it is). */
export function formatValue(v: number, unit: string): string {
  const digits = Number.isInteger(v) || v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3;
  return `${v.toFixed(digits)} ${unit}`;
}

/** Colours of series that are not peers (an engine under a condition), in turn. */
const BERTH_SHADES = ['#1f6feb', '#54aeff', '#0550ae', '#80ccff', '#033d8b'];
const DOCKER_SHADES = ['#6e7781', '#afb8c1', '#424a53'];

/** A peer's own colour; `Docker …` series in greys, any other in Berth's blues, in turn. */
export function colorOf(key: string, nth: { berth: number; docker: number }): string {
  if (key in COLOR) return COLOR[key as Peer];
  if (key.startsWith('Docker')) return DOCKER_SHADES[nth.docker++ % DOCKER_SHADES.length]!;
  return BERTH_SHADES[nth.berth++ % BERTH_SHADES.length]!;
}

/** The pixel length of a bar for `v` on a panel whose largest value is `max`. */
export function barLength(v: number, max: number): number {
  if (max <= 0) return 0;
  return Math.max(1, Math.round((v / max) * BAR_MAX));
}

function panel(f: Figure, y: number): { svg: string; height: number } {
  const series = Object.entries(f.values);
  const max = Math.max(...series.map(([, v]) => v));
  const berth = f.values.berth;
  const parts: string[] = [];
  parts.push(
    `<text x="0" y="${y + 14}" class="t">${xmlEscape(f.title.replace(/`/g, ''))}` +
      ` <tspan class="n">(${f.better} is better)</tspan></text>`,
  );
  if (f.target) {
    const verdict = f.met === undefined ? '' : f.met ? ': met' : ': NOT met';
    const cls = f.met === false ? 'miss' : 'n';
    parts.push(
      `<text x="0" y="${y + 30}" class="${cls}">target ${xmlEscape(f.target)}${verdict}</text>`,
    );
  }
  let row = y + TITLE_H;
  const nth = { berth: 0, docker: 0 };
  for (const [key, v] of series) {
    const len = barLength(v, max);
    const label = seriesLabel(key);
    const ratio =
      key !== 'berth' && berth !== undefined && v > 0 ? ` (Berth ${(berth / v).toFixed(2)}×)` : '';
    const color = colorOf(key, nth);
    parts.push(
      `<text x="${LABEL_W - 6}" y="${row + 12}" class="l">${xmlEscape(label)}</text>`,
      `<rect x="${LABEL_W}" y="${row}" width="${len}" height="${BAR_H}" fill="${color}">` +
        `<title>${xmlEscape(`${label}: ${formatValue(v, f.unit)}`)}</title></rect>`,
      `<text x="${LABEL_W + len + 6}" y="${row + 12}" class="v">` +
        `${xmlEscape(formatValue(v, f.unit) + ratio)}</text>`,
    );
    row += ROW_H;
  }
  return { svg: parts.join('\n'), height: row - y };
}

/** The whole SVG document for one run. */
export function renderChart(run: ChartRun, figures: Figure[]): string {
  const panels: string[] = [];
  let y = HEAD_H;
  for (const f of figures) {
    const p = panel(f, y);
    panels.push(p.svg);
    y += p.height + GAP;
  }
  const height = y;
  const head =
    `${run.benchmark}: ${run.date.slice(0, 16).replace('T', ' ')} UTC, ` +
    `commit ${run.commit.slice(0, 7)}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    '<style>.h{font-size:15px;font-weight:bold}.t{font-weight:bold}.n{fill:#57606a;font-weight:normal}' +
      '.miss{fill:#cf222e}.l{text-anchor:end}.v{fill:#24292f}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    '<g transform="translate(10,0)">',
    `<text x="0" y="18" class="h">${xmlEscape(head)}</text>`,
    `<text x="0" y="34" class="n">medians of one run, the engines side by side; bars on each panel's own scale</text>`,
    ...panels,
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}
