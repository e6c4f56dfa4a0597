import { summary } from 'mitata';
import { hashKey, type KeyedChoice, keyedChoice, pickKeyed } from '../../actors/router/placement.js';
import type { BenchCase, CaseContext } from '../lib/case.js';
import { keyName, prng, zipf } from '../lib/keys.js';

const id = 'placement';
const SIZES = [2, 8, 64, 256];
/** The router's default load bound. */
const BALANCE = 1.5;
/** The router's default per-actor concurrency. */
const CONCURRENCY = 32;
const KEYS = 10_000;
const always = () => true;

/**
 * Case 3: keyed placement. The timing is the whole per-request choice as the router makes it (hash the key,
 * count it in its bucket's heat, then bounded-load rendezvous), once with the key's actor under its
 * concurrency (it stays there) and once with every actor full (the loads are summed for the bound). The
 * load figures replay a skewed (Zipf 1.0) key stream through the same function in steady state and report
 * the max/average in-flight load it leaves.
 */
export const placement: BenchCase = {
  id,
  title: '3. Keyed placement',
  run(ctx) {
    const keys = Array.from({ length: 1024 }, (_, i) => keyName(i * 7919));
    summary(() => {
      for (const [label, floor] of [
        ['room', 0],
        ['contended', CONCURRENCY],
      ] as const) {
        for (const n of SIZES) {
          ctx.time({
            id: `${id}/choose-${label === 'room' ? '' : 'contended-'}${n}`,
            case: id,
            label: `choose an actor for a key, ${n} actors${label === 'room' ? '' : ', all full'}`,
            unit: 'ns',
            convert: (ns) => ns,
            detail: `hashKey + pickKeyed (c = ${BALANCE}, concurrency ${CONCURRENCY}, loads ${floor}–${floor + 31})`,
            body: function* () {
              const random = prng(n);
              const load = Int32Array.from({ length: n }, () => floor + Math.floor(random() * 32));
              // As the router places: it keeps the loads' total rather than summing them per request.
              const out = keyedChoice();
              out.total = load.reduce((a, b) => a + b, 0);
              let i = 0;
              yield () => {
                i = (i + 1) & 1023;
                return pickKeyed(hashKey(keys[i]!), load, always, BALANCE, CONCURRENCY, out).slot;
              };
            },
          });
        }
      }
    });
    for (const n of SIZES) {
      spread(ctx, n, 48, 'contended');
      spread(ctx, n, 8, 'room');
    }
  },
};

/**
 * Steady state: `perActor` requests per actor in flight; each step one request, picked at random, completes
 * and a new keyed one is placed. Reports the median over steps of max/average load, with the bound and
 * without it (plain rendezvous, c = ∞), and how often a key left its preferred actor. With 48 per actor
 * every actor is past its concurrency and the bound decides; with 8 each has room and keys stay put.
 */
function spread(ctx: CaseContext, n: number, perActor: number, regime: string): void {
  const inFlight = perActor * n;
  const steps = ctx.quick ? 2_000 : 50_000;
  for (const [label, c] of [
    ['bounded', BALANCE],
    ['unbounded', Number.POSITIVE_INFINITY],
  ] as const) {
    const random = prng(42 + n);
    const nextKey = zipf(KEYS, 1.0, random);
    const hashes = Uint32Array.from({ length: KEYS }, (_, i) => hashKey(keyName(i)));
    const load = new Int32Array(n);
    const placed = new Int32Array(inFlight);
    // Plain rendezvous without the bound learns no heat either: the hot-key rule is part of the bound.
    const out: KeyedChoice = label === 'bounded' ? keyedChoice() : { slot: -1, spilled: false };
    out.total = 0;
    const ratios = new Float64Array(steps);
    let spills = 0;
    const place = () => {
      pickKeyed(hashes[nextKey()]!, load, always, c, CONCURRENCY, out);
      load[out.slot]!++;
      out.total!++;
      if (out.spilled) spills++;
      return out.slot;
    };
    for (let i = 0; i < inFlight; i++) placed[i] = place();
    spills = 0;
    for (let step = 0; step < steps; step++) {
      const done = Math.floor(random() * inFlight);
      load[placed[done]!]!--;
      out.total!--;
      placed[done] = place();
      let max = 0;
      for (let s = 0; s < n; s++) if (load[s]! > max) max = load[s]!;
      ratios[step] = max / (inFlight / n);
    }
    const suffix = regime === 'contended' ? '' : `-${regime}`;
    ctx.results.add({
      id: `${id}/load-${label}${suffix}-${n}`,
      case: id,
      label: `max/avg load, ${n} actors, ${perActor} each, ${label === 'bounded' ? `c = ${BALANCE}` : 'no bound'}`,
      value: ratios.sort()[steps >> 1]!,
      unit: '×',
      better: 'lower',
      detail: `Zipf(1.0) over ${KEYS.toLocaleString('en-US')} keys, ${inFlight} in flight, concurrency ${CONCURRENCY}, median of ${steps.toLocaleString('en-US')} steps; spilled ${((spills / steps) * 100).toFixed(1)}%`,
    });
  }
}
