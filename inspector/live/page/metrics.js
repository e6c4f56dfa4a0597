// Live metrics on the inspector page: a small chart block on each actor card (event-loop utilization,
// p50 and p99 run time, over the last minute) and the dispatcher's wait and run time histograms.
// Polls `api/metrics` once a second; each chart point is the difference between two readings, so the
// charts show the last second, not the average since start. Separate from app.js: it only adds to the
// cards app.js draws, and owns its own panel.

const POLL_MS = 1_000;
/** Points kept per chart: a minute at one poll a second. */
const POINTS = 60;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

/** Per actor id: the last reading's figures and the chart series. */
const actors = new Map();

/** 0.25 → "250 µs", 12.5 → "12.5 ms", 2500 → "2.5 s". */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1) return `${round(ms * 1000)} µs`;
  if (ms < 1000) return `${round(ms)} ms`;
  return `${round(ms / 1000)} s`;
}

function round(x) {
  if (x === 0) return '0';
  return x >= 100 ? String(Math.round(x)) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Counts per bucket from cumulative counts (bucket i: above bound i−1, up to bound i). */
function perBucket(cumulative) {
  return cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]));
}

/** The percentile `p` (0..1) of bucketed counts: the bucket's upper bound (within a factor of 2). */
function percentile(counts, bounds, p) {
  const n = counts.reduce((a, b) => a + b, 0);
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil(p * n));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return bounds[i];
  }
  return bounds[bounds.length - 1];
}

function push(series, value) {
  series.push(value);
  if (series.length > POINTS) series.shift();
}

/** One reading: the per-actor points for the last interval, then every chart. */
function ingest(reading) {
  const { bounds, metrics } = reading;
  for (const a of metrics.actors) {
    let s = actors.get(a.id);
    if (s === undefined) {
      s = { util: [], p50: [], p99: [], last: undefined };
      actors.set(a.id, s);
    }
    const last = s.last;
    // Same thread as the last reading: differences; a new thread (restart) starts from its own zero.
    const same = last !== undefined && last.threadId === a.threadId && a.eventLoop && last.eventLoop;
    let util = a.utilization;
    if (same) {
      const active = a.eventLoop.active - last.eventLoop.active;
      const idle = a.eventLoop.idle - last.eventLoop.idle;
      util = active + idle > 0 ? active / (active + idle) : 0;
    }
    const cumulative = a.run.buckets ?? [];
    const before = last?.run.buckets;
    const counts = perBucket(
      before !== undefined &&
        before.length === cumulative.length &&
        cumulative.every((c, i) => c >= before[i])
        ? cumulative.map((c, i) => c - before[i])
        : cumulative,
    );
    push(s.util, util);
    push(s.p50, percentile(counts, bounds, 0.5));
    push(s.p99, percentile(counts, bounds, 0.99));
    s.last = a;
  }
  drawCards();
  drawHistogram($('hist-wait'), metrics.wait, bounds);
  drawHistogram($('hist-run'), metrics.run, bounds);
  const m = metrics;
  const failed = Object.values(m.failed).reduce((a, b) => a + b, 0);
  $('metrics-summary').textContent =
    `since start, all actors: ${m.completed} completed, ${failed} failed, ${m.streams} streams, ` +
    `${m.restarts} restarts${m.recording ? '' : ' (recording off)'}`;
}

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.append(e);
  return e;
}

/** A sparkline of `series` (nulls are gaps) scaled to `max`, in a 120 × 28 box. */
function line(svg, series, max, cls) {
  const w = 120;
  const h = 28;
  let d = '';
  let pen = false;
  series.forEach((v, i) => {
    if (v === null || v === undefined) {
      pen = false;
      return;
    }
    const x = (w * (i + POINTS - series.length)) / (POINTS - 1);
    const y = h - 1 - ((h - 2) * Math.min(v, max)) / (max || 1);
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  });
  el('path', { d, class: cls }, svg);
}

