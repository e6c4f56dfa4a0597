// The HTTP front's fast path (bodiless GET/HEAD read by troupe's own head parser) against node:http on
// the same app: every exchange below is sent as raw bytes to a front with the fast path and to one
// without, and the bytes that come back must be the same (less the Date header's value).
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createDispatcher, serve } from 'troupe';
import { parseHead } from '../dist/http/fast/head.js';
import { directReads, readInto } from '../dist/http/fast/socket-reads.js';
import { fixture, sleep } from './http-helpers.mjs';

/** Sends each part (a pause of `gap` ms between parts), reads until the server closes, returns latin1. */
function exchange(url, parts, { gap = 30, limit = 5_000 } = {}) {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1');
    const got = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new Error(
          `no close within ${limit} ms; got ${JSON.stringify(Buffer.concat(got).toString('latin1'))}`,
        ),
      );
    }, limit);
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got).toString('latin1'));
    });
    s.on('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await sleep(gap);
        if (!s.destroyed) s.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
      }
    });
  });
}

const undated = (text) => text.replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n');
const get = (path, headers = '') => `GET ${path} HTTP/1.1\r\nHost: h\r\n${headers}\r\n`;
const last = (path, method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`;

/**
 * Name → the parts a client sends (every case ends with a request that closes the connection). Cases
 * named in ON_NODE go to node:http from their first request, those in HANDED_OVER part way through; all
 * others are served by the fast path alone.
 */
const CASES = {
  'a text answer': [last('/hello')],
  'a UTF-8 body': [last('/utf8')],
  'a bytes body': [last('/bytes')],
  'a body with its own Content-Length': [last('/length')],
  '204 and 304 carry no body': [get('/empty') + last('/not-modified')],
  'a status text of its own': [last('/status')],
  'repeated headers and two cookies': [last('/cookies')],
  'a streamed (chunked) answer': [last('/stream')],
  'HEAD: the head of each framing, no body': [last('/hello', 'HEAD')],
  'HEAD of a stream': [last('/stream', 'HEAD')],
  'the app sees the same request': [
    'GET /seen?q=1&r=%20x HTTP/1.1\r\nHost: h\r\nX-Twice: a\r\nx-twice: b\r\nCookie: a=1\r\nCookie: b=2\r\nUser-Agent:  spaced  \r\nConnection: close\r\n\r\n',
  ],
  'Host twice: the first is the origin': [
    'GET /seen HTTP/1.1\r\nHost: one\r\nHost: two\r\nConnection: close\r\n\r\n',
  ],
  'one connection, answers whose header lists repeat, differ, and differ only in length': [
    get('/hello') +
      get('/hello') +
      get('/slow') +
      get('/utf8') +
      get('/bytes') +
      get('/utf8') +
      get('/length') +
      get('/status') +
      get('/cookies') +
      get('/hello') +
      last('/utf8'),
  ],
  'an app error is a 500': [last('/throw')],
  'an app 404': [last('/nowhere')],
  'three requests in one packet, the first slow: answers in order': [
    get('/slow') + get('/hello') + last('/bytes'),
  ],
  '600 requests sent ahead in one write (past the head size limit: reading pauses)': [
    get('/hello').repeat(599) + last('/bytes'),
  ],
  'a JSON POST': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{"a":[1,2,3]}',
  ],
  'a UTF-8 body, and a POST behind it in the same packet': [
    Buffer.concat([
      Buffer.from('PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n'),
      Buffer.from('héllo\n'),
      Buffer.from(`POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc${last('/hello')}`),
    ]),
  ],
  'a body that follows its head in a later packet': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nConnection: close\r\n\r\n',
    'ab',
    'cdef',
  ],
  'a body that stops short for over a second: node:http waits for the rest': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nConnection: close\r\n\r\nab',
    'cdef',
  ],
  'a body trickled a byte at a time: node:http takes it after the wait, not byte by byte': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nConnection: close\r\n\r\n',
    'a',
    'b',
    'c',
    'd',
    'e',
    'f',
  ],
  'PATCH, DELETE and OPTIONS, with and without bodies': [
    'PATCH /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok' +
      'DELETE /seen HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n' +
      'OPTIONS /seen HTTP/1.1\r\nHost: h\r\n\r\n' +
      last('/seen', 'POST'),
  ],
  'a 100 KB body': [
    `POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 102400\r\nConnection: close\r\n\r\n${'x'.repeat(102_400)}`,
  ],
  'Content-Length twice': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab',
  ],
  'Content-Length with a sign': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\nConnection: close\r\n\r\nab',
  ],
  'Content-Length and Transfer-Encoding': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  ],
  'keep-alive across packets': [get('/hello'), get('/utf8'), last('/cookies')],
  'a GET, then a chunked POST in the same packet: node:http takes over mid-connection': [
    `${get('/hello')}POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n${last('/hello')}`,
  ],
  'a GET with a chunked body is served': [
    'GET /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  ],
  'a GET with Content-Length is served': [
    'GET /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
  ],
  'a head cut across packets': ['GET /hel', 'lo HTTP/1.1\r\nHo', 'st: h\r\nConnection: close\r\n\r\n'],
  'a head cut after a served request': [
    `${get('/hello')}GET /utf8 HT`,
    'TP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
  ],
  'Expect: 100-continue': [
    'POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n',
    'xyz',
  ],
  'no Host header': ['GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n'],
  'a space before the colon': [`GET /hello HTTP/1.1\r\nHost: h\r\nBad Name: x\r\nConnection: close\r\n\r\n`],
  'obsolete line folding': [
    `GET /hello HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n`,
  ],
  'bare LF line ends': ['GET /hello HTTP/1.1\nHost: h\nConnection: close\n\n'],
  'a bare LF at the end of a value': [
    'GET /hello HTTP/1.1\r\nHost: h\r\nX-A: b\n\r\nConnection: close\r\n\r\n',
  ],
  'a control byte in a value': ['GET /hello HTTP/1.1\r\nHost: h\r\nX-A: b\x01c\r\nConnection: close\r\n\r\n'],
  'a non-ASCII byte in a value': [
    'GET /seen HTTP/1.1\r\nHost: h\r\nX-A: caf\xe9\r\nConnection: close\r\n\r\n',
  ],
  'HTTP/1.0': ['GET /hello HTTP/1.0\r\nHost: h\r\n\r\n'],
  'an absolute-form target': ['GET http://h/seen HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n'],
  'a target with odd characters': ['GET /seen?a="<b>" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n'],
  'an unknown method': [last('/hello', 'BREW')],
  'a head over the size limit': [
    `GET /hello HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(17_000)}\r\nConnection: close\r\n\r\n`,
  ],
  garbage: ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
  'Connection: keep-alive, then close': [get('/hello', 'Connection: keep-alive\r\n') + last('/hello')],
  'an unusual Connection value': [get('/hello', 'Connection: keep-alive, x-foo\r\n') + last('/hello')],
};

const ON_NODE = new Set([
  'a GET with a chunked body is served',
  'a head cut across packets',
  'Expect: 100-continue',
  'no Host header',
  'a space before the colon',
  'obsolete line folding',
  'bare LF line ends',
  'a bare LF at the end of a value',
  'a control byte in a value',
  'a non-ASCII byte in a value',
  'HTTP/1.0',
  'an absolute-form target',
  'a target with odd characters',
  'an unknown method',
  'a head over the size limit',
  'garbage',
  'an unusual Connection value',
  'a 100 KB body',
  'a body that stops short for over a second: node:http waits for the rest',
  'a body trickled a byte at a time: node:http takes it after the wait, not byte by byte',
  'Content-Length twice',
  'Content-Length with a sign',
  'Content-Length and Transfer-Encoding',
]);
/** Cases whose parts leave this many ms apart (30 otherwise): well past the fast path's 1 s body wait. */
const GAPS = {
  'a body that stops short for over a second: node:http waits for the rest': 2_500,
  'a body trickled a byte at a time: node:http takes it after the wait, not byte by byte': 600,
};

const HANDED_OVER = new Set([
  'a GET, then a chunked POST in the same packet: node:http takes over mid-connection',
  'a head cut after a served request',
]);

// Twice: with sockets read into the shared buffer (the default), and with 'data' events (what a node
// without that mechanism gets).
for (const direct of [true, false]) {
  describe(`the fast path answers byte for byte as node:http does (${direct ? 'shared read buffer' : "'data' events"})`, () => {
    let d;
    let fast;
    let slow;
    let nodeServed = 0;
    before(async () => {
      directReads.on = direct;
      d = await createDispatcher({ app: fixture('wire-app.mjs'), actors: 2, entry: 'fetch' });
      fast = await serve(d, { port: 0, metrics: null });
      fast.server.on('request', () => nodeServed++);
      fast.server.on('checkContinue', () => nodeServed++);
      slow = await serve(d, { port: 0, metrics: null, fastPath: false });
    });
    after(async () => {
      directReads.on = true;
      await fast?.close(1000);
      await slow?.close(1000);
      await d?.close();
    });

    for (const [name, parts] of Object.entries(CASES)) {
      test(name, async () => {
        nodeServed = 0;
        const gap = GAPS[name] ?? 30;
        const [a, b] = await Promise.all([
          exchange(fast.url, parts, { gap, limit: 10_000 }),
          exchange(slow.url, parts, { gap, limit: 10_000 }),
        ]);
        assert.ok(b.length > 0, 'node:http answered something');
        assert.equal(undated(a), undated(b));
        // Who answered on the fast front: node:http's request listeners run for what it serves, and its
        // parser answers what it refuses (400, 431, 505) itself; the fast path answers neither.
        const answers = (a.match(/HTTP\/1\.1 [2-5]\d\d /g) ?? []).length;
        const refused = (a.match(/HTTP\/1\.1 (?:400|431|505) /g) ?? []).length;
        const fastServed = answers - nodeServed - refused;
        const byNode = nodeServed + refused;
        if (ON_NODE.has(name)) assert.equal(fastServed, 0, 'the fast path served none');
        else if (HANDED_OVER.has(name)) assert.ok(fastServed > 0 && byNode > 0, 'both served');
        else assert.equal(byNode, 0, 'node:http served none');
      });
    }
  });
}

test('the fast path reads Host, traceparent and the body length as node:http gives them', () => {
  const text = [
    'POST /x HTTP/1.1',
    'Host: one',
    'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'HOST: two',
    'Content-Length: 12',
    'Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '',
    '',
  ].join('\r\n');
  const head = parseHead(text, text.indexOf('\r\n\r\n'));
  assert.equal(head.host, 'one', 'the first Host, as node:http keeps it');
  assert.equal(
    head.traceparent,
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01, 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'repeats joined with a comma, as node:http joins them',
  );
  assert.equal(head.length, 12);
  const plain = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
  const bare = parseHead(plain, plain.indexOf('\r\n\r\n'));
  assert.equal(bare.traceparent, undefined);
  assert.equal(bare.length, 0);
});

describe('fast-path connections keep the timeouts and the drain', () => {
  /** Sends `parts` to a front with the fast path and one without, both with `options`; times each. */
  async function onBothPaths(options, parts) {
    const d = await createDispatcher({ app: fixture('wire-app.mjs'), actors: 1, entry: 'fetch' });
    const fast = await serve(d, { port: 0, metrics: null, ...options });
    const slow = await serve(d, { port: 0, metrics: null, ...options, fastPath: false });
    const timed = async (url) => {
      const t0 = performance.now();
      const text = await exchange(url, parts);
      return { text, ms: performance.now() - t0 };
    };
    try {
      return await Promise.all([timed(fast.url), timed(slow.url)]);
    } finally {
      await fast.close(1000);
      await slow.close(1000);
      await d.close();
    }
  }

  test('an idle kept-alive connection closes after keepAliveTimeout, on either path', async () => {
    const [a, b] = await onBothPaths({ keepAliveTimeout: 300 }, [get('/hello')]);
    assert.equal(undated(a.text), undated(b.text));
    assert.match(a.text, /Keep-Alive: timeout=/);
    for (const { ms } of [a, b]) assert.ok(ms >= 250 && ms < 3_000, `closed after ${Math.round(ms)} ms`);
  });

  test('a client that connects and sends nothing gets 408 after the header timeout, on either path', async () => {
    const [a, b] = await onBothPaths({ headerTimeout: 400 }, []);
    assert.equal(a.text, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    assert.equal(a.text, b.text);
    for (const { ms } of [a, b]) assert.ok(ms >= 350 && ms < 3_000, `closed after ${Math.round(ms)} ms`);
  });

  test('a body over maxBody: 413 and the connection closed, on either path', async () => {
    const post = `POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n${'y'.repeat(20)}${get('/hello')}`;
    const [a, b] = await onBothPaths({ maxBody: 10 }, [post]);
    assert.match(a.text, /^HTTP\/1\.1 413 /);
    assert.equal(undated(a.text), undated(b.text));
  });

  test('serve()’s server: closeIdleConnections and closeAllConnections reach fast-path connections', async () => {
    const d = await createDispatcher({ app: fixture('wire-app.mjs'), actors: 1, entry: 'fetch' });
    const http = await serve(d, { port: 0, metrics: null, keepAliveTimeout: 4_000 });
    try {
      const idle = exchange(http.url, [get('/hello')]);
      await sleep(200);
      let t0 = performance.now();
      http.server.closeIdleConnections();
      assert.match(await idle, /hello, wire\n$/, 'answered, then closed while idle');
      assert.ok(performance.now() - t0 < 1_000, 'closed at once, not after the keep-alive timeout');
      const busy = exchange(http.url, [get('/slow')]);
      await sleep(20);
      t0 = performance.now();
      http.server.closeAllConnections();
      assert.equal(await busy, '', 'cut off before its answer');
      assert.ok(performance.now() - t0 < 1_000);
    } finally {
      await http.close(1_000);
      await d.close();
    }
  });

  test('a drain closes an idle fast-path connection at once and lets a busy one finish', async () => {
    const d = await createDispatcher({ app: fixture('wire-app.mjs'), actors: 1, entry: 'fetch' });
    const http = await serve(d, { port: 0, metrics: null });
    try {
      const idle = exchange(http.url, [get('/hello')]);
      const busy = exchange(http.url, [get('/slow')]);
      await sleep(20);
      const t0 = performance.now();
      assert.equal(await http.close(2_000), 0, 'nothing cut off');
      assert.ok(performance.now() - t0 < 1_500, 'the drain did not wait for the keep-alive timeout');
      assert.match(await idle, /hello, wire\n$/);
      const answer = await busy;
      assert.match(answer, /Connection: close\r\n/);
      assert.match(answer, /slow\n$/);
    } finally {
      await d.close();
    }
  });
});

describe('the fast path reads its sockets into one shared buffer', () => {
  /** A listening server that switches its first connection with readInto; `onRead` gets its text. */
  async function switched(onRead) {
    let switchedOk;
    let firstSocket;
    const first = new Promise((resolve) => {
      firstSocket = resolve;
    });
    const server = createNetServer((socket) => {
      switchedOk = readInto(socket, (bytes, buffer) => onRead(buffer.toString('latin1', 0, bytes)));
      firstSocket(socket);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { first, server, switchedOk: () => switchedOk };
  }

  test('reads arrive as byte counts, pause stops them, resume brings the rest, end still ends', async () => {
    const got = [];
    const { first, server: srv, switchedOk } = await switched((text) => got.push(text));
    const client = connect(srv.address().port, '127.0.0.1');
    try {
      client.write('one');
      const socket = await first;
      assert.equal(switchedOk(), true, 'this node lets a server socket read into a buffer');
      let data = 0;
      socket.on('data', () => data++);
      while (got.join('') !== 'one') await sleep(5);
      socket.pause();
      client.write('two');
      await sleep(100);
      assert.equal(got.join(''), 'one', 'nothing read while paused');
      const ended = new Promise((resolve) => socket.once('end', resolve));
      socket.resume();
      client.end('three');
      await ended;
      assert.equal(got.join(''), 'onetwothree');
      assert.equal(data, 0, 'no data event: the bytes went to the callback only');
    } finally {
      client.destroy();
      srv.close();
    }
  });

  test('a socket with no handle is not switched (the connection then listens for data)', async () => {
    assert.equal(
      readInto(new Socket(), () => {}),
      false,
    );
  });

  test('an upgrade on serve()’s server after a fast-path request: the listener gets the socket, and reads', async () => {
    const d = await createDispatcher({ app: fixture('wire-app.mjs'), actors: 1, entry: 'fetch' });
    const results = [];
    for (const fastPath of [true, false]) {
      const http = await serve(d, { port: 0, metrics: null, fastPath });
      http.server.on('upgrade', (_req, socket, head) => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
        if (head.length > 0) socket.write(head);
        socket.on('data', (chunk) => {
          socket.write(chunk.toString().toUpperCase());
          if (String(chunk).endsWith('third')) socket.end();
        });
      });
      try {
        results.push(
          await exchange(http.url, [
            get('/hello'),
            `GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nfirst `,
            'second ',
            'third',
          ]).then(undated),
        );
      } finally {
        await http.close(200);
      }
    }
    await d.close();
    assert.match(results[0], /hello, wire\n.*101 Switching Protocols.*\r\n\r\nfirst SECOND THIRD$/s);
    assert.equal(results[0], results[1]);
  });
});
