import type { AnyStateMachine } from 'xstate';
import { requestActorMachine } from '../../machines/request-actor.js';
import { routerMachine } from '../../machines/router.js';

/** The machines `troupe viz --machine` and the live page can draw, by their CLI names. */
export const machines = {
  'request-actor': requestActorMachine,
  router: routerMachine,
} as const satisfies Record<string, AnyStateMachine>;

export type MachineName = keyof typeof machines;

export const machineNames = Object.keys(machines) as MachineName[];

export function isMachineName(name: string): name is MachineName {
  return Object.hasOwn(machines, name);
}
