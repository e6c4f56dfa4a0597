// Compiled (never run) by test/types.test.mjs: a consumer's TypeScript against the published types.

import { Registry } from 'prom-client';
import {
  ActorCrashedError,
  type App,
  type ConfigRecord,
  createDispatcher,
  type Dispatcher,
  type DispatcherMetrics,
  type DispatcherSnapshot,
  defineApp,
  type InspectionEvent,
  type LatencySummary,
  QueueFullError,
  type RequestActorState,
  type RequestContext,
  registerMetrics,
  TroupeError,
} from 'troupe';

interface Config extends Record<string, unknown> {
  greeting: string;
}
interface State {
  hits: number;
}

export const app: App<State, Config, { name: string }> = defineApp<State, Config, { name: string }>({
  init: ({ config }) => ({ hits: config.greeting.length }),
  handle(payload, ctx: RequestContext<State, Config>) {
    ctx.state.hits++;
    ctx.traceparent?.startsWith('00-');
    return `${ctx.config.greeting}, ${payload.name} (v${ctx.configVersion})`;
  },
  configure(change, ctx) {
    if (change.greeting !== undefined) ctx.state.hits = 0;
  },
});

export async function use(): Promise<void> {
  const events: InspectionEvent[] = [];
  const d: Dispatcher = await createDispatcher({
    app: './app.js',
    actors: 2,
    inspect: (e) => events.push(e),
  });
  const greeting: string = await d.request<string>({ name: 'ada' }, { key: 'ada', timeout: 100 });
  for await (const chunk of d.stream<Uint8Array>({ op: 'file' })) chunk.byteLength.toFixed();
  const { version }: { version: number } = await d.configure({ greeting: 'hi' });
  await d.configure({ greeting: 'hello' }, { by: 'ops' });
  const history: ConfigRecord[] = d.configHistory();
  history[0]?.outcome satisfies 'pending' | 'accepted' | 'rejected' | undefined;
  // @ts-expect-error: who asked is a string label
  await d.configure({ greeting: 'x' }, { by: 7 });
  const snap: DispatcherSnapshot = d.snapshot();
  snap.actors[0]?.state satisfies RequestActorState | undefined;
  const m: DispatcherMetrics = await d.metrics({ reset: true, buckets: [1, 10] });
  const run: LatencySummary = m.run;
  run.p99.toFixed();
  m.failed.ERR_TROUPE_TIMEOUT?.toFixed();
  m.actors[0]?.utilization?.toFixed();
  // @ts-expect-error: reset is a boolean
  await d.metrics({ reset: 'yes' });
  const names: string[] = registerMetrics(d, new Registry(), { prefix: 'app_' });
  await d.request(1, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  // @ts-expect-error: an actor state is one of the machine's states
  snap.actors[0]?.state satisfies 'sleeping' | undefined;
  try {
    await d.request(1);
  } catch (err) {
    if (err instanceof QueueFullError || err instanceof ActorCrashedError) err.code satisfies string;
    if (err instanceof TroupeError) err.code.toUpperCase();
  }
  await using disposable = d;
  void [greeting, version, disposable, names];
  // @ts-expect-error: a key is a string
  await d.request(1, { key: 42 });
}
