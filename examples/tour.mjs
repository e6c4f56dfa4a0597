// A tour of the programmatic actor API: requests, a stream, sticky keys, and a live config change.
// Run it with `npm start` (before the HTTP example starts) or `node examples/tour.mjs`.
import { createDispatcher } from 'troupe';

const log = (...args) => console.log('[tour]', ...args);

const dispatcher = await createDispatcher({
  app: new URL('./tour-app.mjs', import.meta.url),
  actors: 2,
  config: { currency: 'EUR' },
});
log(
  'every actor is warm:',
  dispatcher
    .snapshot()
    .actors.map((a) => `actor ${a.id} ${a.state}`)
    .join(', '),
);

// Whole requests, each on one actor.
log(await dispatcher.request({ op: 'price', item: 'tea' }));

// Sticky keys: the same user always reaches the same actor, so its in-memory counter is right.
for (const user of ['ada', 'grace', 'linus', 'ada', 'barbara', 'grace', 'ada']) {
  const r = await dispatcher.request({ op: 'hit', user }, { key: user });
  log(`${r.user} → actor ${r.actor}, hits ${r.hits}`);
}

// A streamed response: chunks arrive as the handler yields them, with backpressure.
for await (const line of dispatcher.stream({ op: 'menu' })) log('menu:', line);

// A live config change: version n+1 on every actor, acknowledged by all, no restart.
const { version } = await dispatcher.configure({ currency: 'GBP' });
log(`config version ${version} is live:`, await dispatcher.request({ op: 'price', item: 'cake' }));

// A bad change is rejected everywhere (all-or-nothing); the last good config keeps serving.
try {
  await dispatcher.configure({ currency: 'pounds' });
} catch (err) {
  log(`rejected (${err.code}): ${err.message}`);
}
log('still serving:', await dispatcher.request({ op: 'price', item: 'tea' }));

const snap = dispatcher.snapshot();
log(
  `router ${snap.state}, config v${snap.configVersion}:`,
  snap.actors.map((a) => `actor ${a.id} served ${a.served}`).join(', '),
);
await dispatcher.close();
log('closed: every request finished, every thread ended.');
