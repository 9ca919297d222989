/**
 * What the walkthrough (make demo) prints: each command as a reader of the
 * seed would type it, what it showed, and each scenario's verdict.
 */
import type { RunResult } from './proc.js';

export const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** Arguments as a shell user types them (quoted where the shell would split them). */
export const typed = (args: string[]): string =>
  args.map((a) => (/[\s;$"'{}|]/.test(a) ? `'${a}'` : a)).join(' ');

/**
 * Prints `prompt $ command`, runs it, prints what it showed; true when it
 * succeeded and `check` (if any) accepts its output.
 */
export function shown(
  prompt: string,
  command: string,
  run: () => Pick<RunResult, 'status' | 'stdout' | 'stderr'>,
  check?: (out: string) => boolean,
): boolean {
  console.log(bold(`${prompt}$ ${command}`));
  const r = run();
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  process.stdout.write(out.endsWith('\n') || out === '' ? out : out + '\n');
  console.log('');
  return r.status === 0 && (!check || check(out));
}

export interface Step {
  scenario: string;
  title: string;
  ok: boolean;
}

/** The scenarios' verdicts, printed as they come and summed up at the end. */
export class Steps {
  readonly all: Step[] = [];

  step(scenario: string, title: string, ok: boolean): void {
    this.all.push({ scenario, title, ok });
    console.log(`${ok ? '✔' : '✘'} ${scenario}: ${title}\n`);
  }

  /** Prints the summary; returns how many failed. */
  summary(startedAt: number): number {
    console.log(bold('Summary'));
    for (const s of this.all)
      console.log(`  ${s.ok ? '✔' : '✘'} ${s.scenario.padEnd(4)} ${s.title}`);
    const failed = this.all.filter((s) => !s.ok).length;
    const secs = ((Date.now() - startedAt) / 1000).toFixed(1);
    console.log(
      `\n${this.all.length - failed} passed, ${failed} failed (${secs} s); labs removed.`,
    );
    return failed;
  }
}
