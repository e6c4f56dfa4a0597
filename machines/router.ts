import { setup } from 'xstate';

/**
 * The router actor's lifecycle (main thread). Placement itself is plain code, not machine events:
 * the per-request choice must cost nanoseconds, a transition costs microseconds.
 */
export type RouterEvent =
  | { type: 'ACTORS_READY' }
  | { type: 'START_FAILED'; error: string }
  | { type: 'CLOSE' }
  | { type: 'CLOSED' }
  | { type: 'DEGRADED'; slot: number }
  /** A failed slot came back; `failed` is how many are still failed. */
  | { type: 'RECOVERED'; slot: number; failed: number };

export const routerMachine = setup({
  types: {
    context: {} as { degraded: boolean },
    events: {} as RouterEvent,
  },
}).createMachine({
  id: 'router',
  initial: 'starting',
  context: { degraded: false },
  states: {
    starting: {
      description: 'Spawning every request actor and waiting for each init to finish.',
      on: { ACTORS_READY: 'running', START_FAILED: 'failed', CLOSE: 'draining' },
    },
    running: {
      description: 'Placing requests, rolling out config changes, supervising actors.',
      initial: 'healthy',
      states: {
        healthy: { on: { DEGRADED: 'degraded' } },
        degraded: {
          // A failed slot is retried on a long, capped backoff (and on reload()): when the last one
          // comes back, the router is healthy again.
          description:
            'At least one slot gave up after too many restarts; its keys moved to the next slots until it is retried.',
          on: {
            RECOVERED: { target: 'healthy', guard: ({ event }) => event.failed === 0 },
          },
        },
      },
      on: { CLOSE: 'draining' },
    },
    draining: {
      description: 'No new requests; in-flight requests and open streams finish, then apps close.',
      on: { CLOSED: 'closed' },
    },
    closed: { type: 'final' },
    failed: { type: 'final', description: 'Startup failed: an init threw or timed out.' },
  },
});

export type RouterState = 'starting' | 'running' | 'draining' | 'closed' | 'failed';
