// The HTTP front's own behaviour: requests node:http serves (GET/HEAD with a body), what the access log
// says about errors and cut-off streams, client timeouts, SIGHUP during startup, TypeScript apps.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, fixture, runCli, serve, sleep } from './http-helpers.mjs';

function send(url, { method = 'GET', headers = {}, body, chunked = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (chunked) {
      req.write(body);
      req.end();
    } else req.end(body);
  });
}

describe('troupe serve: requests node:http serves', () => {
  let srv;
  before(async () => {
    srv = await serve(fixture('http-app.mjs'), ['--actors', '1']);
  });
  after(async () => {
    await srv?.stop();
  });

  test('a GET with a body (Content-Length) is served, not refused', async () => {
    const r = await send(`${srv.url}/hello`, { body: 'x', headers: { 'content-length': '1' } });
    assert.equal(r.status, 200);
    assert.match(r.text, /hello from 0/);
  });

  test('a GET with a chunked body is served; the app sees no body on its Request', async () => {
    const r = await send(`${srv.url}/echo`, {
      body: 'some bytes',
      chunked: true,
      headers: { 'transfer-encoding': 'chunked' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
  });

  test('a HEAD with a body gets the headers and no body', async () => {
    const r = await send(`${srv.url}/hello`, {
      method: 'HEAD',
      body: 'x',
      headers: { 'content-length': '1' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
  });

  test('an error raised before the response head is logged with the actor that ran it', async () => {
    const r = await send(`${srv.url}/throw`);
    assert.equal(r.status, 500);
    const line = await srv.waitFor(/GET \/throw (\d+) [\d.]+ms actor=(\S+)/, 'stdout');
    assert.equal(line[1], '500');
    assert.equal(line[2], '0');
  });
});

describe('troupe serve: the access log of a stream cut off at --grace', () => {
  test('says 503, not the 200 of the head that went out before the cut', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '1', '--grace', '0.3']);
    const cut = new Promise((resolve) => {
      const req = request(`${srv.url}/hang?id=g`, (res) => {
        assert.equal(res.statusCode, 200);
        res.on('data', () => {});
        res.on('error', resolve);
        res.on('close', resolve);
        srv.proc.kill('SIGTERM');
      });
      req.on('error', resolve);
      req.end();
    });
    await cut;
    const { code } = await srv.exited;
    assert.equal(code, 0);
    assert.match(srv.stdout, /GET \/hang 503 [\d.]+ms actor=0/);
    assert.doesNotMatch(srv.stdout, /GET \/hang 200/);
  });
});

describe('troupe serve: client timeouts', () => {
  test('--header-timeout ends a connection whose headers never finish (slowloris)', async () => {
    const srv = await serve(fixture('http-app.mjs'), ['--actors', '1', '--quiet', '--header-timeout', '1']);
    try {
      const { port } = new URL(srv.url);
      const t0 = performance.now();
      const answer = await new Promise((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write('GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        });
        let text = '';
        socket.on('data', (d) => (text += d));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        setTimeout(() => reject(new Error('the connection was still open after 8 s')), 8000).unref();
      });
      assert.match(answer, /^HTTP\/1\.1 408/);
      assert.ok(performance.now() - t0 >= 900, 'not before the timeout');
    } finally {
      await srv.stop();
    }
  });

  test('bad timeout flags exit 2 with the reason', async () => {
    let r = await runCli(['serve', fixture('http-app.mjs'), '--header-timeout', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--header-timeout/);
    r = await runCli(['serve', fixture('http-app.mjs'), '--header-timeout', '20', '--request-timeout', '10']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--request-timeout/);
    r = await runCli(['serve', fixture('http-app.mjs'), '--keep-alive-timeout', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--keep-alive-timeout: 'soon'/);
  });
});

describe('troupe serve: SIGHUP while the actors warm up', () => {
  let dir;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'troupe-http-front-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('does not end the process; the file read after it is rolled out once serving', async () => {
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ greeting: 'hello', initDelayMs: 1500 }));
    const proc = spawn(
      process.execPath,
      [CLI, 'serve', fixture('http-app.mjs'), '--port', '0', '--actors', '1', '--quiet', '--config', file],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      for (let i = 0; i < 200 && !stdout.includes('init-started'); i++) await sleep(50);
      assert.match(stdout, /init-started/);
      await writeFile(file, JSON.stringify({ greeting: 'changed', initDelayMs: 1500 }));
      proc.kill('SIGHUP');
      for (let i = 0; i < 200 && !/serving .* on (http:\/\/\S+)/.test(stderr); i++) await sleep(50);
      const url = /serving .* on (http:\/\/\S+)/.exec(stderr)?.[1];
      assert.ok(url, `not serving: ${stderr}`);
      assert.equal(proc.exitCode, null);
      for (let i = 0; i < 100 && !/rolled out/.test(stderr); i++) await sleep(50);
      const r = await fetch(`${url}/config`).then((res) => res.json());
      assert.equal(r.greeting, 'changed');
    } finally {
      proc.kill('SIGTERM');
      const { code } = await exited;
      assert.equal(code, 0, stderr);
    }
  });
});

describe('troupe serve app.ts', () => {
  test('runs a TypeScript app (through tsx, installed here)', async () => {
    const srv = await serve(fixture('ts-app.ts'), ['--actors', '1', '--quiet']);
    try {
      const r = await fetch(`${srv.url}/`).then((res) => res.json());
      assert.deepEqual(r, { text: 'hello from TypeScript', actor: 0 });
    } finally {
      await srv.stop();
    }
  });
});
