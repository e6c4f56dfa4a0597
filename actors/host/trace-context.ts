/**
 * The actor's side of tracing: the router sends a request's W3C trace context (TRACE) just before its
 * START, in the same batch; the handler then runs inside that context, so the spans the app starts are
 * children of the router's `troupe.request` span. OpenTelemetry's API is loaded only when the router
 * traces (it says so at spawn): an app that does not trace never loads it.
 */
type OtelApi = typeof import('@opentelemetry/api');

let api: OtelApi | undefined;
let expectedId = -1;
let expected = '';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Loads the API before the actor is ready; without it the handler still gets `ctx.traceparent`. */
export async function loadTracing(): Promise<void> {
  try {
    api = await import('@opentelemetry/api');
  } catch {
    api = undefined;
  }
}

/** TRACE: the next START of request `id` runs under `traceparent`. */
export function expectTrace(id: number, traceparent: string): void {
  expectedId = id;
  expected = traceparent;
}

/** The trace context sent for request `id`, once. */
export function takeTrace(id: number): string | undefined {
  if (expectedId !== id) return undefined;
  expectedId = -1;
  return expected;
}

/**
 * Runs `fn` with `traceparent` as the active span context, or plainly when the API is not loaded. The
 * handler's promise and a stream's pump started inside keep that context through their awaits (the
 * app's context manager, e.g. AsyncLocalStorage, carries it).
 */
export function runTraced<T>(traceparent: string, fn: () => T): T {
  const m = api === undefined ? null : TRACEPARENT.exec(traceparent);
  if (m === null || api === undefined) return fn();
  const parent = api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16),
    isRemote: true,
  });
  return api.context.with(parent, fn);
}
