// The app `npm start` serves: `troupe serve examples/hello-app.mjs`. A fetch-style app (no framework):
// every request runs whole on one request actor, which was warmed up by `init` before the port opened.
import { defineApp } from 'troupe';

const encoder = new TextEncoder();
const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });

/** About `ms` of CPU work on this actor's thread (the main thread stays free for other requests). */
function work(ms) {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) for (let i = 0; i < 1000; i++) x += Math.sqrt(i);
  return x;
}

export default defineApp({
  // Runs once per actor, before the server accepts a connection: open pools, prime caches here.
  init({ actorId, config }) {
    return { greeting: config.greeting ?? 'Hello', hits: 0, actorId };
  },

  // Live config (SIGHUP with --config): applied to this actor's live objects, nothing is re-read.
  configure(change, { state }) {
    if ('greeting' in change) {
      if (change.greeting !== undefined && typeof change.greeting !== 'string') {
        throw new TypeError('greeting must be a string');
      }
      state.greeting = change.greeting ?? 'Hello';
    }
  },

  async fetch(request, ctx) {
    const url = new URL(request.url);
    const state = ctx.state;
    state.hits++;
    // HEAD runs the GET route; troupe sends its headers without the body.
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    switch (`${method} ${url.pathname}`) {
      case 'GET /':
        return new Response(
          `${state.greeting} from actor ${ctx.actorId} (config version ${ctx.configVersion})\n`,
        );
      case 'GET /json':
        return Response.json({
          actor: ctx.actorId,
          hits: state.hits,
          configVersion: ctx.configVersion,
          config: ctx.config,
        });
      case 'POST /echo':
        // The body streams in from the client and straight back out, chunk by chunk, with backpressure.
        return new Response(request.body, {
          headers: { 'content-type': request.headers.get('content-type') ?? 'application/octet-stream' },
        });
      case 'GET /stream':
        return new Response(
          new ReadableStream({
            async start(controller) {
              for (let i = 1; i <= 5; i++) {
                controller.enqueue(encoder.encode(`chunk ${i} of 5 from actor ${ctx.actorId}\n`));
                await sleep(200);
              }
              controller.close();
            },
          }),
          { headers: { 'content-type': 'text/plain; charset=utf-8' } },
        );
      case 'GET /sse':
        return new Response(sse(ctx), {
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
        });
      case 'GET /work': {
        const ms = Math.min(Number(url.searchParams.get('ms') ?? 20), 5000);
        work(ms);
        return new Response(`worked ${ms} ms on actor ${ctx.actorId}\n`);
      }
      default:
        return new Response('not found\n', { status: 404 });
    }
  },
});

/** Server-sent events: one tick a second, each sent as it happens; stops when the client leaves. */
function sse(ctx) {
  let timer;
  return new ReadableStream({
    start(controller) {
      let n = 0;
      const tick = () => {
        n++;
        controller.enqueue(
          encoder.encode(
            `id: ${n}\nevent: tick\ndata: ${JSON.stringify({ n, actor: ctx.actorId, at: new Date().toISOString() })}\n\n`,
          ),
        );
        if (n === 10) {
          clearInterval(timer);
          controller.close();
        }
      };
      tick();
      timer = setInterval(tick, 1000);
    },
    cancel() {
      clearInterval(timer);
    },
  });
}
