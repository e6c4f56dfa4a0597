// Prometheus: troupe's metrics on a caller's prom-client registry, and `troupe serve`'s /_troupe/metrics
// scraped and parsed after a known workload.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { createDispatcher, InvalidArgumentError, registerMetrics } from 'troupe';
import { StatusDurations } from '../dist/http/status-durations.js';
import { fixture, serve } from './http-helpers.mjs';

/** Parses the Prometheus text format: samples by `name{labels}` (labels sorted), and the TYPE lines. */
function parse(text) {
  const samples = new Map();
  const types = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name, type);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, k, v]) => `${k}="${v}"`)
      .sort()
      .join(',');
    samples.set(labels === '' ? m[1] : `${m[1]}{${labels}}`, Number(m[3]));
  }
  return { samples, types };
}

const value = (samples, key) => {
  assert.ok(samples.has(key), `no sample ${key}; have:\n${[...samples.keys()].join('\n')}`);
  return samples.get(key);
};

describe('registerMetrics on a prom-client registry', () => {
  test('counts by outcome and actor, histograms, config version and rollouts after a known workload', async () => {
    const d = await createDispatcher({ app: fixture('observe-app.mjs'), actors: 2 });
    try {
      const registry = new Registry();
      const names = registerMetrics(d, registry);
      assert.ok(names.includes('troupe_requests_total'));
      for (let i = 0; i < 6; i++) await d.request({ op: 'sleep', ms: 1 }, { key: 'a', route: 'GET /sleep' });
      for (let i = 0; i < 2; i++) {
        await assert.rejects(d.request({ op: 'fail', code: 'E_APP' }, { key: 'a' }));
      }
      await d.configure({ x: 1 });
      const actor = (await d.request({ op: 'sleep', ms: 1 }, { key: 'a' })).toString();
      const { samples, types } = parse(await registry.metrics());
      assert.equal(types.get('troupe_requests_total'), 'counter');
      assert.equal(types.get('troupe_request_run_seconds'), 'histogram');
      assert.equal(value(samples, `troupe_requests_total{actor="${actor}",code="",outcome="ok"}`), 7);
      assert.equal(value(samples, `troupe_requests_total{actor="${actor}",code="E_APP",outcome="error"}`), 2);
      assert.equal(value(samples, 'troupe_request_run_seconds_count'), 9);
      assert.equal(value(samples, 'troupe_request_run_seconds_bucket{le="+Inf"}'), 9);
      assert.equal(value(samples, 'troupe_request_run_seconds_bucket{le="10"}'), 9);
      assert.equal(value(samples, 'troupe_request_wait_seconds_count'), 9);
      const buckets = [...samples]
        .filter(([k]) => k.startsWith('troupe_request_run_seconds_bucket'))
        .map(([, v]) => v);
      assert.deepEqual(
        buckets,
        [...buckets].sort((a, b) => a - b),
        'cumulative buckets never decrease',
      );
      const sum = value(samples, 'troupe_request_run_seconds_sum');
      assert.ok(sum > 0 && sum < 9 * 10, `run time sum ${sum} s`);
      assert.equal(value(samples, 'troupe_config_version'), 2);
      assert.equal(value(samples, 'troupe_config_rollouts_total{result="committed"}'), 1);
      assert.equal(value(samples, 'troupe_config_rollouts_total{result="rejected"}'), 0);
      for (const a of ['0', '1']) {
        assert.equal(value(samples, `troupe_actor_restarts_total{actor="${a}"}`), 0);
        const u = value(samples, `troupe_actor_utilization{actor="${a}"}`);
        assert.ok(u >= 0 && u <= 1, `utilization ${u}`);
        assert.ok(value(samples, `troupe_actor_heap_used_bytes{actor="${a}"}`) > 0);
        assert.equal(value(samples, `troupe_actor_in_flight{actor="${a}"}`), 0);
      }
      assert.equal(value(samples, `troupe_actor_run_seconds_count{actor="${actor}"}`), 9);
      assert.equal(value(samples, 'troupe_queued_requests'), 0);
      // Route names are request paths: they stay off a scrape that anyone who reaches the port can read.
      assert.ok(![...samples.keys()].some((k) => k.includes('GET /sleep')));
      // Light unkeyed-free traffic: parking keeps one actor awake.
      assert.equal(value(samples, 'troupe_awake_actors'), 1);
      // The reading does not reset the dispatcher's own figures.
      assert.equal((await d.metrics()).completed, 7);
    } finally {
      await d.close();
    }
  });

  test('bad arguments are refused; a second registration on the same registry is refused', async () => {
    const d = await createDispatcher({ app: fixture('observe-app.mjs'), actors: 1 });
    try {
      assert.throws(() => registerMetrics(d, {}), InvalidArgumentError);
      assert.throws(() => registerMetrics(d, new Registry(), { prefix: 'bad prefix' }), InvalidArgumentError);
      assert.throws(() => registerMetrics(d, new Registry(), { buckets: [1, 0.5] }), InvalidArgumentError);
      const registry = new Registry();
      registerMetrics(d, registry, { prefix: 'app_', buckets: [0.5, 1] });
      assert.throws(() => registerMetrics(d, registry, { prefix: 'app_' }), /already been registered/);
      const { samples } = parse(await registry.metrics());
      assert.equal(value(samples, 'app_request_run_seconds_bucket{le="0.5"}'), 0);
      assert.equal(value(samples, 'app_request_run_seconds_bucket{le="+Inf"}'), 0);
    } finally {
      await d.close();
    }
  });
});

