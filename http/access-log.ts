import { LineWriter, pathOf } from './line-writer.js';

/**
 * One line per request on stdout: `time method path status ms actor`, written once per loop turn. Path
 * without the query string (it may carry tokens).
 */
export class AccessLog {
  private readonly writer: LineWriter;

  constructor(out: NodeJS.WritableStream = process.stdout) {
    this.writer = new LineWriter(out);
  }

  write(method: string, url: string, status: number, ms: number, actor: number | undefined): void {
    this.writer.push(
      `${new Date().toISOString()} ${method} ${pathOf(url)} ${status} ${ms.toFixed(1)}ms actor=${actor ?? '-'}\n`,
    );
  }

  readonly flush = (): void => this.writer.flush();
}
