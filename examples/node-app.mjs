// A Node-style app, written against (req, res) as for node:http, served as is:
//   troupe serve examples/node-app.mjs
// Express, Koa and Fastify apps are served the same way (export default the app, without listen()).
// Lifecycle hooks, when an app needs them, are named exports beside the default one.

let state;

/** Once per actor, before the port opens. */
export function init({ actorId, config }) {
  state = { actorId, greeting: config.greeting ?? 'Hello', hits: 0 };
}

export default function app(req, res) {
  state.hits++;
  if (req.url === '/stream') {
    // Written over time; a client that reads slowly makes write() return false, as on a real socket.
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`chunk ${++n}\n`);
      if (n === 5) {
        clearInterval(timer);
        res.end();
      }
    }, 200);
    res.on('close', () => clearInterval(timer));
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ greeting: state.greeting, actor: state.actorId, hits: state.hits, url: req.url }));
}
