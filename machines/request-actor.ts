import { assign, setup } from 'xstate';

/**
 * The lifecycle of one request actor (one worker thread running the app).
 *
 * The machine sees lifecycle *edges* only: first request in, first stream open, last stream closed,
 * last request out, drain. It never sees a single request or chunk: a transition costs about as much as a
 * data-plane message, so per-message events would double the hot path's cost (the README's performance
 * section has the measured figures). The host reconciles its counters with the machine once per
 * event-loop turn, so a burst of requests costs at most a couple of transitions.
 *
 * Pure definition: no worker, no I/O. The same definition runs inside each actor and is walked by
 * tests and drawn by `troupe viz`.
 */
export interface RequestActorContext {
  actorId: number;
  configVersion: number;
  error: string | undefined;
}

export type RequestActorEvent =
  | { type: 'INIT_DONE'; configVersion: number }
  | { type: 'INIT_FAILED'; error: string }
  | { type: 'REQUEST_STARTED' }
  | { type: 'STREAM_OPENED' }
  | { type: 'STREAMS_CLOSED' }
  | { type: 'IDLE' }
  | { type: 'CONFIG_APPLIED'; configVersion: number }
  | { type: 'DRAIN' }
  | { type: 'DRAINED' }
  | { type: 'CRASH'; error: string };

export interface RequestActorInput {
  actorId: number;
}

export const requestActorMachine = setup({
  types: {
    context: {} as RequestActorContext,
    events: {} as RequestActorEvent,
    input: {} as RequestActorInput,
  },
  actions: {
    recordVersion: assign({
      configVersion: ({ event, context }) =>
        event.type === 'INIT_DONE' || event.type === 'CONFIG_APPLIED'
          ? event.configVersion
          : context.configVersion,
    }),
    recordError: assign({
      error: ({ event, context }) =>
        event.type === 'INIT_FAILED' || event.type === 'CRASH' ? event.error : context.error,
    }),
  },
}).createMachine({
  id: 'request-actor',
  initial: 'init',
  context: ({ input }) => ({ actorId: input.actorId, configVersion: 0, error: undefined }),
  // A config change is applied in any live state; it updates context, never the state.
  on: {
    CRASH: { target: '.failed', actions: 'recordError' },
  },
  states: {
    init: {
      description: 'Worker started; the app runs init (config parsed, pools opened, caches primed).',
      on: {
        INIT_DONE: { target: 'ready', actions: 'recordVersion' },
        INIT_FAILED: { target: 'failed', actions: 'recordError' },
      },
    },
    ready: {
      description: 'Warm and idle: no request in flight.',
      on: {
        REQUEST_STARTED: 'serving',
        STREAM_OPENED: 'streaming',
        CONFIG_APPLIED: { actions: 'recordVersion' },
        DRAIN: 'draining',
      },
    },
    serving: {
      description: 'At least one request in flight, no stream open.',
      on: {
        STREAM_OPENED: 'streaming',
        IDLE: 'ready',
        CONFIG_APPLIED: { actions: 'recordVersion' },
        DRAIN: 'draining',
      },
    },
    streaming: {
      description: 'At least one streamed response open.',
      on: {
        STREAMS_CLOSED: 'serving',
        IDLE: 'ready',
        CONFIG_APPLIED: { actions: 'recordVersion' },
        DRAIN: 'draining',
      },
    },
    draining: {
      description: 'Takes no new request; finishes the ones in flight and open streams, then closes the app.',
      on: { DRAINED: 'stopped' },
    },
    stopped: { type: 'final', description: 'App closed, thread ended.' },
    failed: { type: 'final', description: 'init threw, the thread died, or it was cut off.' },
  },
});

export type RequestActorState =
  | 'init'
  | 'ready'
  | 'serving'
  | 'streaming'
  | 'draining'
  | 'stopped'
  | 'failed';

export const requestActorStates: readonly RequestActorState[] = [
  'init',
  'ready',
  'serving',
  'streaming',
  'draining',
  'stopped',
  'failed',
];
