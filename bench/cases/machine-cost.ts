import { summary } from 'mitata';
import { createActor } from 'xstate';
import type { Dispatcher, InspectionEvent } from '../../actors/types.js';
import { requestActorMachine } from '../../machines/request-actor.js';
import { type BenchCase, type CaseContext, troupeOrNote } from '../lib/case.js';
import { PAYLOAD, warm } from '../lib/peers.js';
import { echoApp, type Troupe, troupePeer } from '../lib/troupe.js';

const id = 'machine-cost';
const BATCH = 64;

/**
 * Case 6: what the lifecycle machine costs. The machine sits beside the data plane: each actor reconciles
 * its counters with it once per event-loop turn (actors/host.ts `markDirty` / `reconcile`), so it only
 * sees edges. This case measures (a) the same request path with the inspector off and on, (b) how many
 * machine events a request actually causes, counted from the inspection stream, and (c) what one machine
 * event costs in isolation against a hand-written switch, so that (b) × (c) bounds the machine's share.
 */
export const machineCost: BenchCase = {
  id,
  title: '6. What the state machine costs',
  async run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    if (troupe !== undefined) {
      timedPaths(ctx, troupe);
      await countEvents(ctx, troupe);
    }
    isolated(ctx);
    ctx.results.target({
      text: 'inspector off: no measurable cost (within noise) against the path without the machine',
      kind: 'within-noise',
      subject: `${id}/one-inspect-off`,
      peer: `${id}/one-no-machine`,
      bound: 0.05,
    });
  },
};

function timedPaths(ctx: CaseContext, troupe: Troupe): void {
  // `no-machine`: the same path with the actors' lifecycle machine never told about requests
  // (TROUPE_LIFECYCLE=off, read by actors/host.ts when the worker starts; workers copy the env then).
  const variants = [
    { name: 'inspect-off', listener: undefined, machine: true, detail: 'no inspect option' },
    {
      name: 'inspect-on',
      listener: () => {},
      machine: true,
      detail: 'inspect: a listener that drops every event',
    },
    {
      name: 'no-machine',
      listener: undefined,
      machine: false,
      detail: 'TROUPE_LIFECYCLE=off: no machine edges',
    },
  ] as const;
  for (const [mode, label, op, convert] of [
    ['one', 'round trip', (d: Dispatcher) => d.request(PAYLOAD), (ns: number) => ns / 1000],
    [
      'batch',
      '64 in flight, per request',
      (d: Dispatcher) => troupePeer(d).many(PAYLOAD, BATCH),
      (ns: number) => ns / BATCH / 1000,
    ],
  ] as const) {
    summary(() => {
      for (const v of variants) {
        ctx.time({
          id: `${id}/${mode}-${v.name}`,
          case: id,
          label: `troupe ${label}, ${v.name === 'no-machine' ? 'without the machine' : `inspector ${v.name.slice(8)}`}`,
          baseline: v.name === 'inspect-off',
          convert,
          detail: v.detail,
          body: async function* () {
            if (!v.machine) process.env.TROUPE_LIFECYCLE = 'off';
            const d = await troupe.createDispatcher({
              app: echoApp,
              actors: ctx.threads,
              ...(v.listener === undefined ? {} : { inspect: v.listener }),
            });
            delete process.env.TROUPE_LIFECYCLE;
            try {
              await warm(troupePeer(d), PAYLOAD);
              yield () => op(d);
            } finally {
              await d.close();
            }
          },
        });
      }
    });
    ctx.results.compare({
      case: id,
      subject: `${id}/${mode}-inspect-on`,
      peers: [`${id}/${mode}-inspect-off`],
    });
    ctx.results.compare({
      case: id,
      subject: `${id}/${mode}-inspect-off`,
      peers: [`${id}/${mode}-no-machine`],
    });
  }
}

