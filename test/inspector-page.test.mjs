import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDispatcher } from 'troupe';
import { hashKey, preferredSlot } from '../dist/actors/router/placement.js';
import { launchChromium } from './helpers/browser.mjs';

/**
 * End to end in a real browser: a dispatcher with 3 actors and its inspector page, driven by headless
 * Chromium (Debian's `chromium`, which `npm test` installs when missing: scripts/provision.mjs). One
 * browser and one dispatcher for the whole file, and each step waits on the page for what it must show:
 * ~10 s on two busy cores.
 */
const app = new URL('./fixtures/inspector-app.mjs', import.meta.url);
const outDir = fileURLToPath(new URL('./output/', import.meta.url));
const WAIT = { timeout: 8_000 };

let browser;
let dispatcher;
let page;
const requested = [];
const pageErrors = [];

before(async () => {
  dispatcher = await createDispatcher({
    app,
    actors: 3,
    config: { greeting: 'hello', secret: 's3cr3t-value' },
    inspector: { port: 0 },
  });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('request', (r) => requested.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(dispatcher.inspectorUrl);
});

after(async () => {
  await browser?.close();
  await dispatcher?.close();
});

/**
 * Two keys whose actors differ: unkeyed requests this light all go to the one awake actor (parking),
 * and the steps below want a serving and a streaming actor side by side.
 */
const keyOn = (slot) => {
  for (let i = 0; ; i++) if (preferredSlot(hashKey(`k${i}`), 3) === slot) return { key: `k${i}` };
};
const [onOne, onTwo] = [keyOn(1), keyOn(2)];

const card = (state) => `.card[data-actor-id][data-state="${state}"]`;
const marker = (state) => `#diagram-actor .actor-marker[data-actor-id][data-state="${state}"]`;

test('the inspector listens on 127.0.0.1 and the page shows 3 actors ready, on cards and on the diagram', async () => {
  assert.match(dispatcher.inspectorUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, card('ready'), WAIT);
  const ids = await page.$$eval('.card[data-actor-id]', (cards) => cards.map((c) => c.dataset.actorId));
  assert.deepEqual(ids, ['0', '1', '2']);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, marker('ready'), WAIT);
  await page.waitForSelector('#router[data-state="running.healthy"]', WAIT);
  await page.waitForSelector('#diagram-router [id="state:router.running.healthy"].current', WAIT);
  // Idle: one actor awake, the other two parked (still ready, marked on their cards).
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('.card[data-parked="true"]')].map((c) => c.dataset.actorId).join() ===
      '1,2',
    undefined,
    WAIT,
  );
  assert.equal(await page.textContent('.card[data-actor-id="1"] .state'), 'ready · parked');
  assert.equal(await page.textContent('.card[data-actor-id="0"] .state'), 'ready');
});

test('a slow request and a stream: actors marked serving and streaming, then back to ready', async () => {
  const slow = dispatcher.request({ op: 'slow', ms: 1_200 }, onOne);
  const chunks = (async () => {
    const seen = [];
    for await (const c of dispatcher.stream({ op: 'stream', n: 8, every: 120 }, onTwo)) seen.push(c);
    return seen;
  })();
  await page.waitForSelector(card('serving'), WAIT);
  await page.waitForSelector(card('streaming'), WAIT);
  await page.waitForSelector(marker('serving'), WAIT);
  await page.waitForSelector(marker('streaming'), WAIT);
  const busy = await page.$eval(
    card('serving'),
    (c) => c.querySelector('[data-field="inFlight"]').textContent,
  );
  assert.equal(busy, '1');
  await page.waitForSelector('#timeline li[data-kind="route"]', WAIT);
  assert.equal(await slow, 'hello after 1200 ms');
  assert.deepEqual(await chunks, [0, 1, 2, 3, 4, 5, 6, 7]);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, card('ready'), WAIT);
  const transitions = await page.$$eval('#timeline li[data-kind="transition"] .text', (els) =>
    els.map((e) => e.textContent),
  );
  assert.ok(
    transitions.some((t) => /ready → serving/.test(t)),
    transitions.join('\n'),
  );
  assert.ok(
    transitions.some((t) => /→ streaming/.test(t)),
    transitions.join('\n'),
  );
});

test('a config rollout shows every actor ack, the commit, and the new version; values stay hidden', async () => {
  const { version } = await dispatcher.configure({ greeting: 'bonjour' });
  const acks = `#timeline li[data-kind="config"][data-phase="ack"][data-version="${version}"]`;
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, acks, WAIT);
  const ackers = await page.$$eval(acks, (rows) => rows.map((r) => r.dataset.actor).sort());
  assert.deepEqual(ackers, ['0', '1', '2']);
  await page.waitForSelector(`#timeline li[data-phase="commit"][data-version="${version}"]`, WAIT);
  await page.waitForFunction(
    (v) =>
      [...document.querySelectorAll('[data-field="configVersion"]')].every((d) => d.textContent === `v${v}`),
    version,
    WAIT,
  );
  assert.equal(await page.textContent('#config-version'), `v${version}`);
  const start = await page.textContent(`#timeline li[data-phase="start"][data-version="${version}"] .text`);
  assert.match(start, /greeting=\(hidden\)/);
  assert.doesNotMatch(await page.content(), /bonjour|s3cr3t-value/, 'config values are not on the page');
  assert.equal(await dispatcher.request({ op: 'hi' }), 'bonjour');
});

