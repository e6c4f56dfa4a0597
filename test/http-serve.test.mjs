// `troupe serve`: the command, routes through fetch-style and Hono apps, affinity, health, the access
// log, curl and a short bounded autocannon load, all against a live server on 127.0.0.1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { routeOf } from '../dist/http/route-of.js';
import { example, fixture, runCli, serve, sleep } from './http-helpers.mjs';

const exec = promisify(execFile);
const hasCurl = await exec('curl', ['--version']).then(
  () => true,
  () => false,
);

describe('troupe serve: command line', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await runCli(['serve', '--help']);
    assert.equal(r.code, 0);
    for (const flag of [
      '--actors',
      '--concurrency',
      '--port',
      '--host',
      '--config',
      '--affinity',
      '--max-body',
      '--timeout',
      '--grace',
      '--quiet',
    ]) {
      assert.match(r.stdout, new RegExp(flag));
    }
  });

  test('a bad flag exits 2 with the reason', async () => {
    const r = await runCli(['serve', fixture('http-app.mjs'), '--max-body', 'lots']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--max-body: 'lots' is not a size/);
  });

  test('a failing init exits non-zero at once, with the cause, and never opens the port', async () => {
    const r = await runCli(['serve', fixture('http-bad-init.mjs'), '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /database unreachable at db\.invalid:5432/);
    assert.doesNotMatch(r.stderr, /serving/);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  });
});

