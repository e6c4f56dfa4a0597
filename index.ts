export {
  AbortError,
  ActorCrashedError,
  AppLoadError,
  ClosedError,
  ClusterUnavailableError,
  ConfigConflictError,
  ConfigRejectedError,
  DataCloneError,
  HandlerError,
  InitError,
  InvalidArgumentError,
  NoActorError,
  NodeLostError,
  PayloadTooLargeError,
  QueueFullError,
  TimeoutError,
  TroupeError,
} from './actors/errors.js';
export type {
  ActorMetrics,
  ActorSnapshot,
  AdminOptions,
  App,
  CloseContext,
  CloseOptions,
  ClusterNodeSnapshot,
  ClusterOptions,
  ClusterSnapshot,
  Config,
  ConfigChange,
  ConfigRecord,
  ConfigureContext,
  ConfigureOptions,
  Dispatcher,
  DispatcherMetrics,
  DispatcherOptions,
  DispatcherSnapshot,
  InitContext,
  InspectionEvent,
  InspectorOptions,
  LatencySummary,
  MetricsOptions,
  RecordOptions,
  RequestContext,
  RequestCounts,
  RequestOptions,
  RolloutCounts,
  RouteCost,
} from './actors/types.js';
export { move } from './actors/wire/move.js';
export { createDispatcher, defineApp } from './create-dispatcher.js';
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
export {
  DEFAULT_BUCKETS,
  type MetricsRegistry,
  type RegisterMetricsOptions,
  registerMetrics,
} from './observe/prometheus.js';
