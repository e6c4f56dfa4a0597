// The inspector page's live metrics, in headless Chromium: a chart block on each actor card
// (utilization, p50 / p99 run time) and the dispatcher's wait and run histograms.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDispatcher } from 'troupe';
import { launchChromium } from './helpers/browser.mjs';

const app = new URL('./fixtures/observe-app.mjs', import.meta.url);
const outDir = fileURLToPath(new URL('./output/', import.meta.url));
const WAIT = { timeout: 10_000 };

let browser;
let dispatcher;
let page;
const pageErrors = [];

before(async () => {
  dispatcher = await createDispatcher({ app, actors: 3, concurrency: 2, inspector: { port: 0 } });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(dispatcher.inspectorUrl);
});

after(async () => {
  await browser?.close();
  await dispatcher?.close();
});

test('api/metrics serves dispatcher.metrics() with the page’s bucket grid', async () => {
  const res = await fetch(new URL('api/metrics', dispatcher.inspectorUrl));
  assert.equal(res.status, 200);
  const { bounds, metrics } = await res.json();
  assert.equal(bounds.length, metrics.run.buckets.length);
  assert.equal(metrics.actors.length, 3);
});

test('a busy actor shows high utilization and its run times on its card; the histograms count every request', async () => {
  await page.waitForFunction(() => document.querySelectorAll('.card .metrics').length === 3, undefined, WAIT);
  // Keep one actor busy across several polls while the others serve short requests.
  const spin = (async () => {
    for (let i = 0; i < 8; i++) await dispatcher.request({ op: 'spin', ms: 250 }, { key: 'hot' });
  })();
  const quick = (async () => {
    for (let i = 0; i < 40; i++) await dispatcher.request({ op: 'sleep', ms: 20 });
    // A burst past every actor's concurrency: the later ones wait in the router's queue.
    await Promise.all(Array.from({ length: 30 }, () => dispatcher.request({ op: 'sleep', ms: 30 })));
  })();
  const busy = await page.waitForFunction(
    () => {
      for (const card of document.querySelectorAll('.card[data-actor-id]')) {
        const u = Number(card.querySelector('.metrics .util')?.dataset.value);
        if (u > 0.6) return card.dataset.actorId;
      }
      return false;
    },
    undefined,
    WAIT,
  );
  const hot = await busy.jsonValue();
  await Promise.all([spin, quick]);
  // Its p50 / p99 run time, from the last second's bucket counts (within the grid's factor of two).
  const p50 = await page.waitForFunction(
    (id) =>
      Number(document.querySelector(`.card[data-actor-id="${id}"] .metrics .run`)?.dataset.p50) || false,
    hot,
    WAIT,
  );
  const ms = await p50.jsonValue();
  assert.ok(ms >= 250 && ms <= 1000, `hot actor p50 ${ms} ms`);
  await page.waitForFunction(
    () => document.querySelector('#hist-run')?.dataset.count === '78',
    undefined,
    WAIT,
  );
  assert.equal(await page.getAttribute('#hist-wait', 'data-count'), '78');
  const text = await page.textContent('#hist-run .percentiles');
  assert.match(text, /^n 78 · p50 \S+ ms · p90 .* · max \d+(\.\d+)? ms$/);
  const wait = await page.textContent('#hist-wait .percentiles');
  assert.match(wait, /^n 78 · p50 0 µs · .* · max \d+(\.\d+)? ms$/, 'most started at once; the burst waited');
  assert.ok((await page.$$('#hist-run rect.bar')).length > 2);
  assert.match(await page.textContent('#metrics-summary'), /78 completed, 0 failed/);
  mkdirSync(outDir, { recursive: true });
  await page.screenshot({ path: `${outDir}inspector-metrics.png`, fullPage: true });
  assert.deepEqual(pageErrors, []);
});