describe('troupe serve: parking and --spread', () => {
  const actorsOf = async (url) => {
    const bodies = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${url}/hello`).then((r) => r.text())),
    );
    return new Set(bodies.map((b) => b.trim().split(' ').at(-1)));
  };

  test('by default a light load stays on one awake actor, and the metrics route says so', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--quiet']);
    try {
      // An actor's first requests run cold code and can cost far more than later ones: the route's
      // estimate reads them as heavy for a few requests, and parking rightly passes requests on
      // meanwhile. Steady state is what this test is about.
      for (let i = 0; i < 40; i++) await fetch(`${srv.url}/hello`).then((r) => r.text());
      assert.deepEqual(await actorsOf(srv.url), new Set(['0']));
      const metrics = await (await fetch(`${srv.url}/_troupe/metrics`)).text();
      assert.match(metrics, /^troupe_awake_actors 1$/m);
    } finally {
      await srv.stop();
    }
  });

  test('a request of a route known to be heavy sends the cheap ones behind it to the other actor', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--quiet']);
    try {
      // The front learns what GET /spin costs; then the cheap route runs alone until one actor is awake.
      await fetch(`${srv.url}/spin?ms=150`).then((r) => r.text());
      for (let i = 0; i < 40; i++) await fetch(`${srv.url}/whoami`).then((r) => r.text());
      const awake = async () =>
        (await (await fetch(`${srv.url}/_troupe/metrics`)).text()).match(/^troupe_awake_actors (\d+)$/m)?.[1];
      for (let i = 0; i < 100 && (await awake()) !== '1'; i++) await sleep(20);
      assert.equal(await awake(), '1');
      const ended = [];
      const spin = fetch(`${srv.url}/spin?ms=300`)
        .then((r) => r.json())
        .then((b) => {
          ended.push('spin');
          return b.actor;
        });
      await sleep(1);
      // Sent while the long request has barely begun: before its actor's loop reads as held.
      const cheap = Array.from({ length: 6 }, () =>
        fetch(`${srv.url}/whoami`)
          .then((r) => r.json())
          .then((b) => {
            ended.push('whoami');
            return b.actor;
          }),
      );
      const on = await spin;
      const actors = await Promise.all(cheap);
      assert.ok(
        actors.every((a) => a !== on),
        `GET /spin ran on actor ${on}, the cheap requests on ${actors}`,
      );
      assert.equal(ended.at(-1), 'spin', `the cheap requests ended first: ${ended}`);
    } finally {
      await srv.stop();
    }
  });

  test('a request’s route: its method and path without the query, with id segments as :id', () => {
    assert.equal(routeOf('GET', '/hello'), 'GET /hello');
    assert.equal(routeOf('GET', '/'), 'GET /');
    assert.equal(routeOf('GET', '/?q=1'), 'GET /');
    assert.equal(routeOf('GET', '/users/42?x=1'), 'GET /users/:id');
    assert.equal(routeOf('POST', '/users/42/orders/7/'), 'POST /users/:id/orders/:id/');
    assert.equal(routeOf('GET', '/items/3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b'), 'GET /items/:id');
    assert.equal(routeOf('GET', '/v2/users'), 'GET /v2/users', 'a word with a digit stays');
    assert.equal(routeOf('GET', '/files/2024-report'), 'GET /files/2024-report');
    assert.equal(
      routeOf('GET', '/tags/deadbeefcafebabe'),
      'GET /tags/deadbeefcafebabe',
      'hex letters alone are a word',
    );
    assert.equal(routeOf('DELETE', '/a/1/b/2/c'), 'DELETE /a/:id/b/:id/c');
  });

  test('--spread: concurrent requests go to every actor', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--quiet', '--spread']);
    try {
      assert.deepEqual(await actorsOf(srv.url), new Set(['0', '1']));
      const metrics = await (await fetch(`${srv.url}/_troupe/metrics`)).text();
      assert.match(metrics, /^troupe_awake_actors 2$/m);
    } finally {
      await srv.stop();
    }
  });
});

describe('troupe serve: --inspect-port', () => {
  test('passes the inspector option through and prints its URL', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '1', '--quiet', '--inspect-port', '0']);
    try {
      const [, url] = await srv.waitFor(/inspector on (http:\/\/\S+)/);
      assert.equal((await fetch(url)).status, 200);
    } finally {
      await srv.stop();
    }
  });
});

describe('troupe serve: a fetch-style app (defineApp)', () => {
  let srv;
  before(async () => {
    srv = await serve(fixture('http-app.mjs'), ['--actors', '2', '--affinity', 'header:x-user']);
  });
  after(() => srv?.stop());

  test('answers with the app response, Content-Length for a whole body', async () => {
    const res = await fetch(`${srv.url}/hello`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^hello from [01]\n$/);
    assert.equal(res.headers.get('content-length'), '13');
  });

  test('request.url takes its origin from a well-formed Host header, never its path', async () => {
    const urlFor = (host) =>
      new Promise((resolve, reject) => {
        const req = http.get(`${srv.url}/url?x=1`, { headers: { host } }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(JSON.parse(text).url));
        });
        req.on('error', reject);
      });
    assert.equal(await urlFor('example.test:8080'), 'http://example.test:8080/url?x=1');
    assert.equal(await urlFor('evil.test/admin?'), `${srv.url}/url?x=1`);
  });

  test('HEAD sends the headers and no body', async () => {
    const res = await fetch(`${srv.url}/hello`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  test('several Set-Cookie headers stay separate', async () => {
    const res = await fetch(`${srv.url}/cookies`);
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });

  test('unknown routes are the app’s 404, not the server’s', async () => {
    const res = await fetch(`${srv.url}/nope`);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'not found\n');
  });

  test('--affinity header: the same key always lands on the same actor; keys spread over actors', async () => {
    const seen = new Map();
    for (let k = 0; k < 16; k++) {
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${srv.url}/whoami`, { headers: { 'x-user': `user-${k}` } });
        const { actor } = await res.json();
        if (!seen.has(k)) seen.set(k, actor);
        assert.equal(actor, seen.get(k), `key user-${k} moved`);
      }
    }
    assert.equal(new Set(seen.values()).size, 2, 'keys should use both actors');
  });

  test('health route: ready, config version, actors', async () => {
    const res = await fetch(`${srv.url}/_troupe/health`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, 'ready');
    assert.equal(typeof body.configVersion, 'number');
    assert.equal(body.actors.length, 2);
    assert.ok(body.actors.every((a) => ['ready', 'serving', 'streaming'].includes(a.state)));
  });

  test('one access-log line per request: method, path, status, ms, actor', async () => {
    await fetch(`${srv.url}/whoami?token=secret`).then((r) => r.text());
    const m = await srv.waitFor(/^\S+ GET \/whoami (\d{3}) ([\d.]+)ms actor=(\d)$/m, 'stdout');
    assert.equal(m[1], '200');
    assert.doesNotMatch(srv.stdout, /secret/, 'the query string is left out of the log');
  });

  test('curl gets the same answers', { skip: !hasCurl && 'no curl' }, async () => {
    const { stdout } = await exec('curl', ['-sS', '-i', `${srv.url}/hello`]);
    assert.match(stdout, /^HTTP\/1\.1 200 OK/);
    assert.match(stdout, /hello from [01]/);
    const echo = await exec('curl', ['-sS', '--data-binary', 'ping from curl', `${srv.url}/echo`]);
    assert.equal(echo.stdout, 'ping from curl');
  });

  test('a short autocannon load (loopback, 3,000 requests, ≤ 10 s): no error, every answer 200', async () => {
    const result = await autocannon({
      url: `${srv.url}/hello`,
      connections: 16,
      amount: 3000,
      duration: 10,
    });
    assert.equal(result.errors, 0);
    assert.equal(result.timeouts, 0);
    assert.equal(result.non2xx, 0);
    assert.equal(result.requests.total, 3000);
  });
});