/** Machine events the actors report per request, one at a time and 64 in flight. */
async function countEvents(ctx: CaseContext, troupe: Troupe): Promise<void> {
  let events = 0;
  const count = (ev: InspectionEvent) => {
    if (ev.type === '@xstate.event' && 'source' in ev && ev.source === 'actor') events++;
  };
  const d = await troupe.createDispatcher({ app: echoApp, actors: ctx.threads, inspect: count });
  try {
    const n = ctx.quick ? 256 : 4096;
    const peer = troupePeer(d);
    await warm(peer, PAYLOAD, 50);
    for (const [mode, label, run] of [
      ['one', 'one at a time', () => peer.one(PAYLOAD)],
      ['batch', '64 in flight', () => peer.many(PAYLOAD, BATCH)],
    ] as const) {
      await settleEvents();
      events = 0;
      const requests = mode === 'one' ? n : n * 4;
      for (let i = 0; i < requests / (mode === 'one' ? 1 : BATCH); i++) await run();
      await settleEvents();
      ctx.results.add({
        id: `${id}/events-per-1000-${mode}`,
        case: id,
        label: `actor machine events per 1,000 requests, ${label}`,
        value: (events / requests) * 1000,
        unit: 'events',
        better: 'lower',
        detail: `counted from the inspection stream over ${requests.toLocaleString('en-US')} requests (echo app)`,
      });
    }
    await settleEvents();
    events = 0;
    const streams = ctx.quick ? 16 : 256;
    for (let i = 0; i < streams; i++) {
      for await (const _ of d.stream({ op: 'chunks', n: 64, size: 0 })) {
        // Drop the chunks: only the machine events count here.
      }
    }
    await settleEvents();
    ctx.results.add({
      id: `${id}/events-per-stream`,
      case: id,
      label: 'actor machine events per stream (64 small chunks)',
      value: events / streams,
      unit: 'events',
      better: 'lower',
      detail: `counted from the inspection stream over ${streams} streams, one at a time`,
    });
  } finally {
    await d.close();
  }
}

/** Lets pending reconciles (setImmediate in the actors) and their INSPECT messages arrive. */
function settleEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

/** One machine event alone, with and without a transition, against the switch it would replace. */
function isolated(ctx: CaseContext): void {
  summary(() => {
    ctx.time({
      id: `${id}/send-transition`,
      case: id,
      label: 'xstate send, with a transition',
      unit: 'ns',
      convert: (ns) => ns / 2,
      detail: 'REQUEST_STARTED then IDLE on the request-actor machine, per event',
      body: function* () {
        const actor = createActor(requestActorMachine, { input: { actorId: 0 } }).start();
        actor.send({ type: 'INIT_DONE', configVersion: 1 });
        yield () => {
          actor.send({ type: 'REQUEST_STARTED' });
          actor.send({ type: 'IDLE' });
        };
        actor.stop();
      },
    });
    ctx.time({
      id: `${id}/send-no-transition`,
      case: id,
      label: 'xstate send, no transition',
      unit: 'ns',
      convert: (ns) => ns,
      detail: 'IDLE while ready: an event the state does not take',
      body: function* () {
        const actor = createActor(requestActorMachine, { input: { actorId: 0 } }).start();
        actor.send({ type: 'INIT_DONE', configVersion: 1 });
        yield () => actor.send({ type: 'IDLE' });
        actor.stop();
      },
    });
    ctx.time({
      id: `${id}/switch`,
      case: id,
      label: 'hand-written switch, same two edges',
      unit: 'ns',
      convert: (ns) => ns / 2,
      baseline: true,
      detail: 'what a per-request state check costs without a machine, per event',
      body: function* () {
        let state = 'ready';
        const step = (event: string) => {
          switch (state) {
            case 'ready':
              if (event === 'REQUEST_STARTED') state = 'serving';
              break;
            case 'serving':
              if (event === 'IDLE') state = 'ready';
              break;
          }
          return state;
        };
        yield () => {
          step('REQUEST_STARTED');
          return step('IDLE');
        };
      },
    });
  });
}
