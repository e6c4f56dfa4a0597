import { summary } from 'mitata';
import { type BenchCase, type CaseContext, troupeOrNote } from '../lib/case.js';
import { prng, zipf } from '../lib/keys.js';
import { appUrl, workerUrl } from '../lib/paths.js';
import { piscinaPool, tinypoolPool } from '../lib/peers.js';
import type { Troupe } from '../lib/troupe.js';

const id = 'affinity';
const IN_FLIGHT = 64;
const ZIPF_S = 0.9;
/** CPU to build a key's entry, and to serve a request whose entry is warm. */
const BUILD_MS = 1;
const WORK_US = 30;
/** Piscina's `concurrentTasksPerWorker`: troupe's default per-actor concurrency, as in the in-flight case. */
const PISCINA_CONCURRENCY = 32;
/**
 * A tighter load bound than the default 1.5, to show the trade it controls: with every actor past its
 * concurrency, a tighter bound moves more keys away from the actor that holds their entries.
 */
const TIGHTER_BALANCE = 1.25;
/**
 * Troupe alone, hit rate only, with more actors than the machine has cores (so no timing): actors with
 * room under their concurrency, where a key must not leave its actor.
 */
const SPREAD: readonly (readonly [actors: number, inFlight: number])[] = [
  [4, 64],
  [8, 16],
];

/** One request of the case: the key, the LRU capacity and the two loop counts (see bench/workers/affinity.mjs). */
interface Payload {
  k: string;
  n: number;
  b: number;
  w: number;
}

/** A peer as this case drives it: one request for key index `i`, resolved with 1 on a cache hit. */
interface KeyedPeer {
  call(i: number): Promise<number>;
  close(): Promise<void>;
}

/** What the measured pass saw, for one peer. */
class Tally {
  requests = 0;
  hits = 0;
  latencies: number[] = [];
  /** CPU of the whole process (main thread and workers), µs. */
  cpu = 0;
}

interface Setting {
  keys: number;
  capacity: number;
  warmupRequests: number;
  window: number;
  payloads: Payload[];
}

/**
 * Case 8: what affinity buys. Every key needs an entry that is expensive to build and then cached in the
 * thread that built it, in an LRU sized so that the keys fit when they are partitioned across the threads
 * and do not when every thread sees every key. Keys follow a Zipf law. Each peer gets a warm-up pass (every
 * key once, then a stretch of the key stream), then mitata times windows of the same stream with 64
 * requests in flight; the measured pass's latencies and hits give p50, p99 and the hit rate. Before that,
 * troupe keyed alone runs the same warm-up and a counted pass on more actors, each with room under its
 * concurrency, for the hit rate only.
 */