describe('troupe serve: a plain Hono app (examples/hono-app.mjs)', () => {
  let srv;
  before(async () => {
    srv = await serve(example('hono-app.mjs'), [
      '--actors',
      '2',
      '--quiet',
      '--health',
      '/ready',
      '--affinity',
      'cookie:sid',
    ]);
  });
  after(() => srv?.stop());

  test('routes and params', async () => {
    assert.match(await (await fetch(`${srv.url}/`)).text(), /Hello from Hono on actor [01]/);
    const res = await fetch(`${srv.url}/users/42`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).id, '42');
  });

  test('JSON request bodies', async () => {
    const ok = await fetch(`${srv.url}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ada' }),
    });
    assert.equal(ok.status, 201);
    assert.equal((await ok.json()).created, 'ada');
    const bad = await fetch(`${srv.url}/users`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bad.status, 400);
  });

  test('hono/streaming stream() arrives chunk by chunk', async () => {
    const res = await fetch(`${srv.url}/stream`);
    const times = [];
    const parts = [];
    const dec = new TextDecoder();
    for await (const chunk of res.body) {
      times.push(performance.now());
      parts.push(dec.decode(chunk));
    }
    assert.equal(parts.join(''), 'part 1\npart 2\npart 3\n');
    assert.ok(times.length >= 2, 'more than one chunk');
    assert.ok(times.at(-1) - times[0] >= 150, 'chunks spread over time, not buffered to the end');
  });

  test('hono/streaming streamSSE() events', async () => {
    const res = await fetch(`${srv.url}/sse`);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const text = await res.text();
    assert.equal(text.match(/event: tick/g)?.length, 3);
  });

  test('--affinity cookie: the same session cookie always lands on the same actor', async () => {
    const actors = new Set();
    for (const sid of ['s-1', 's-2', 's-3', 's-4', 's-5', 's-6', 's-7', 's-8']) {
      const seen = new Set();
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${srv.url}/users/1`, {
          headers: { cookie: `theme=dark; sid=${sid}; lang=en` },
        });
        seen.add((await res.json()).actor);
      }
      assert.equal(seen.size, 1, `session ${sid} moved between actors`);
      actors.add([...seen][0]);
    }
    assert.equal(actors.size, 2, 'sessions should use both actors');
  });

  test('--health sets the route path; the old path goes to the app', async () => {
    assert.equal((await fetch(`${srv.url}/ready`)).status, 200);
    assert.equal((await fetch(`${srv.url}/_troupe/health`)).status, 404);
  });

  test('--quiet: no access log', async () => {
    await fetch(`${srv.url}/`).then((r) => r.text());
    await sleep(50);
    assert.equal(srv.stdout, '');
  });
});

describe('troupe serve: the example npm start serves (examples/hello-app.mjs)', () => {
  let srv;
  before(async () => {
    srv = await serve(example('hello-app.mjs'), ['--actors', '2', '--quiet']);
  });
  after(() => srv?.stop());

  test('the routes the README shows with curl', async () => {
    assert.match(
      await (await fetch(`${srv.url}/`)).text(),
      /^Hello from actor [01] \(config version \d+\)\n$/,
    );
    assert.equal((await fetch(`${srv.url}/`, { method: 'HEAD' })).status, 200);
    assert.equal(typeof (await (await fetch(`${srv.url}/json`)).json()).actor, 'number');
    const echo = await fetch(`${srv.url}/echo`, { method: 'POST', body: 'round trip' });
    assert.equal(await echo.text(), 'round trip');
    assert.match(await (await fetch(`${srv.url}/work?ms=5`)).text(), /^worked 5 ms on actor [01]/);
    assert.equal((await fetch(`${srv.url}/nope`)).status, 404);
  });

  test('/stream and /sse arrive piece by piece', async () => {
    const t0 = performance.now();
    const res = await fetch(`${srv.url}/sse`);
    const reader = res.body.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /^id: 1\nevent: tick\ndata: /);
    assert.ok(performance.now() - t0 < 500, 'first event at once');
    await reader.cancel();
    const text = await (await fetch(`${srv.url}/stream`)).text();
    assert.equal(text.match(/chunk \d of 5/g)?.length, 5);
  });
});
