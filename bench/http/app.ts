/**
 * The troupe side of the HTTP benchmark: the same routes as baseline.ts, as a fetch-style app.
 * The iteration counts come from the config (`--config`), so every server does identical work.
 */
import { readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { App, RequestContext } from '../../actors/types.js';
import { HELLO, work } from './work.js';

interface BenchConfig extends Record<string, unknown> {
  cpuIterations: number;
  heavyIterations: number;
  /** Where each actor writes its OS thread id, so the benchmark can tell actor CPU from the rest. */
  tidDir?: string;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

const app: App<unknown, BenchConfig> = {
  init({ actorId, config }) {
    if (config.tidDir === undefined) return;
    try {
      // /proc/thread-self -> "<pid>/task/<tid>" (Linux); elsewhere the figure stays a dash.
      const tid = readlinkSync('/proc/thread-self').split('/').pop()!;
      writeFileSync(join(config.tidDir, `actor-${actorId}`), tid);
    } catch {}
  },
  fetch(request: Request, ctx: RequestContext<unknown, BenchConfig>): Response {
    // The path without a URL parse: the baseline reads req.url as is, so should this.
    const url = request.url;
    const path = url.slice(url.indexOf('/', 8));
    switch (path) {
      case '/hello':
      case '/cheap':
        return new Response(HELLO, { headers: TEXT });
      case '/cpu':
        return new Response(String(work(ctx.config.cpuIterations)), { headers: TEXT });
      case '/heavy':
        return new Response(String(work(ctx.config.heavyIterations)), { headers: TEXT });
      default:
        return new Response(null, { status: 404 });
    }
  },
};

export default app;
