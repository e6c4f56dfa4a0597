export { type RequestActorState, requestActorMachine, requestActorStates } from './request-actor.js';
export { type RouterState, routerMachine } from './router.js';