describe('the HTTP front’s duration histogram', () => {
  test('scrapes to the very text prom-client’s own Histogram gives for the same observations', async () => {
    const bounds = [0.0005, 0.001, 0.01, 0.1, 1];
    const name = 'http_seconds';
    const help = 'durations';
    const theirs = new Registry();
    const histogram = new Histogram({
      name,
      help,
      labelNames: ['status_class'],
      buckets: bounds,
      registers: [theirs],
    });
    const ours = new Registry();
    const durations = new StatusDurations(name, help, bounds);
    ours.registerMetric(durations);
    // Every class, values on and between the bounds and past the last, and a status outside 100-599.
    const seen = [
      [200, 0.0005],
      [200, 0.0002],
      [204, 0.003],
      [301, 0.1],
      [404, 2],
      [499, 0.001],
      [500, 0.05],
      [101, 0],
      [200, 7.5],
      [503, 0.0011],
      [42, 0.2],
    ];
    const classOf = (status) => (status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other');
    for (const [status, seconds] of seen) {
      histogram.observe({ status_class: classOf(status) }, seconds);
      durations.record(status, seconds);
    }
    const sorted = async (r) => (await r.metrics()).split('\n').sort().join('\n');
    assert.equal(await sorted(ours), await sorted(theirs));
    ours.resetMetrics();
    theirs.resetMetrics();
    assert.equal(await sorted(ours), await sorted(theirs), 'and after a reset');
  });
});

describe('troupe serve: /_troupe/metrics', () => {
  test('scraped and parsed: troupe_ metrics, HTTP durations by status class, default process metrics', async () => {
    const s = await serve(fixture('http-app.mjs'), ['--actors', '2', '--quiet']);
    try {
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${s.url}/hello`)).status, 200);
      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${s.url}/nowhere`)).status, 404);
      assert.equal((await fetch(`${s.url}/throw`)).status, 500);
      const res = await fetch(`${s.url}/_troupe/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
      const { samples, types } = parse(await res.text());
      assert.equal(value(samples, 'troupe_http_request_duration_seconds_count{status_class="2xx"}'), 5);
      assert.equal(value(samples, 'troupe_http_request_duration_seconds_count{status_class="4xx"}'), 3);
      assert.equal(value(samples, 'troupe_http_request_duration_seconds_count{status_class="5xx"}'), 1);
      assert.equal(value(samples, 'troupe_request_run_seconds_count'), 9);
      const ok = [0, 1].reduce(
        (n, a) => n + (samples.get(`troupe_requests_total{actor="${a}",code="",outcome="ok"}`) ?? 0),
        0,
      );
      assert.equal(ok, 8, 'the 200s and 404s are the app’s answers');
      assert.equal(value(samples, 'troupe_config_version'), 1);
      assert.equal(types.get('process_cpu_user_seconds_total'), 'counter');
      assert.ok(value(samples, 'process_cpu_user_seconds_total') > 0);
      assert.ok(types.has('nodejs_eventloop_lag_seconds'));
      // The route is not an exchange: scraping does not count itself.
      const again = parse(await (await fetch(`${s.url}/_troupe/metrics`)).text()).samples;
      assert.equal(value(again, 'troupe_request_run_seconds_count'), 9);
      assert.equal((await fetch(`${s.url}/_troupe/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await s.stop();
    }
  });

  test('--metrics PATH moves the route; --metrics off leaves the path to the app', async () => {
    const moved = await serve(fixture('http-app.mjs'), ['--actors', '1', '--quiet', '--metrics', '/prom']);
    try {
      const res = await fetch(`${moved.url}/prom?x=1`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /troupe_requests_total/);
      assert.equal((await fetch(`${moved.url}/_troupe/metrics`)).status, 404);
    } finally {
      await moved.stop();
    }
    const off = await serve(fixture('http-app.mjs'), ['--actors', '1', '--quiet', '--metrics', 'off']);
    try {
      assert.equal((await fetch(`${off.url}/_troupe/metrics`)).status, 404);
    } finally {
      await off.stop();
    }
  });
});
