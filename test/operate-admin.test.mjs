import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDispatcher, InvalidArgumentError } from 'troupe';
import { fixture } from './helpers/util.mjs';
import { fixture as cliFixture, runCli, serve } from './http-helpers.mjs';

const TOKEN = 'op-token-0123456789';
const OTHER = 'ci-token-9876543210';

describe('admin API (programmatic)', () => {
  let d;
  let base;
  const accepted = [];
  before(async () => {
    d = await createDispatcher({
      app: fixture('probe-app.mjs'),
      actors: 3,
      config: { value: 0, db: { host: 'a', port: 1 }, name: 'x' },
      inspector: {
        port: 0,
        admin: {
          tokens: { ops: TOKEN, ci: OTHER },
          onAccepted: (config, version) => {
            accepted.push({ config, version });
          },
        },
      },
    });
    base = new URL('/_troupe/config', d.inspectorUrl).href;
  });
  after(() => d?.close());

  const call = (method, body, token = TOKEN, path = '') =>
    fetch(base + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        'content-type': 'application/merge-patch+json',
      },
      body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body),
    });

  test('401 without the token, with a wrong one, and with the token anywhere but the Authorization header', async () => {
    for (const res of [
      await call('GET', undefined, ''),
      await call('PATCH', { value: 5 }, ''),
      await call('GET', undefined, 'wrong-token-000000'),
      await call('GET', undefined, '', '/history'),
      await fetch(`${base}?token=${TOKEN}`),
    ]) {
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate'), /^Bearer/);
      assert.equal((await res.json()).error, 'unauthorized');
    }
    assert.equal(d.snapshot().configVersion, 1, 'nothing was rolled out');
  });

  test('GET /_troupe/config: the version and the whole config, values shown', async () => {
    const res = await call('GET');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      version: 1,
      config: { value: 0, db: { host: 'a', port: 1 }, name: 'x' },
    });
  });

  test('PATCH accepted: a merge patch becomes one version, nested keys merged, null removes a key', async () => {
    const res = await call('PATCH', { value: 1, db: { port: 2 }, name: null });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.version, 2);
    assert.deepEqual(body.changed.toSorted(), ['db', 'name', 'value']);
    assert.deepEqual(body.config, { value: 1, db: { host: 'a', port: 2 } });
    const snap = d.snapshot();
    assert.equal(snap.configVersion, 2);
    assert.ok(snap.actors.every((a) => a.configVersion === 2));
    const seen = await d.request({ op: 'version' });
    assert.deepEqual(seen.config, { value: 1, db: { host: 'a', port: 2 }, name: undefined });
    assert.deepEqual(accepted.at(-1), { version: 2, config: body.config });
    const last = d.configHistory().at(-1);
    assert.equal(last.by, 'ops');
    assert.equal(last.outcome, 'accepted');
  });

  test('PATCH rejected: 409 with the rejecting actor and its cause; every actor still runs the old version', async () => {
    const before = accepted.length;
    const res = await call('PATCH', { poison: 2 }, OTHER);
    assert.equal(res.status, 409);
    const body = await res.json();
    assert.equal(body.error, 'rejected');
    assert.equal(body.actorId, 2);
    assert.equal(body.version, 3);
    assert.match(body.cause, /actor 2 rejects this change/);
    assert.equal(d.snapshot().configVersion, 2);
    assert.equal(accepted.length, before, 'a rejected change is never persisted');
    const last = d.configHistory().at(-1);
    assert.deepEqual([last.version, last.by, last.outcome], [3, 'ci', 'rejected']);
    assert.equal(last.rejects[0].actorId, 2);
  });

  test('400 for a body that is not a JSON object, a bad key, or a type the app refuses', async () => {
    for (const body of ['[1,2]', '"text"', 'null', '42', '{not json', '', '{"__proto__":{"x":1}}']) {
      const res = await call('PATCH', body);
      assert.equal(res.status, 400, `body ${JSON.stringify(body)}`);
      const answer = await res.json();
      assert.equal(answer.error, 'bad-patch');
      assert.equal(typeof answer.message, 'string');
    }
    assert.equal(d.snapshot().configVersion, 2);
  });

  test('an empty or no-op patch rolls nothing out', async () => {
    for (const body of [{}, { value: 1 }, { gone: null }]) {
      const res = await call('PATCH', body);
      assert.equal(res.status, 200);
      const answer = await res.json();
      assert.deepEqual([answer.version, answer.changed], [2, []]);
    }
    assert.equal(d.snapshot().configVersion, 2);
  });

  test('405 for other methods; the page routes stay read-only', async () => {
    const res = await call('DELETE');
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, PATCH');
    assert.equal((await call('PATCH', {}, TOKEN, '/history')).status, 405);
  });

  test('concurrent PATCHes are serialized: each merges into the config its predecessor committed', async () => {
    const patches = Array.from({ length: 6 }, (_, i) => ({ db: { [`k${i}`]: i } }));
    patches.splice(3, 0, { poison: 0 });
    const answers = await Promise.all(patches.map((p) => call('PATCH', p)));
    const statuses = answers.map((r) => r.status);
    assert.deepEqual(statuses, [200, 200, 200, 409, 200, 200, 200]);
    const versions = await Promise.all(answers.map((r) => r.json().then((b) => b.version)));
    assert.deepEqual(versions, [3, 4, 5, 6, 6, 7, 8]);
    const { config, version } = await (await call('GET')).json();
    assert.equal(version, 8);
    assert.deepEqual(config.db, { host: 'a', port: 2, k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 });
  });

  test('GET /_troupe/config/history matches configHistory()', async () => {
    const res = await call('GET', undefined, TOKEN, '/history');
    assert.equal(res.status, 200);
    const history = await res.json();
    assert.deepEqual(history, JSON.parse(JSON.stringify(d.configHistory())));
    assert.deepEqual(
      history.map((r) => [r.version, r.outcome]),
      [
        [1, 'accepted'],
        [2, 'accepted'],
        [3, 'rejected'],
        [3, 'accepted'],
        [4, 'accepted'],
        [5, 'accepted'],
        [6, 'rejected'],
        [6, 'accepted'],
        [7, 'accepted'],
        [8, 'accepted'],
      ],
    );
    assert.deepEqual(
      history[1].changes.find((c) => c.key === 'name'),
      { key: 'name', from: 'x' },
    );
  });

  test('the page reads the config and history with values hidden, and never through the admin token', async () => {
    const view = await (await fetch(new URL('api/config', d.inspectorUrl))).json();
    assert.equal(view.version, 8);
    assert.equal(view.admin, true);
    assert.equal(view.config.value, '(hidden)');
    assert.deepEqual(
      view.history[1].changes.find((c) => c.key === 'value'),
      {
        key: 'value',
        from: '(hidden)',
        to: '(hidden)',
      },
    );
  });
});

