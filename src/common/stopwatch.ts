/** Named laps of an operation, for debug logs ("net 0.7, mount 0.8, launch 30.1 ms"). */
export class Stopwatch {
  private last = performance.now();
  private laps: string[] = [];

  /** Ends the current lap under `name`. */
  lap(name: string): void {
    const now = performance.now();
    this.laps.push(`${name} ${(now - this.last).toFixed(2)}`);
    this.last = now;
  }

  toString(): string {
    return `${this.laps.join(', ')} ms`;
  }
}
