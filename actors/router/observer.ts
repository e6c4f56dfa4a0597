import type { ActorHandle } from './actor-handle.js';
import type { PendingRequest } from './pending.js';

/**
 * What the request path tells about each request, for metrics and tracing. Each hook runs on the hot
 * path: a few field updates, no allocation (tracing, when on, allocates its span).
 */
export interface RequestObserver {
  /** The request waits in a queue. */
  queued(req: PendingRequest): void;
  /** The request is about to start on `h` (its START is not queued yet: a hook may send ahead of it). */
  started(req: PendingRequest, h: ActorHandle): void;
  /** The actor reported the request's end. `ok`: the caller got the result. */
  finished(h: ActorHandle, req: PendingRequest, ok: boolean): void;
  /** The caller got `error` (exactly once per request). */
  failed(req: PendingRequest, error: Error): void;
  /** A stream's consumer left before its end. */
  left(req: PendingRequest): void;
}

/** Both observers see every hook, `a` first. */
export function both(a: RequestObserver, b: RequestObserver): RequestObserver {
  return {
    queued(req) {
      a.queued(req);
      b.queued(req);
    },
    started(req, h) {
      a.started(req, h);
      b.started(req, h);
    },
    finished(h, req, ok) {
      a.finished(h, req, ok);
      b.finished(h, req, ok);
    },
    failed(req, error) {
      a.failed(req, error);
      b.failed(req, error);
    },
    left(req) {
      a.left(req);
      b.left(req);
    },
  };
}