test('bad admin tokens are refused at startup with a typed error, and no thread is left', async () => {
  await assert.rejects(
    createDispatcher({
      app: fixture('probe-app.mjs'),
      actors: 1,
      inspector: { port: 0, admin: { token: TOKEN } },
    }),
    /Unknown admin option 'token'; did you mean 'tokens'/,
  );
  for (const tokens of ['short', { 'bad label': TOKEN }, { ops: 'has space in it' }, {}]) {
    await assert.rejects(
      createDispatcher({
        app: fixture('probe-app.mjs'),
        actors: 1,
        inspector: { port: 0, admin: { tokens } },
      }),
      InvalidArgumentError,
    );
  }
});

describe('writeConfigFile: atomic, with a .bak', () => {
  let dir;
  let writeConfigFile;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'troupe-write-'));
    ({ writeConfigFile } = await import('../dist/http/config-write.js'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('writes the new config and keeps the previous file as .bak', async () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, '{"a":1}\n');
    await writeConfigFile(path, { a: 2 });
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { a: 2 });
    assert.equal(readFileSync(`${path}.bak`, 'utf8'), '{"a":1}\n');
    assert.deepEqual(readdirSync(dir).toSorted(), ['ok.json', 'ok.json.bak']);
  });

  test('a crash before the rename (the rename fails) leaves the old file whole and no temporary file', async () => {
    const path = join(dir, 'crash.json');
    writeFileSync(path, '{"a":1}\n');
    const ops = {
      ...fsp,
      rename: async () => {
        throw Object.assign(new Error('simulated crash'), { code: 'EIO' });
      },
    };
    await assert.rejects(
      writeConfigFile(path, { a: 2 }, ops),
      /could not write .*simulated crash.*left as it was/,
    );
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.crash')),
      [],
      'the temporary file was removed',
    );
  });

  test('a failure while writing the temporary file leaves the old file whole', async () => {
    const path = join(dir, 'full.json');
    writeFileSync(path, '{"a":1}\n');
    const ops = {
      ...fsp,
      open: async (p, flags, mode) => {
        const h = await fsp.open(p, flags, mode);
        return Object.assign(Object.create(h), {
          writeFile: async () => {
            await h.writeFile('{"a":');
            throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
          },
          sync: () => h.sync(),
          close: () => h.close(),
        });
      },
    };
    await assert.rejects(writeConfigFile(path, { a: 2 }, ops), /disk full/);
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.full')),
      [],
    );
  });
});

