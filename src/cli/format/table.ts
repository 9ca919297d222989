/**
 * A port of Go's text/tabwriter (flags 0, space padding): cells end at '\t',
 * columns are aligned per block of consecutive lines that have that column,
 * the last cell of a line is never padded. Docker renders every table through
 * it with minwidth 10, padding 3 (`version` uses 20/1).
 */

/** Go tabwriter parameters. */
export interface TabOptions {
  /** Minimal cell width including padding. */
  minWidth: number;
  /** Spaces added to the widest cell of a column. */
  padding: number;
}

/** Docker's table settings: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0). */
export const DOCKER_TABLE: TabOptions = { minWidth: 10, padding: 3 };

const width = (s: string): number => [...s].length;

/** Aligns tab-separated text the way Go's tabwriter does. */
export function tabwrite(text: string, opts: TabOptions = DOCKER_TABLE): string {
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] ?? [];
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        const w = widths[j];
        if (j < cells.length - 1 && w !== undefined) s += ' '.repeat(Math.max(0, w - width(c)));
      });
      out.push(s);
    }
  };

  // Mirrors tabwriter.format: find blocks of lines sharing a column, size it, recurse.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let i = line0; i < line1; i++) {
      if (column >= (lines[i]?.length ?? 0) - 1) continue;
      writeLines(start, i);
      start = i;
      let w = opts.minWidth;
      let j = i;
      for (; j < line1; j++) {
        const cells = lines[j] ?? [];
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column] ?? '') + opts.padding);
      }
      widths.push(w);
      format(start, j);
      widths.pop();
      start = j;
      i = j - 1;
    }
    writeLines(start, line1);
  };
  format(0, lines.length);
  return out.join('\n') + (endsWithNewline ? '\n' : '');
}
