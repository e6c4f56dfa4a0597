/**
 * One line per request on stdout: `time method path status ms actor`. Lines are joined and written once
 * per loop turn: a write per request costs a syscall each on a pipe, which shows at tens of thousands of
 * requests a second. Path without the query string (it may carry tokens).
 */
export class AccessLog {
  private lines: string[] = [];
  private scheduled = false;

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {
    // A log reader that goes away (`troupe serve app | head`) must not take the server down with EPIPE.
    out.on('error', () => {});
  }

  write(method: string, url: string, status: number, ms: number, actor: number | undefined): void {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    this.lines.push(
      `${new Date().toISOString()} ${method} ${path} ${status} ${ms.toFixed(1)}ms actor=${actor ?? '-'}\n`,
    );
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
