import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDispatcher } from 'troupe';
import { launchChromium } from './helpers/browser.mjs';
import { CLI } from './http-helpers.mjs';

/**
 * The operator's parts of the inspector page in headless Chromium: the config panel's editor on a live
 * dispatcher, and `troupe inspect` over the recording of a chaos run that ended in a hard kill.
 */
const WAIT = { timeout: 10_000 };
const TOKEN = 'page-admin-token-42';

let browser;
const pageErrors = [];

before(async () => {
  browser = await launchChromium();
});
after(() => browser?.close());

async function openPage(url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  return page;
}

describe('config editor on a live dispatcher', () => {
  let d;
  let page;
  before(async () => {
    d = await createDispatcher({
      app: new URL('./fixtures/inspector-app.mjs', import.meta.url),
      actors: 3,
      config: { greeting: 'hello' },
      inspector: { port: 0, admin: { tokens: { pager: TOKEN } } },
    });
    page = await openPage(d.inspectorUrl);
  });
  after(async () => {
    await page?.close();
    await d?.close();
  });

  test('without the token: the config panel shows version 1 with values hidden', async () => {
    await page.waitForSelector('#config-editor:not([hidden])', WAIT);
    await page.waitForFunction(
      () => document.getElementById('config-current-version').textContent === 'v1',
      null,
      WAIT,
    );
    assert.match(await page.textContent('#config-current'), /"greeting": "\(hidden\)"/);
    assert.match(await page.textContent('#config-note'), /hidden/);
  });

  test('a wrong token is refused and nothing rolls out', async () => {
    await page.fill('#admin-token', 'not-the-token-at-all');
    await page.fill('#config-patch', '{"greeting": "hi"}');
    await page.click('#config-propose');
    await page.waitForSelector('#config-result[data-outcome="error"]', WAIT);
    assert.match(await page.textContent('#config-result'), /^401/);
    assert.equal(d.snapshot().configVersion, 1);
  });

  test('an accepted change: every actor acknowledges it on the page, the history shows its diff', async () => {
    await page.fill('#admin-token', TOKEN);
    await page.fill('#config-patch', '{"greeting": "hi"}');
    await page.click('#config-propose');
    await page.waitForSelector('#config-result[data-outcome="accepted"]', WAIT);
    await page.waitForFunction(
      () => document.querySelectorAll('#config-verdicts li[data-phase="ack"]').length === 3,
      null,
      WAIT,
    );
    assert.equal(d.snapshot().configVersion, 2);
    await page.waitForSelector('#config-history li[data-version="2"][data-outcome="accepted"]', WAIT);
    const entry = await page.textContent('#config-history li[data-version="2"]');
    assert.match(entry, /by pager/);
    assert.match(entry, /greeting: "hello" → "hi"/);
    assert.match(
      await page.textContent('#config-current'),
      /"greeting": "hi"/,
      'values shown with the token',
    );
    assert.equal(await d.request({ op: 'x' }), 'hi');
  });

  test('a rejected change: the rejecting actor is shown live, and every actor keeps the old version', async () => {
    await page.fill('#config-patch', '{"greeting": "refuse"}');
    await page.click('#config-propose');
    await page.waitForSelector('#config-result[data-outcome="rejected"]', WAIT);
    assert.match(await page.textContent('#config-result'), /v3 rejected by actor 0: Error: actor 0 refuses/);
    await page.waitForSelector('#config-verdicts li[data-actor="0"][data-phase="reject"]', WAIT);
    await page.waitForSelector('#config-history li[data-version="3"][data-outcome="rejected"]', WAIT);
    assert.equal(d.snapshot().configVersion, 2);
    await page.fill('#config-patch', '[1]');
    await page.click('#config-propose');
    await page.waitForSelector('#config-result[data-outcome="error"]', WAIT);
    assert.match(await page.textContent('#config-result'), /^400/);
    assert.deepEqual(pageErrors, []);
  });
});

