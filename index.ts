export {
  AbortError,
  ActorCrashedError,
  AppLoadError,
  ClosedError,
  ConfigRejectedError,
  DataCloneError,
  HandlerError,
  InitError,
  InvalidArgumentError,
  NoActorError,
  QueueFullError,
  TimeoutError,
  TroupeError,
} from './actors/errors.js';
export { createDispatcher, defineApp } from './actors/router/create.js';
export type {
  ActorSnapshot,
  App,
  CloseContext,
  CloseOptions,
  Config,
  ConfigureContext,
  Dispatcher,
  DispatcherOptions,
  DispatcherSnapshot,
  InitContext,
  InspectionEvent,
  InspectorOptions,
  RequestContext,
  RequestOptions,
} from './actors/types.js';
export { type HttpServer, type ServeOptions, serve } from './http/serve.js';
export { toDot } from './inspector/export/dot.js';
export {
  type Drawable,
  type GraphState,
  type GraphTransition,
  type MachineGraph,
  machineGraph,
} from './inspector/export/graph.js';
export { toMermaid } from './inspector/export/mermaid.js';
export { toSvg } from './inspector/export/svg.js';
export {
  type RequestActorState,
  type RouterState,
  requestActorMachine,
  requestActorStates,
  routerMachine,
} from './machines/index.js';