test('troupe serve --admin-token LABEL:TOKEN --config-write: accepted changes reach the file, rejected ones never', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'troupe-serve-admin-'));
  const path = join(dir, 'config.json');
  const original = '{\n  "greeting": "hello",\n  "keep": [1, 2]\n}\n';
  writeFileSync(path, original);
  const s = await serve(cliFixture('http-app.mjs'), [
    '--actors',
    '2',
    '--config',
    path,
    '--config-write',
    '--admin-token',
    `deploy:${TOKEN}`,
    '--quiet',
  ]);
  try {
    const [, inspector] = await s.waitFor(/inspector on (http:\/\/\S+)/);
    const url = new URL('/_troupe/config', inspector).href;
    const patch = (body) =>
      fetch(url, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      });

    const rejected = await patch({ greeting: 42 });
    assert.equal(rejected.status, 409);
    assert.equal(readFileSync(path, 'utf8'), original, 'a rejected change never touches the file');
    assert.deepEqual(readdirSync(dir), ['config.json']);

    const ok = await patch({ greeting: 'hi', extra: { on: true } });
    assert.equal(ok.status, 200);
    const body = await ok.json();
    assert.equal(body.version, 2);
    assert.equal(body.persistError, undefined);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), {
      greeting: 'hi',
      keep: [1, 2],
      extra: { on: true },
    });
    assert.equal(readFileSync(`${path}.bak`, 'utf8'), original);
    await s.waitFor(/config version 2 written to/);

    const history = await (
      await fetch(`${url}/history`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json();
    assert.deepEqual(
      history.map((r) => [r.version, r.outcome, r.by]),
      [
        [1, 'accepted', 'initial'],
        [2, 'rejected', 'deploy'],
        [2, 'accepted', 'deploy'],
      ],
    );

    // The file cannot be written any more (its folder is gone): the change is live, the answer says so.
    rmSync(dir, { recursive: true, force: true });
    const unsaved = await patch({ greeting: 'unsaved' });
    assert.equal(unsaved.status, 200);
    const answer = await unsaved.json();
    assert.equal(answer.version, 3);
    assert.match(answer.persistError, /could not write .*config\.json/);
    await s.waitFor(/config version 3 is live but could not write/);
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('troupe serve: --config-write needs --config and a token; TROUPE_ADMIN_TOKEN turns the admin API on', async () => {
  let r = await runCli(['serve', cliFixture('http-app.mjs'), '--config-write', '--admin-token', TOKEN]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config-write needs --config FILE/);
  const dir = mkdtempSync(join(tmpdir(), 'troupe-serve-env-'));
  const path = join(dir, 'c.json');
  writeFileSync(path, '{}\n');
  try {
    r = await runCli(['serve', cliFixture('http-app.mjs'), '--config', path, '--config-write']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--config-write needs --admin-token/);

    process.env.TROUPE_ADMIN_TOKEN = OTHER;
    let s;
    try {
      s = await serve(cliFixture('http-app.mjs'), ['--actors', '1', '--quiet']);
    } finally {
      delete process.env.TROUPE_ADMIN_TOKEN;
    }
    try {
      const [, inspector] = await s.waitFor(/inspector on (http:\/\/\S+)/);
      const url = new URL('/_troupe/config', inspector).href;
      assert.equal((await fetch(url)).status, 401);
      const res = await fetch(url, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${OTHER}` },
        body: '{"greeting":"env"}',
      });
      assert.equal(res.status, 200);
      const history = await (
        await fetch(`${url}/history`, { headers: { authorization: `Bearer ${OTHER}` } })
      ).json();
      assert.equal(history.at(-1).by, 'admin', 'a bare token is labelled admin');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
