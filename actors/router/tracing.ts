import type { Span, Tracer } from '@opentelemetry/api';
import { InvalidArgumentError } from '../errors.js';
import type { RequestOptions } from '../types.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import type { RequestObserver } from './observer.js';
import type { PendingRequest } from './pending.js';

type OtelApi = typeof import('@opentelemetry/api');

/** The span of a request sent to another node, until its outcome. */
export interface ForwardTrace {
  /** What the runner continues the trace from; undefined when the span has no valid context. */
  traceparent: string | undefined;
  /** The request was sent on to another node (the first refused it). */
  moved(node: string): void;
  /** Ends the span once: ok, cancelled, or failed with the error (its code is the outcome). */
  end(outcome: 'ok' | 'cancelled' | Error): void;
}

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

  /** The parent of a request's span: `traceparent` when given (and well formed), else the active context. */
  private parent(traceparent: string | undefined) {
    const api = this.api;
    const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
    return m === null
      ? api.context.active()
      : api.trace.setSpanContext(api.ROOT_CONTEXT, {
          traceId: m[1]!,
          spanId: m[2]!,
          traceFlags: Number.parseInt(m[3]!, 16),
          isRemote: true,
        });
  }

  private open(req: PendingRequest): RequestTrace {
    const span = this.tracer.startSpan(
      'troupe.request',
      { kind: this.api.SpanKind.INTERNAL, attributes: { 'troupe.request_id': req.id } },
      this.parent(req.options?.traceparent),
    );
    if (req.keyHash >= 0) span.setAttribute('troupe.key_hash', req.keyHash);
    const trace: RequestTrace = { span, queuedAt: 0, ended: false };
    req.trace = trace;
    return trace;
  }

  /**
   * The span of a request this node sends to another node of its cluster, opened where a local request's
   * would be (same parent), with the node it went to. The runner's own `troupe.request` span continues
   * from `traceparent`, so the trace reads caller → this span → the runner's span → the handler's.
   */
  forward(options: RequestOptions | undefined, id: string, node: string): ForwardTrace {
    const span = this.tracer.startSpan(
      'troupe.request',
      {
        kind: this.api.SpanKind.CLIENT,
        attributes: { 'troupe.request_id': id, 'troupe.node': node },
      },
      this.parent(options?.traceparent),
    );
    const t: RequestTrace = { span, queuedAt: 0, ended: false };
    return {
      traceparent: this.traceparent(span),
      moved: (to) => span.setAttribute('troupe.node', to),
      end: (outcome) =>
        typeof outcome === 'string'
          ? this.close(t, outcome, undefined)
          : this.close(t, outcomeOf(outcome), outcome),
    };
  }

  /** The span's context as a W3C traceparent, or undefined when it has none (a no-op tracer's span). */
  private traceparent(span: Span): string | undefined {
    const sc = span.spanContext();
    if (!this.api.trace.isSpanContextValid(sc)) return undefined;
    const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
    return `00-${sc.traceId}-${sc.spanId}-${flags}`;
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
    const traceparent = this.traceparent(span);
    if (traceparent !== undefined) h.outbox.push(P.TRACE, req.id, traceparent);
  }

  finished(_h: ActorHandle, req: PendingRequest, ok: boolean): void {
    if (ok) this.end(req, 'ok', undefined);
  }

  failed(req: PendingRequest, error: Error): void {
    if (req.trace === undefined) this.open(req); // refused before any actor took it
    this.end(req, outcomeOf(error), error);
  }

  left(req: PendingRequest): void {
    this.end(req, 'cancelled', undefined);
  }

  private end(req: PendingRequest, outcome: string, error: Error | undefined): void {
    if (req.trace !== undefined) this.close(req.trace, outcome, error);
  }

  private close(t: RequestTrace, outcome: string, error: Error | undefined): void {
    if (t.ended) return;
    t.ended = true;
    t.span.setAttribute('troupe.outcome', outcome);
    if (error !== undefined)
      t.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: error.message });
    t.span.end();
  }
}

/** A failed request's outcome attribute: its error's code, else `error`. */
function outcomeOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'error';
}
