/**
 * go-units' decimal sizes and Go's %g, shared by the CLI's columns and the
 * daemon's progress lines; and the text of a JSONProgress, as moby's
 * jsonmessage draws it.
 */

/** Go's strconv 'g' formatting with an explicit precision (`%.*g`). */
export function goFormatG(value: number, precision: number): string {
  if (value === 0) return '0';
  let s = value.toPrecision(precision);
  const e = s.indexOf('e');
  if (e >= 0) {
    let mant = s.slice(0, e);
    if (mant.includes('.')) mant = mant.replace(/0+$/, '').replace(/\.$/, '');
    const exp = Number(s.slice(e + 1));
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${mant}e${exp < 0 ? '-' : '+'}${digits}`;
  }
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSizeWithPrecision: base 1000, `precision` significant digits. */
export function humanSize(bytes: number, precision = 3): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return goFormatG(size, precision) + DECIMAL_UNITS[i];
}

/**
 * jsonmessage's JSONProgress.String: the 50-wide bar when the terminal is
 * wider than 110 columns (dockerd draws for 200), then current/total sizes.
 */
export function progressText(current: number, total: number, width = 200): string {
  if (total <= 0) return current > 0 ? humanSize(current, 4).padStart(8) : '';
  const filled = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  const bar = width > 110 ? `[${'='.repeat(filled)}>${' '.repeat(50 - filled)}] ` : '';
  return `${bar}${humanSize(current, 4).padStart(8)}/${humanSize(total, 4)}`;
}
