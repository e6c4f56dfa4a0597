// A fetch-style app sees standard Request and Response semantics inside an actor, although troupe hands it
// lighter objects than undici's: every answer is compared with what undici's own objects give here.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { fixture, serve } from './http-helpers.mjs';

let srv;
before(async () => {
  srv = await serve(fixture('fetch-semantics.mjs'), ['--actors', '1', '--quiet']);
});
after(async () => {
  await srv?.stop();
});

/** Status, status text, the app's headers (lower-cased, the connection's own left out) and body. */
function get(path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${srv.url}${path}`, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const h = {};
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i].toLowerCase();
          if (['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(name)) continue;
          (h[name] ??= []).push(res.rawHeaders[i + 1]);
        }
        resolve({
          status: res.statusCode,
          statusText: res.statusMessage,
          headers: h,
          body: Buffer.concat(chunks),
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What undici's own Response says: status, status text, headers, body. */
async function expected(response) {
  const h = {};
  for (const [name, value] of response.headers) (h[name] ??= []).push(value);
  const body = Buffer.from(await response.arrayBuffer());
  if (!('content-length' in h) && response.status !== 204) h['content-length'] = [String(body.length)];
  return { status: response.status, statusText: response.statusText || undefined, headers: h, body };
}

function same(actual, want) {
  assert.equal(actual.status, want.status);
  if (want.statusText !== undefined) assert.equal(actual.statusText, want.statusText);
  assert.deepEqual(actual.headers, want.headers);
  assert.ok(actual.body.equals(want.body), `${actual.body} vs ${want.body}`);
}

describe('the Request a fetch app gets', () => {
  test('method, url (normalized as a real Request does), headers, instanceof, signal', async () => {
    const r = JSON.parse((await get('/a/../request?q=1', { headers: { 'x-accept': 'yes' } })).body);
    const host = new URL(srv.url).host;
    assert.deepEqual(r, {
      method: 'GET',
      url: new Request(`http://${host}/a/../request?q=1`).url,
      host,
      accept: 'yes',
      isRequest: true,
      hasSignal: true,
    });
    assert.equal(r.url, `http://${host}/request?q=1`);
  });

  test('json() reads the streamed body', async () => {
    const body = JSON.stringify({ a: [1, 2], b: 'é' });
    const r = JSON.parse(
      (await get('/body-json', { method: 'POST', body, headers: { 'content-type': 'application/json' } }))
        .body,
    );
    assert.deepEqual(r, { got: { a: [1, 2], b: 'é' }, used: true });
  });

  test('clone() and new Request(request, init) work on it', async () => {
    const r = JSON.parse((await get('/clone', { method: 'POST', body: 'payload' })).body);
    assert.deepEqual(r, { a: 'payload', b: 'payload', extra: '1', isRequest: true });
  });

  test('fetch() takes it', async () => {
    assert.equal((await get('/fetch-self')).body.toString(), 'proxied: hopped');
  });

  test('ctx has the documented fields only, not the actor’s own record', async () => {
    const r = JSON.parse((await get('/ctx')).body);
    assert.deepEqual(r, {
      keys: ['actorId', 'body', 'config', 'configVersion', 'state', 'traceparent'],
      signal: true,
    });
  });
});

describe('the Responses a fetch app makes', () => {
  const cases = {
    '/text': () => new Response('plain text'),
    '/bytes': () => new Response(new Uint8Array([104, 105])),
    '/typed': () =>
      new Response('<b>x</b>', { status: 201, headers: { 'Content-Type': 'text/html', 'X-One': 'a' } }),
    '/headers-object': () => {
      const headers = new Headers({ 'x-two': 'b' });
      headers.append('set-cookie', 'a=1');
      headers.append('set-cookie', 'b=2');
      return new Response('h', { headers });
    },
    '/mutated': () => {
      const res = new Response('m');
      res.headers.set('x-later', 'yes');
      return res;
    },
    '/no-content': () => new Response(null, { status: 204 }),
    '/status-text': () => new Response('t', { status: 299, statusText: 'Fine Thanks' }),
    '/redirect': () => Response.redirect('http://example.com/next', 307),
    '/read-own': () => new Response('read back'),
  };
  for (const [path, make] of Object.entries(cases)) {
    test(`${path} answers as undici's Response says`, async () => {
      same(await get(path), await expected(make()));
    });
  }

  test('Response.json() gives what undici gives', async () => {
    const got = await get('/is-response');
    same(got, await expected(Response.json({ light: true, ok: true })));
  });
});
