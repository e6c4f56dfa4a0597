import type { Span, Tracer } from '@opentelemetry/api';
import { InvalidArgumentError } from '../errors.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import type { RequestObserver } from './observer.js';
import type { PendingRequest } from './pending.js';

type OtelApi = typeof import('@opentelemetry/api');

/** A traced request's span, and when it entered a queue (performance.now(), or 0). */
export interface RequestTrace {
  span: Span;
  queuedAt: number;
  ended: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Whether an OpenTelemetry tracer provider is registered in this process, read from the API's global
 * slot without loading the API: a dispatcher in a process that does not trace pays nothing.
 */
function providerRegistered(): boolean {
  const slot = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[
    Symbol.for('opentelemetry.js.api.1')
  ];
  return slot?.trace !== undefined;
}

/**
 * One `troupe.request` span per request, from submit to its outcome, with the actor, key hash, queue
 * wait, config version and outcome as attributes. Its parent is the caller's active context at submit
 * (or `RequestOptions.traceparent`); its context travels to the actor ahead of the request's START, so
 * the handler runs inside it.
 */
export class Tracing implements RequestObserver {
  private readonly tracer: Tracer;

  private constructor(private readonly api: OtelApi) {
    this.tracer = api.trace.getTracer('troupe');
  }

  /**
   * `true`: trace (the API must be installed); `false`: never; `'auto'`: trace when a tracer provider is
   * registered when the dispatcher is created.
   */
  static async load(mode: boolean | 'auto'): Promise<Tracing | undefined> {
    if (mode === false || (mode === 'auto' && !providerRegistered())) return undefined;
    try {
      return new Tracing(await import('@opentelemetry/api'));
    } catch (err) {
      if (mode === 'auto') return undefined;
      throw new InvalidArgumentError(
        `Option 'tracing' needs @opentelemetry/api (npm install @opentelemetry/api): ${(err as Error)?.message ?? err}`,
      );
    }
  }

  private open(req: PendingRequest): RequestTrace {
    const api = this.api;
    const tp = req.options?.traceparent;
    const m = tp === undefined ? null : TRACEPARENT.exec(tp);
    const parent =
      m === null
        ? api.context.active()
        : api.trace.setSpanContext(api.ROOT_CONTEXT, {
            traceId: m[1]!,
            spanId: m[2]!,
            traceFlags: Number.parseInt(m[3]!, 16),
            isRemote: true,
          });
    const span = this.tracer.startSpan(
      'troupe.request',
      { kind: api.SpanKind.INTERNAL, attributes: { 'troupe.request_id': req.id } },
      parent,
    );
    if (req.keyHash >= 0) span.setAttribute('troupe.key_hash', req.keyHash);
    const trace: RequestTrace = { span, queuedAt: 0, ended: false };
    req.trace = trace;
    return trace;
  }

  queued(req: PendingRequest): void {
    const t = req.trace ?? this.open(req);
    t.queuedAt = performance.now();
  }

  started(req: PendingRequest, h: ActorHandle): void {
    const t = req.trace ?? this.open(req);
    const span = t.span;
    span.setAttribute('troupe.actor', h.slot);
    span.setAttribute('troupe.queue_wait_ms', t.queuedAt === 0 ? 0 : performance.now() - t.queuedAt);
    span.setAttribute('troupe.config_version', h.configVersion);
    t.queuedAt = 0;
    const sc = span.spanContext();
    if (this.api.trace.isSpanContextValid(sc)) {
      const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
      h.outbox.push(P.TRACE, req.id, `00-${sc.traceId}-${sc.spanId}-${flags}`);
    }
  }

  finished(_h: ActorHandle, req: PendingRequest, ok: boolean): void {
    if (ok) this.end(req, 'ok', undefined);
  }

  failed(req: PendingRequest, error: Error): void {
    if (req.trace === undefined) this.open(req); // refused before any actor took it
    const code = (error as { code?: unknown }).code;
    this.end(req, typeof code === 'string' ? code : 'error', error);
  }

  left(req: PendingRequest): void {
    this.end(req, 'cancelled', undefined);
  }

  private end(req: PendingRequest, outcome: string, error: Error | undefined): void {
    const t = req.trace;
    if (t === undefined || t.ended) return;
    t.ended = true;
    t.span.setAttribute('troupe.outcome', outcome);
    if (error !== undefined)
      t.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: error.message });
    t.span.end();
  }
}
