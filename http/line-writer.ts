/**
 * Log lines joined and written once per loop turn: a write per request costs a syscall each on a pipe,
 * which shows at tens of thousands of requests a second.
 */
export class LineWriter {
  private lines: string[] = [];
  private scheduled = false;

  constructor(private readonly out: NodeJS.WritableStream) {
    // A log reader that goes away (`troupe serve app | head`) must not take the server down with EPIPE.
    out.on('error', () => {});
  }

  /** Queued for the end of this loop turn. */
  push(line: string): void {
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join('');
    this.lines = [];
    this.out.write(text);
  };
}

/** A request URL's path without its query string, which may carry tokens. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
