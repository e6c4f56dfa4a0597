// `troupe serve` runs Node-style apps unchanged: Express 5, Koa, Fastify and a bare node:http listener each
// answer the same requests through troupe serve and through their own listen(), and every answer must be
// the same: status, headers (less Date and the connection's own), body byte for byte.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { example, fixture, pushUpload, serve } from './http-helpers.mjs';

/** What is the connection's, not the app's: the two servers may differ there. */
const NOT_COMPARED = new Set(['date', 'connection', 'keep-alive']);

function send(base, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      const chunks = [];
      let firstAt;
      res.on('data', (c) => {
        firstAt ??= performance.now() - t0;
        chunks.push(c);
      });
      res.on('end', () => {
        const pairs = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i].toLowerCase();
          if (!NOT_COMPARED.has(name)) pairs.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
        }
        resolve({
          status: res.statusCode,
          statusMessage: res.statusMessage,
          headers: pairs,
          body: Buffer.concat(chunks),
          firstAt,
          endAt: performance.now() - t0,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** 20 MB of bytes that are not all alike, so that a lost or reordered chunk changes the checksum. */
const UPLOAD = Buffer.alloc(20 * 1024 * 1024);
for (let i = 0; i < UPLOAD.length; i++) UPLOAD[i] = (i * 7 + (i >> 13)) & 0xff;

const CASES = [
  ['params and query', '/users/42?x=1&y=two', {}, (r) => assert.match(r.body.toString(), /"42"/)],
  ['HEAD: the headers, no body', '/users/42', { method: 'HEAD' }, (r) => assert.equal(r.body.length, 0)],
  [
    'JSON body',
    '/json',
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1, b: [1, 2], c: 'é' }),
    },
    (r) => assert.equal(r.status, 201),
  ],
  [
    'cookies in and out',
    '/cookies',
    { headers: { cookie: 'a=1; b=2' } },
    (r) => {
      assert.match(r.body.toString(), /a=1; b=2/);
      assert.equal(r.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').length, 2);
    },
  ],
  ['a redirect', '/redirect', {}, (r) => assert.equal(r.status, 302)],
  ['a 404', '/nowhere', {}, (r) => assert.equal(r.status, 404)],
  [
    "the app's own error handler",
    '/error',
    {},
    (r) => {
      assert.equal(r.status, 500);
      assert.match(r.body.toString(), /boom/);
    },
  ],
  [
    'a streamed response',
    '/stream',
    {},
    (r) => assert.equal(r.body.toString(), 'chunk 0\nchunk 1\nchunk 2\n'),
  ],
  [
    'a 20 MB upload',
    '/upload',
    { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: UPLOAD },
    (r) => assert.equal(JSON.parse(r.body.toString()).bytes, UPLOAD.length),
  ],
];

/** Each framework's own way to listen on a free loopback port; resolves with its URL and a close(). */
const OWN = {
  'node-express.mjs': async (app) => {
    const server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
  },
  'node-koa.mjs': async (app) => {
    const server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
  },
  'node-fastify.mjs': async (app) => {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  },
  'node-listener.mjs': async (listener) => {
    const { createServer } = await import('node:http');
    const server = await new Promise((resolve) => {
      const s = createServer(listener).listen(0, '127.0.0.1', () => resolve(s));
    });
    return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
  },
};

for (const [file, listen] of Object.entries(OWN)) {
  describe(`troupe serve ${file} answers as its own listen() does`, () => {
    let own;
    let srv;
    before(async () => {
      const app = (await import(fixture(file))).default;
      own = await listen(app);
      srv = await serve(fixture(file), ['--actors', '1', '--max-body', '64mb', '--quiet']);
    });
    after(async () => {
      await own?.close();
      await srv?.stop();
    });

    for (const [name, path, options, check] of CASES) {
      test(name, async () => {
        const mine = await send(own.url, path, options);
        const viaTroupe = await send(srv.url, path, options);
        check(mine);
        assert.equal(viaTroupe.status, mine.status);
        assert.equal(viaTroupe.statusMessage, mine.statusMessage);
        assert.deepEqual(viaTroupe.headers, mine.headers);
        assert.ok(viaTroupe.body.equals(mine.body), `body differs:\n${viaTroupe.body}\n---\n${mine.body}`);
        if (path === '/stream') {
          // Streamed, not buffered: the first chunk arrives well before the last one is written.
          assert.ok(
            viaTroupe.endAt - viaTroupe.firstAt > 100,
            `first ${viaTroupe.firstAt} end ${viaTroupe.endAt}`,
          );
        }
      });
    }
  });
}

describe('troupe serve, a Node-style app whose client leaves', () => {
  let srv;
  before(async () => {
    // A body limit above what the upload test sends: the front must not cut it off (413) meanwhile.
    srv = await serve(fixture('node-listener.mjs'), ['--actors', '1', '--quiet', '--max-body', '1gb']);
  });
  after(async () => {
    await srv?.stop();
  });

  test('an app that reads slowly slows the upload at the source', async () => {
    const MB = 1024 * 1024;
    const written = await pushUpload(`${srv.url}/upload-slow`);
    // ~3 MB/s read: the client gets only the window and socket buffers ahead of it.
    assert.ok(written < 24 * MB, `the client pushed ${(written / MB).toFixed(1)} MB in 1 s`);
  });

  test("a client that reads slowly makes the app's write() return false, and 'drain' follows", async () => {
    const bytes = await new Promise((resolve, reject) => {
      const req = request(`${srv.url}/flood`, (res) => {
        res.pause();
        // Nothing read for 500 ms: the app must be told to wait, not buffer 64 MB on its side (more than the window and the sockets hold).
        setTimeout(() => {
          let n = 0;
          res.on('data', (c) => (n += c.length));
          res.on('end', () => resolve(n));
          res.resume();
        }, 500);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(bytes, 1024 * 64 * 1024);
    const m = await srv.waitFor(/flood-refused (\d+)/, 'stdout', 5000);
    assert.ok(Number(m[1]) > 0, 'write() never returned false');
  });

  test("the app's response and request close when the client leaves mid-stream", async () => {
    await new Promise((resolve, reject) => {
      const req = request(`${srv.url}/hang`, (res) => {
        res.once('data', (chunk) => {
          assert.equal(chunk.toString(), 'started\n');
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end();
      setTimeout(() => reject(new Error('no first chunk')), 5000).unref();
    });
    await srv.waitFor(/res-closed false/, 'stdout', 5000);
    await srv.waitFor(/req-closed/, 'stdout', 5000);
  });
});

describe('examples/node-app.mjs', () => {
  test('answers with the state its named init export made, and streams', async () => {
    const srv = await serve(example('node-app.mjs'), ['--actors', '1', '--quiet']);
    try {
      const r = await fetch(`${srv.url}/x`).then((res) => res.json());
      assert.deepEqual(r, { greeting: 'Hello', actor: 0, hits: 1, url: '/x' });
      const text = await fetch(`${srv.url}/stream`).then((res) => res.text());
      assert.equal(text, 'chunk 1\nchunk 2\nchunk 3\nchunk 4\nchunk 5\n');
    } finally {
      await srv.stop();
    }
  });
});
