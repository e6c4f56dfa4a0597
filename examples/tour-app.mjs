// The app the programmatic tour runs (examples/tour.mjs): a tiny per-user counter service.
import { threadId } from 'node:worker_threads';
import { defineApp } from 'troupe';

export default defineApp({
  // Warm-up: runs in every actor before its first request (here: a price table "loaded" once).
  init({ actorId, config }) {
    return {
      actorId,
      counts: new Map(),
      prices: new Map([
        ['tea', 3],
        ['cake', 5],
      ]),
      currency: config.currency,
    };
  },

  handle(payload, ctx) {
    switch (payload.op) {
      case 'hit': {
        // Per-user state lives in the actor's memory: sticky keys make it stay correct without a database.
        const n = (ctx.state.counts.get(payload.user) ?? 0) + 1;
        ctx.state.counts.set(payload.user, n);
        return { user: payload.user, hits: n, actor: ctx.actorId, thread: threadId };
      }
      case 'price':
        return `${payload.item}: ${ctx.state.prices.get(payload.item)} ${ctx.config.currency} (config v${ctx.configVersion})`;
      case 'menu':
        return menu(ctx);
      default:
        throw new TypeError(`unknown op '${payload.op}'`);
    }
  },

  // A live config change: applied to this actor's live objects, nothing re-read, no restart.
  configure(change, ctx) {
    if ('currency' in change && !/^[A-Z]{3}$/.test(change.currency)) {
      throw new RangeError(`currency must be a 3-letter code, got '${change.currency}'`);
    }
    if (change.currency) ctx.state.currency = change.currency;
  },
});

async function* menu(ctx) {
  for (const [item, price] of ctx.state.prices) {
    await new Promise((r) => setTimeout(r, 50));
    yield `${item} … ${price} ${ctx.config.currency}`;
  }
}