function chart(cls, label) {
  const row = document.createElement('div');
  row.className = `metric ${cls}`;
  const name = document.createElement('span');
  name.className = 'metric-name';
  name.textContent = label;
  const svg = el('svg', { viewBox: '0 0 120 28', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  const value = document.createElement('span');
  value.className = 'metric-value';
  row.append(name, svg, value);
  return row;
}

/** Adds (once) and refreshes the chart block of each actor card app.js drew. */
function drawCards() {
  for (const card of document.querySelectorAll('.card[data-actor-id]')) {
    const s = actors.get(Number(card.dataset.actorId));
    if (s === undefined) continue;
    let block = card.querySelector('.metrics');
    if (block === null) {
      block = document.createElement('div');
      block.className = 'metrics';
      block.append(chart('util', 'busy'), chart('run', 'run p50/p99'));
      card.querySelector('footer').before(block);
    }
    const util = block.querySelector('.util');
    const uSvg = util.querySelector('svg');
    uSvg.replaceChildren();
    line(uSvg, s.util, 1, 'util-line');
    const u = s.util.at(-1);
    util.querySelector('.metric-value').textContent =
      u === null || u === undefined ? '–' : `${Math.round(u * 100)}%`;
    util.dataset.value = String(u ?? '');
    const run = block.querySelector('.run');
    const rSvg = run.querySelector('svg');
    rSvg.replaceChildren();
    const max = Math.max(0, ...s.p99.filter((v) => v !== null));
    line(rSvg, s.p99, max, 'p99-line');
    line(rSvg, s.p50, max, 'p50-line');
    const p50 = s.p50.at(-1);
    const p99 = s.p99.at(-1);
    run.querySelector('.metric-value').textContent =
      p50 === null || p50 === undefined ? 'idle' : `${duration(p50)} / ${duration(p99)}`;
    run.dataset.p50 = String(p50 ?? '');
    run.dataset.p99 = String(p99 ?? '');
  }
}

/** Bars per bucket over the range that holds samples, with the summary's percentiles beneath. */
function drawHistogram(figure, summary, bounds) {
  const counts = perBucket(summary.buckets ?? []);
  // Samples above the last bound are in the count but in no bucket.
  counts.push(summary.count - (summary.buckets?.at(-1) ?? 0));
  let first = counts.findIndex((c) => c > 0);
  let last = counts.length - 1 - [...counts].reverse().findIndex((c) => c > 0);
  if (first < 0) {
    first = 0;
    last = 0;
  }
  first = Math.max(0, first - 1);
  last = Math.min(counts.length - 1, last + 1);
  const shown = counts.slice(first, last + 1);
  const top = Math.max(1, ...shown);
  const w = 300;
  const h = 90;
  const bar = w / shown.length;
  let svg = figure.querySelector('svg');
  if (svg === null) {
    svg = el('svg', { viewBox: `0 0 ${w} ${h + 16}`, width: w, height: h + 16, role: 'img' });
    figure.append(svg);
    const p = document.createElement('p');
    p.className = 'percentiles';
    figure.append(p);
  }
  svg.replaceChildren();
  svg.setAttribute(
    'aria-label',
    `${figure.querySelector('figcaption').textContent}: ${summary.count} samples`,
  );
  shown.forEach((c, i) => {
    const bh = c === 0 ? 0 : Math.max(1, ((h - 2) * c) / top);
    const r = el(
      'rect',
      { x: i * bar + 1, y: h - bh, width: Math.max(1, bar - 2), height: bh, class: 'bar' },
      svg,
    );
    const upper =
      first + i < bounds.length ? `≤ ${duration(bounds[first + i])}` : `> ${duration(bounds.at(-1))}`;
    el('title', {}, r).textContent = `${upper}: ${c}`;
  });
  el('line', { x1: 0, y1: h + 0.5, x2: w, y2: h + 0.5, class: 'axis' }, svg);
  const ticks = [0, Math.floor(shown.length / 2), shown.length - 1];
  for (const [k, i] of ticks.entries()) {
    const b = first + i;
    // The outer labels hang inwards, so that the histogram's edges do not clip them.
    const anchor = k === 0 ? 'start' : k === ticks.length - 1 ? 'end' : 'middle';
    const x = k === 0 ? i * bar : k === ticks.length - 1 ? (i + 1) * bar : (i + 0.5) * bar;
    const t = el('text', { x, y: h + 12, class: 'tick', 'text-anchor': anchor }, svg);
    t.textContent = b < bounds.length ? duration(bounds[b]) : `> ${duration(bounds.at(-1))}`;
  }
  figure.dataset.count = String(summary.count);
  figure.querySelector('.percentiles').textContent =
    summary.count === 0
      ? 'no samples yet'
      : `n ${summary.count} · p50 ${duration(summary.p50)} · p90 ${duration(summary.p90)} · ` +
        `p99 ${duration(summary.p99)} · p99.9 ${duration(summary.p999)} · max ${duration(summary.max)}`;
}

async function poll() {
  try {
    const res = await fetch('api/metrics', { cache: 'no-store' });
    if (res.ok) ingest(await res.json());
  } catch {
    // The dispatcher is closing or the connection dropped: the next poll tries again.
  }
  setTimeout(poll, POLL_MS);
}

poll();
