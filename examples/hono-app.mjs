// A plain Hono app served by troupe unchanged: `troupe serve examples/hono-app.mjs`.
// Hono passes troupe's per-request context as `c.env`: c.env.actorId, c.env.config, c.env.signal.
import { Hono } from 'hono';
import { stream, streamSSE } from 'hono/streaming';

const app = new Hono();

app.get('/', (c) => c.text(`Hello from Hono on actor ${c.env.actorId}\n`));

app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), actor: c.env.actorId }));

app.post('/users', async (c) => {
  const body = await c.req.json();
  if (typeof body?.name !== 'string') return c.json({ error: 'name must be a string' }, 400);
  return c.json({ created: body.name, actor: c.env.actorId }, 201);
});

app.get('/stream', (c) =>
  stream(c, async (s) => {
    for (let i = 1; i <= 3; i++) {
      await s.write(`part ${i}\n`);
      await s.sleep(100);
    }
  }),
);

app.get('/sse', (c) =>
  streamSSE(c, async (s) => {
    for (let i = 1; i <= 3 && !s.aborted; i++) {
      await s.writeSSE({ event: 'tick', id: String(i), data: JSON.stringify({ i, actor: c.env.actorId }) });
      await s.sleep(300);
    }
  }),
);

app.get('/config', (c) => c.json({ version: c.env.configVersion, config: c.env.config }));

export default app;
