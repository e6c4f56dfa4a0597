// The affinity case's workload on troupe alone, keyed, for one setting: the cache hit rate of a counted
// pass after the warm-up, and how many requests left their key's preferred actor. It loads troupe from a
// given build, so that two placement rules can be compared on the same workload (build the other one in
// a scratch copy of the repository). Run after `npm run build`:
//   node bench/tools/affinity-hit-rate.mjs [dist dir] [actors] [in flight] [balanceFactor]
// e.g. node bench/tools/affinity-hit-rate.mjs dist 4 64
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { burnRate } from '../workers/affinity.mjs';

const [dist = 'dist', actorsArg = '2', inFlightArg = '64', balanceArg = '1.5'] = process.argv.slice(2);
const actors = Number(actorsArg);
const inFlight = Number(inFlightArg);
const balanceFactor = Number(balanceArg);
const distUrl = pathToFileURL(`${resolve(dist)}/`);
const { createDispatcher } = await import(new URL('index.js', distUrl).href);
// The key stream comes from this tree's build, the same for every troupe build measured.
const { prng, zipf } = await import(new URL('../../dist/bench/lib/keys.js', import.meta.url).href);

const KEYS = 2_000;
const rate = Math.max(...Array.from({ length: 5 }, () => burnRate()));
const capacity = Math.ceil((1.1 * KEYS) / actors);
const payloads = Array.from({ length: KEYS }, (_, i) => ({
  k: `tenant-${i}`,
  n: capacity,
  b: Math.round(rate),
  w: Math.round(rate * 0.03),
}));
const options = payloads.map((p) => ({ key: p.k }));

let counting = false;
let routes = 0;
let spills = 0;
const d = await createDispatcher({
  app: new URL('../apps/affinity.mjs', import.meta.url),
  actors,
  balanceFactor,
  inspect(event) {
    if (counting && event.type === '@troupe.route') {
      routes++;
      if (event.spilled) spills++;
    }
  },
});

const next = zipf(KEYS, 0.9, prng(2026));
let issued = 0;
/** `count` requests, `inFlight` at a time; every key once first, then the Zipf stream. */
function pass(count, tally) {
  return new Promise((done, fail) => {
    let started = 0;
    let finished = 0;
    const launch = () => {
      started++;
      const i = issued < KEYS ? issued : next();
      issued++;
      d.request(payloads[i], options[i]).then((hit) => {
        if (tally !== undefined) {
          tally.requests++;
          tally.hits += hit;
        }
        if (++finished === count) done();
        else if (started < count) launch();
      }, fail);
    };
    for (let j = 0; j < Math.min(inFlight, count); j++) launch();
  });
}

try {
  await pass(KEYS + 10 * KEYS);
  const tally = { requests: 0, hits: 0 };
  counting = true;
  await pass(30_000, tally);
  const pct = (a, b) => `${((100 * a) / b).toFixed(1)}%`;
  console.log(
    `${dist}: ${actors} actors, ${inFlight} in flight, balanceFactor ${balanceFactor}: hit rate ${pct(tally.hits, tally.requests)}, spilled ${pct(spills, routes)}`,
  );
} finally {
  await d.close();
}
