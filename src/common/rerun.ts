/**
 * One run at a time of a task whose result only depends on the state when it
 * starts (a sweep, a reconcile): a call while it runs asks for one more run
 * after it, however many calls come, and resolves when that one is done.
 */
export class Rerun {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly task: () => Promise<void>,
    /** True once no further run should start (the owner closed). */
    private readonly stopped: () => boolean = () => false,
  ) {}

  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.task();
      } while (this.again && !this.stopped());
    })().finally(() => (this.running = undefined));
    return this.running;
  }
}
