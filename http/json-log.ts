import { hostname } from 'node:os';
import { LineWriter, pathOf } from './line-writer.js';
import type { RequestLog } from './request-log.js';

/** pino's numeric levels, which pino-based pipelines filter on. */
export const INFO = 30;
export const WARN = 40;
export const ERROR = 50;

/**
 * `--log-format json`: one JSON object a line, in pino's shape (`level`, `time` in epoch ms, `pid`,
 * `hostname`, `msg`, then the line's own fields), so pino-pretty, pino transports and log shippers that
 * read pino read it unchanged. Access lines carry `method`, `path`, `status`, `ms` and `actor`; lifecycle
 * lines (startup, signals, reloads, errors) go through `line`. Lines are joined and written once per loop
 * turn, as the text access log does; a lifecycle line flushes at once, behind the access lines before it.
 */
export class JsonLog implements RequestLog {
  private readonly writer: LineWriter;
  /** The fields every line starts with, serialized once. */
  private readonly base: string;

  constructor(out: NodeJS.WritableStream = process.stdout) {
    this.writer = new LineWriter(out);
    this.base = `"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;
  }

  write(method: string, url: string, status: number, ms: number, actor: number | undefined): void {
    const path = pathOf(url);
    const level = status >= 500 ? ERROR : INFO;
    this.writer.push(
      `{"level":${level},"time":${Date.now()},${this.base},"msg":"request completed","method":${JSON.stringify(method)},"path":${JSON.stringify(path)},"status":${status},"ms":${Math.round(ms * 10) / 10},"actor":${actor ?? null}}\n`,
    );
  }

  /** A lifecycle line: written now (a process about to exit must not lose it). */
  line(level: number, msg: string, fields?: Record<string, unknown>): void {
    const extra = fields === undefined ? '' : `,${JSON.stringify(fields).slice(1, -1)}`;
    this.writer.push(
      `{"level":${level},"time":${Date.now()},${this.base},"msg":${JSON.stringify(msg)}${extra === ',' ? '' : extra}}\n`,
    );
    this.writer.flush();
  }

  readonly flush = (): void => this.writer.flush();
}