export const affinity: BenchCase = {
  id,
  title: '8. Per-key state (affinity)',
  async run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    const keys = ctx.quick ? 200 : 2_000;
    const rate = await calibrate();
    const setting = settingFor(ctx, keys, ctx.threads, rate);
    const { capacity } = setting;
    const { b, w } = setting.payloads[0]!;
    const n = ctx.threads;
    const peers: [string, string, () => Promise<KeyedPeer> | KeyedPeer][] = [];
    if (troupe !== undefined) {
      peers.push(['troupe-keyed', 'troupe, keyed', () => troupePeer(troupe, n, setting, true)]);
      peers.push([
        'troupe-keyed-c125',
        `troupe, keyed, balanceFactor ${TIGHTER_BALANCE}`,
        () => troupePeer(troupe, n, setting, true, TIGHTER_BALANCE),
      ]);
      peers.push(['troupe-unkeyed', 'troupe, no key', () => troupePeer(troupe, n, setting, false)]);
    }
    peers.push([
      'piscina',
      'Piscina (default)',
      () => poolPeer(piscinaPool(workerUrl('affinity.mjs'), n), setting),
    ]);
    peers.push([
      'piscina-concurrent',
      `Piscina (concurrentTasksPerWorker ${PISCINA_CONCURRENCY})`,
      () => poolPeer(piscinaPool(workerUrl('affinity.mjs'), n, PISCINA_CONCURRENCY), setting),
    ]);
    peers.push(['tinypool', 'Tinypool', () => poolPeer(tinypoolPool(workerUrl('affinity.mjs'), n), setting)]);

    // The hit-rate-only runs go with the first timed peer, so they run in mitata's turn: keyed requests
    // placed by a router in this process before the placement case's timings would change what V8 makes of
    // the call sites those timings measure.
    const spread =
      troupe === undefined
        ? undefined
        : async () => {
            for (const [actors, inFlight] of SPREAD) await hitRate(ctx, troupe, keys, rate, actors, inFlight);
          };
    summary(() => {
      for (const [peerId, label, make] of peers) {
        register(ctx, setting, peerId, label, make, peerId === 'troupe-keyed' ? spread : undefined);
      }
    });
    const subject = `${id}/troupe-keyed`;
    ctx.results.compare({
      case: id,
      subject,
      peers: ['troupe-keyed-c125', 'troupe-unkeyed', 'piscina', 'piscina-concurrent', 'tinypool'].map(
        (p) => `${id}/${p}`,
      ),
    });
    ctx.results.compare({
      case: id,
      subject: `${subject}-cpu`,
      peers: ['troupe-keyed-c125', 'troupe-unkeyed', 'piscina', 'piscina-concurrent', 'tinypool'].map(
        (p) => `${id}/${p}-cpu`,
      ),
    });
    ctx.results.target({
      text: 'per-key state: troupe keyed ≥ 3× Piscina default (requests/s)',
      kind: 'speed-at-least',
      subject,
      peer: `${id}/piscina`,
      bound: 3,
    });
    ctx.results.target({
      text: 'per-key state: troupe keyed hit rate ≥ 95%',
      kind: 'value-at-least',
      subject: `${id}/troupe-keyed-hits`,
      bound: 95,
    });
    ctx.results.note(
      `${id}: ${keys.toLocaleString('en-US')} keys, Zipf(${ZIPF_S}); entry build ${BUILD_MS} ms and warm request ${WORK_US} µs of CPU (${b.toLocaleString('en-US')} and ${w.toLocaleString('en-US')} loop iterations); LRU ${capacity} entries per thread; ${IN_FLIGHT} in flight on ${n} threads; warm-up ${keys} + ${setting.warmupRequests.toLocaleString('en-US')} requests, then windows of ${setting.window.toLocaleString('en-US')}`,
    );
  },
};

function settingFor(ctx: CaseContext, keys: number, threads: number, rate: number): Setting {
  const capacity = Math.ceil((1.1 * keys) / threads);
  const b = Math.round(rate * BUILD_MS);
  const w = Math.round((rate * WORK_US) / 1000);
  return {
    keys,
    capacity,
    warmupRequests: ctx.quick ? 1_000 : 10 * keys,
    window: ctx.quick ? 256 : 2_048,
    payloads: Array.from({ length: keys }, (_, i) => ({ k: `tenant-${i}`, n: capacity, b, w })),
  };
}

/** The same warm-up, then a pass whose hits are counted: troupe keyed on `actors` actors. */
async function hitRate(
  ctx: CaseContext,
  troupe: Troupe,
  keys: number,
  rate: number,
  actors: number,
  inFlight: number,
): Promise<void> {
  const setting = settingFor(ctx, keys, actors, rate);
  const peer = await troupePeer(troupe, actors, setting, true);
  const tally = new Tally();
  try {
    const next = zipf(keys, ZIPF_S, prng(2026));
    let i = 0;
    await pass(peer, () => i++ % keys, keys, undefined, inFlight);
    await pass(peer, next, setting.warmupRequests, undefined, inFlight);
    await pass(peer, next, ctx.quick ? 1_000 : 20_000, tally, inFlight);
  } finally {
    await peer.close();
  }
  ctx.results.add({
    id: `${id}/troupe-keyed-hits-${actors}x${inFlight}`,
    case: id,
    label: `troupe, keyed, ${actors} actors, ${inFlight} in flight: cache hit rate`,
    value: (tally.hits / tally.requests) * 100,
    unit: '%',
    better: 'higher',
    detail: `LRU ${setting.capacity} entries per actor; ${tally.requests.toLocaleString('en-US')} requests after the warm-up`,
  });
}

