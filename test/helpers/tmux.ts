/** Drives an interactive command in a real terminal (tmux), as a person would. */
import { spawnSync } from 'node:child_process';

export class Terminal {
  constructor(private readonly sock: string) {}

  /** One tmux client call; bounded, so a tmux that never answers fails the test instead of hanging it. */
  private tmux(...a: string[]) {
    return spawnSync('tmux', ['-S', this.sock, ...a], { encoding: 'utf8', timeout: 10_000 });
  }

  /** Starts `command` (a shell line) in a detached session of the given size. */
  start(command: string, cols = 100, rows = 30): void {
    const r = this.tmux('new-session', '-d', '-x', String(cols), '-y', String(rows), command);
    if (r.status !== 0) throw new Error(`tmux: ${r.stderr}`);
  }

  screen(): string {
    return this.tmux('capture-pane', '-p').stdout;
  }

  type(line: string): void {
    this.tmux('send-keys', line, 'Enter');
  }

  /** Waits until the screen matches `re` (true) or 10 s pass (false). */
  waitFor(re: RegExp, ms = 10_000): boolean {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (re.test(this.screen())) return true;
      spawnSync('sleep', ['0.05']);
    }
    return false;
  }

  /** Waits until the session has ended (the command exited). */
  waitClosed(ms = 5000): boolean {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.tmux('has-session').status !== 0) return true;
      spawnSync('sleep', ['0.05']);
    }
    return false;
  }

  /** Ends the tmux server this terminal started. */
  close(): void {
    this.tmux('kill-server');
  }
}