describe('troupe inspect over a recorded chaos run', () => {
  let dir;
  let final;
  let server;
  let page;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'troupe-replay-'));
    const file = join(dir, 'run.jsonl');
    const chaos = fileURLToPath(new URL('./fixtures/record-chaos.mjs', import.meta.url));
    const run = spawn(process.execPath, [chaos, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    run.stdout.on('data', (d) => (out += d));
    const { signal } = await new Promise((resolve) =>
      run.on('exit', (code, sig) => resolve({ code, signal: sig })),
    );
    assert.equal(signal, 'SIGKILL', 'the recorded process died without closing anything');
    final = JSON.parse(out.trim().split('\n').at(-1));
    assert.ok(
      final.actors.some((a) => a.restarts > 0),
      'the run had restarts',
    );

    server = spawn(process.execPath, [CLI, 'inspect', file, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`troupe inspect did not start: ${err}`)), 10_000);
      server.stderr.on('data', (d) => {
        err += d;
        const m = /replaying .* on (http:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    page = await openPage(url);
  });
  after(async () => {
    await page?.close();
    server?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the page's final per-actor states and config version equal the dispatcher's final snapshot()", async () => {
    await page.waitForSelector('#conn[data-status="replay"]', WAIT);
    await page.waitForFunction(
      (n) => document.querySelectorAll('.card[data-actor-id][data-state]:not([data-state=""])').length === n,
      final.actors.length,
      WAIT,
    );
    const cards = await page.$$eval('.card[data-actor-id]', (cards) =>
      cards.map((c) => ({
        id: Number(c.dataset.actorId),
        state: c.dataset.state,
        restarts: Number(c.querySelector('[data-field="restarts"]').textContent),
        served: Number(c.querySelector('[data-field="served"]').textContent),
        configVersion: c.querySelector('[data-field="configVersion"]').textContent,
      })),
    );
    assert.deepEqual(
      cards,
      final.actors.map((a) => ({
        id: a.id,
        state: a.state,
        restarts: a.restarts,
        served: a.served,
        configVersion: `v${a.configVersion}`,
      })),
    );
    assert.equal(await page.textContent('#config-version'), `v${final.configVersion}`);
    await page.waitForFunction(
      (v) => document.getElementById('config-current-version').textContent === `v${v}`,
      final.configVersion,
      WAIT,
    );
    await page.waitForSelector('#config-history li[data-outcome="rejected"]', WAIT);
    assert.match(
      await page.textContent('#config-history li[data-version="2"]'),
      /by test/,
      'who asked is recorded',
    );
    assert.equal((await page.$('#config-editor[hidden]')) !== null, true, 'a recording cannot be changed');
  });

  test('jumps to the next crash, rejection and spill; step back and forward from there', async () => {
    await page.click('[data-jump="crash"]');
    await page.waitForSelector('body.paused', WAIT);
    await page.waitForSelector('#timeline li.cursor[data-kind="failure"]', WAIT);
    assert.match(await page.textContent('#timeline li.cursor'), /crashed/);
    await page.click('[data-jump="reject"]');
    await page.waitForSelector('#timeline li.cursor[data-phase="reject"]', WAIT);
    assert.match(await page.textContent('#timeline li.cursor'), /rejected config v3/);
    // At the rejection, the version accepted afterwards is still to come in the config history.
    await page.waitForSelector('#config-history li.later[data-outcome="accepted"]', WAIT);
    assert.equal(await page.$('#config-history li.later[data-outcome="rejected"]'), null);
    const rejectAt = await page.textContent('#position');
    await page.click('[data-jump="crash"]');
    await page.waitForFunction((p) => document.getElementById('position').textContent !== p, rejectAt, WAIT);
    assert.match(
      await page.textContent('#timeline li.cursor'),
      /crashed/,
      'the second crash, after the rejection',
    );
    // No third crash: the page says so and stays where it was.
    const last = await page.$eval('#timeline li.cursor', (li) => li.dataset.seq);
    await page.click('[data-jump="crash"]');
    await page.waitForFunction(
      () => /no crash after/.test(document.getElementById('position').textContent),
      null,
      WAIT,
    );
    assert.equal(await page.$eval('#timeline li.cursor', (li) => li.dataset.seq), last);

    // Back to the start (slider at 0), then the first spill.
    await page.$eval('#scrub', (s) => {
      s.value = '0';
      s.dispatchEvent(new Event('input'));
    });
    await page.waitForFunction(
      () => /^frame 1 of/.test(document.getElementById('position').textContent),
      null,
      WAIT,
    );
    await page.click('[data-jump="spill"]');
    await page.waitForSelector('#timeline li.cursor[data-kind="route"]', WAIT);
    assert.match(await page.textContent('#timeline li.cursor'), /spilled/);

    const at = await page.textContent('#position');
    await page.click('#back');
    await page.waitForFunction((p) => document.getElementById('position').textContent !== p, at, WAIT);
    await page.click('#forward');
    await page.waitForFunction((p) => document.getElementById('position').textContent === p, at, WAIT);
    assert.deepEqual(pageErrors, []);
  });
});
