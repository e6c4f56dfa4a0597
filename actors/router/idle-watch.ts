/** Who waits for the request path to empty (close() does), and their wake-up when it has. */
export class IdleWatch {
  private waiters: (() => void)[] = [];

  constructor(
    /** Something is queued or running. */
    private readonly busy: () => boolean,
  ) {}

  /** Someone waits: worth checking after each thing that ends. */
  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Something ended (a request or a thread): wake the waiters if that was the last of it. */
  check(): void {
    if (this.waiters.length === 0 || this.busy()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