function register(
  ctx: CaseContext,
  setting: Setting,
  peerId: string,
  label: string,
  make: () => Promise<KeyedPeer> | KeyedPeer,
  before: (() => Promise<void>) | undefined,
): void {
  const tally = new Tally();
  const figure = `${id}/${peerId}`;
  ctx.time({
    id: figure,
    case: id,
    label: `${label}: requests/s`,
    unit: 'req/s',
    better: 'higher',
    convert: (ns) => setting.window / (ns / 1e9),
    detail: `window of ${setting.window.toLocaleString('en-US')} requests timed, ${IN_FLIGHT} in flight`,
    body: async function* () {
      await before?.();
      const peer = await make();
      try {
        // The same key stream for every peer: the same seed, and the warm-up consumes the same prefix.
        const next = zipf(setting.keys, ZIPF_S, prng(2026));
        let i = 0;
        await pass(peer, () => i++ % setting.keys, setting.keys, undefined, IN_FLIGHT);
        await pass(peer, next, setting.warmupRequests, undefined, IN_FLIGHT);
        yield async () => {
          const before = process.cpuUsage();
          await pass(peer, next, setting.window, tally, IN_FLIGHT);
          const used = process.cpuUsage(before);
          tally.cpu += used.user + used.system;
        };
      } finally {
        await peer.close();
      }
    },
    also() {
      if (tally.requests === 0) return;
      const sorted = tally.latencies.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      const detail = `${tally.requests.toLocaleString('en-US')} requests of the measured pass`;
      for (const [suffix, q] of [
        ['p50', 0.5],
        ['p99', 0.99],
      ] as const) {
        ctx.results.add({
          id: `${figure}-${suffix}`,
          case: id,
          label: `${label}: latency ${suffix}`,
          value: at(q),
          unit: 'ms',
          better: 'lower',
          detail,
        });
      }
      ctx.results.add({
        id: `${figure}-cpu`,
        case: id,
        label: `${label}: CPU per request`,
        value: tally.cpu / tally.requests,
        unit: 'µs',
        better: 'lower',
        detail: `${detail}, all threads of the process (steadier than wall time on a busy machine)`,
      });
      ctx.results.add({
        id: `${figure}-hits`,
        case: id,
        label: `${label}: cache hit rate`,
        value: (tally.hits / tally.requests) * 100,
        unit: '%',
        better: 'higher',
        detail,
      });
    },
  });
}

/** `count` requests from the key stream, `inFlight` at a time: each completion issues the next. */
function pass(
  peer: KeyedPeer,
  next: () => number,
  count: number,
  tally: Tally | undefined,
  inFlight: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let issued = 0;
    let done = 0;
    const launch = () => {
      issued++;
      const t0 = performance.now();
      peer.call(next()).then((hit) => {
        if (tally !== undefined) {
          tally.requests++;
          tally.hits += hit;
          tally.latencies.push(performance.now() - t0);
        }
        if (++done === count) resolve();
        else if (issued < count) launch();
      }, reject);
    };
    for (let j = 0; j < Math.min(inFlight, count); j++) launch();
  });
}

async function troupePeer(
  troupe: Troupe,
  actors: number,
  setting: Setting,
  keyed: boolean,
  balanceFactor?: number,
): Promise<KeyedPeer> {
  const d = await troupe.createDispatcher({
    app: appUrl('affinity.mjs'),
    actors,
    ...(balanceFactor === undefined ? {} : { balanceFactor }),
  });
  const options = setting.payloads.map((p) => ({ key: p.k }));
  return {
    call: keyed
      ? (i) => d.request<number>(setting.payloads[i], options[i])
      : (i) => d.request<number>(setting.payloads[i]),
    close: () => d.close(),
  };
}

function poolPeer(
  pool: { run(payload: unknown): Promise<unknown>; destroy(): Promise<void> },
  setting: Setting,
): KeyedPeer {
  return {
    call: (i) => pool.run(setting.payloads[i]) as Promise<number>,
    close: () => pool.destroy(),
  };
}

/**
 * Loop iterations per ms of CPU of the workers' burn loop, on this thread before any peer starts: the best
 * of a few readings, since the first ones run before the loop is optimized.
 */
async function calibrate(): Promise<number> {
  const { burnRate } = (await import(workerUrl('affinity.mjs').href)) as { burnRate(ms?: number): number };
  return Math.max(...Array.from({ length: 5 }, () => burnRate()));
}