test('a rejected config change: the rejection and its error on the timeline and the card, nobody moves on', async () => {
  const before = Number((await page.textContent('#config-version')).slice(1));
  await assert.rejects(dispatcher.configure({ greeting: 'refuse' }), { code: 'ERR_TROUPE_CONFIG_REJECTED' });
  const row = await page.waitForSelector('#timeline li[data-kind="config"][data-phase="reject"]', WAIT);
  assert.match(await row.textContent(), /actor \d rejected config v\d+: actor \d refuses this greeting/);
  const actor = await row.getAttribute('data-actor');
  await page.waitForSelector(`.card[data-actor-id="${actor}"] .rollout[data-phase="reject"]`, WAIT);
  // The rejecting actor is replaced from the last good config; all three end ready on the old version.
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, card('ready'), WAIT);
  assert.equal(await page.textContent('#config-version'), `v${before}`);
});

test('pause and step back show the dispatcher as it was; resume returns to live', async () => {
  await page.click('#pause');
  await page.waitForSelector('body.paused', WAIT);
  // Step back until the serving moment of the slow request is on screen: the state is rebuilt from
  // the recorded frames, since nothing is serving any more.
  const steps = await page.evaluate(async (sel) => {
    for (let i = 1; i <= 400; i++) {
      document.getElementById('back').click();
      // The page draws on the next animation frame.
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      if (document.querySelector(sel)) return i;
    }
    return 0;
  }, card('serving'));
  assert.ok(steps > 0, 'stepping back reached a frame with an actor serving');
  assert.ok(await page.$('#timeline li.cursor'), 'the frame on screen is marked in the timeline');
  assert.match(await page.textContent('#position'), /^frame \d+ of \d+$/);
  mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: `${outDir}inspector-paused.png`, fullPage: true });
  // Events keep arriving while paused; the view stays where it is.
  await dispatcher.request({ op: 'slow', ms: 10 });
  await page.waitForSelector('#newer:not(:empty)', WAIT);
  assert.ok(await page.$(card('serving')), 'still the past moment');
  await page.click('#pause');
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, card('ready'), WAIT);
  assert.match(await page.textContent('#position'), /^live/);
});

test('a crash and its restart: on the timeline, on the card, and the actor back to ready', async () => {
  // The rejected rollout above replaced one actor (whichever rejected first), which counts as a restart.
  const restarts = new Map(dispatcher.snapshot().actors.map((a) => [String(a.id), a.restarts]));
  await assert.rejects(dispatcher.request({ op: 'crash' }), { code: 'ERR_TROUPE_ACTOR_CRASHED' });
  const crash = await page.waitForSelector('#timeline li[data-kind="failure"][data-tone="bad"]', WAIT);
  const actor = await crash.getAttribute('data-actor');
  // The count is the router's (`@troupe.crash` inFlight); it reports 0 today, see docs/inspector.md.
  assert.match(
    await crash.textContent(),
    /actor \d crashed with \d+ in flight: the thread exited with code 5/,
  );
  await page.waitForSelector(
    `#timeline li[data-kind="failure"][data-actor="${actor}"][data-tone="warn"]`,
    WAIT,
  );
  const count = restarts.get(actor) + 1;
  await page.waitForSelector(
    `.card[data-actor-id="${actor}"] [data-field="restarts"]:text-is("${count}")`,
    WAIT,
  );
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 3, card('ready'), WAIT);
});

test('screenshot, and the page loaded nothing from anywhere but the inspector', async () => {
  mkdirSync(outDir, { recursive: true });
  // A moment with work in flight makes a more telling picture.
  const slow = dispatcher.request({ op: 'slow', ms: 800 }, onOne);
  const stream = (async () => {
    for await (const _ of dispatcher.stream({ op: 'stream', n: 6, every: 100 }, onTwo));
  })();
  await page.waitForSelector(card('serving'), WAIT);
  await page.waitForSelector(card('streaming'), WAIT);
  await page.screenshot({ path: `${outDir}inspector.png`, fullPage: true });
  await Promise.all([slow, stream]);
  assert.ok(existsSync(`${outDir}inspector.png`));
  const origin = new URL(dispatcher.inspectorUrl).origin;
  assert.ok(requested.length >= 5, 'the page, its scripts, style, diagrams and events');
  for (const url of requested) assert.ok(url.startsWith(origin), `no CDN, no outside request: ${url}`);
  assert.deepEqual(pageErrors, []);
});
