import { Agent, request } from 'node:http';
import type { Measured } from './report.js';

/**
 * An open-loop latency probe: `rate` requests a second, one every 1000/rate ms, over at most `connections`
 * keep-alive connections, each timed from the moment it was due (not from when it could be sent), so a
 * server that falls behind is charged for the requests it delayed (no coordinated omission). Requests
 * due within a millisecond go at once, and those are timed from when they left.
 *
 * autocannon's own rate limit cannot measure this: each connection sends its share of a second's requests
 * back to back as soon as the second begins, then waits for the next, so "200 req/s over 20 connections"
 * is a burst of 20 concurrent clients once a second, and its p99 is how long the burst takes to drain.
 */
export async function paced(
  url: string,
  rate: number,
  connections: number,
  seconds: number,
  /** Besides: one request to `url` every `everyMs`, on the same connections, not timed (its errors count). */
  rare?: { url: string; everyMs: number },
): Promise<Measured> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const interval = 1000 / rate;
  const count = Math.round(rate * seconds);
  const t0 = performance.now();
  const inFlight: Promise<void>[] = [];
  /** `due`: when the request was due, to time it from; undefined: load beside the measured requests. */
  const send = (target: string, due: number | undefined): Promise<void> =>
    new Promise<void>((done) => {
      // A request sent before it was due (a timer cannot wait less than a millisecond) is timed from
      // when it was sent; one sent late, from when it was due.
      const from = due === undefined ? 0 : Math.min(due, performance.now());
      const req = request(target, { agent }, (res) => {
        if (res.statusCode === undefined || res.statusCode >= 300) non2xx++;
        res.resume();
        res.on('end', () => {
          if (due !== undefined) latencies.push(performance.now() - from);
          done();
        });
        res.on('error', () => {
          errors++;
          done();
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
      req.on('error', () => {
        errors++;
        done();
      });
      req.end();
    });
  let rareDue = t0 + (rare?.everyMs ?? 0) / 2;
  for (let i = 0; i < count; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    if (rare !== undefined && performance.now() >= rareDue) {
      rareDue += rare.everyMs;
      inFlight.push(send(rare.url, undefined));
    }
    inFlight.push(send(url, due));
  }
  await Promise.all(inFlight);
  agent.destroy();
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
  return {
    rps: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    total: latencies.length,
    errors,
    non2xx,
  };
}

/** Latencies are reported in ms with a tenth of a millisecond: the cheap route answers in well under one. */
function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
