/**
 * Every error troupe raises is a TroupeError with a stable `code`; callers branch on `code` (or
 * `instanceof`), never on the message. Messages say what happened and what to do.
 */
export class TroupeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad options, payload, key or config change: the caller's input was rejected before any work ran. */
export class InvalidArgumentError extends TroupeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TROUPE_INVALID_ARGUMENT', message, options);
  }
}

/** The app module could not be loaded or does not export a usable app. */
export class AppLoadError extends TroupeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TROUPE_APP_LOAD', message, options);
  }
}

/** An actor's `init` threw or ran past `initTimeout`; carries the actor id and the cause. */
export class InitError extends TroupeError {
  readonly actorId: number;
  constructor(actorId: number, message: string, options?: { cause?: unknown }) {
    super('ERR_TROUPE_INIT', message, options);
    this.actorId = actorId;
  }
}

/** The router's queue is full (`maxQueue`): retry later or raise the limit. */
export class QueueFullError extends TroupeError {
  constructor(limit: number) {
    super('ERR_TROUPE_QUEUE_FULL', `The request queue is full (maxQueue = ${limit}); retry later.`);
  }
}

/** A request was made after `close()`. */
export class ClosedError extends TroupeError {
  constructor(message = 'The dispatcher is closed (or closing) and takes no new requests.') {
    super('ERR_TROUPE_CLOSED', message);
  }
}

/** The request ran past its timeout; the actor's `ctx.signal` was aborted. */
export class TimeoutError extends TroupeError {
  readonly timeout: number;
  constructor(timeout: number, message = `The request did not finish within ${timeout} ms.`) {
    super('ERR_TROUPE_TIMEOUT', message);
    this.timeout = timeout;
  }
}

/** The caller aborted the request through its AbortSignal. */
export class AbortError extends TroupeError {
  constructor(reason?: unknown) {
    super('ERR_TROUPE_ABORTED', 'The request was aborted by its signal.', { cause: reason });
  }
}

/** A payload, result, chunk or config value could not be cloned across threads. */
export class DataCloneError extends TroupeError {
  constructor(what: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(
      'ERR_TROUPE_DATA_CLONE',
      `The ${what} cannot be sent between threads (${detail}). Send plain data: objects, arrays, strings, numbers, typed arrays, Maps, Sets, Dates, errors.`,
      { cause },
    );
  }
}

/**
 * A payload, result or chunk is larger, serialized, than the NATS server takes in one message (its
 * `max_payload`): it cannot go to another node. Nothing was sent for it.
 */
export class PayloadTooLargeError extends TroupeError {
  readonly bytes: number;
  readonly limit: number;
  constructor(what: string, bytes: number, limit: number) {
    super(
      'ERR_TROUPE_PAYLOAD_TOO_LARGE',
      `The ${what} is ${bytes} bytes serialized, more than the NATS server takes in one message (max_payload ${limit}), so it cannot go to another node. Send large data as a stream of smaller chunks, or raise max_payload on the server.`,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** The actor running the request died (crash, exit, out of memory, watchdog). At-most-once: not retried. */
export class ActorCrashedError extends TroupeError {
  readonly actorId: number;
  constructor(actorId: number, detail: string) {
    super('ERR_TROUPE_ACTOR_CRASHED', `Actor ${actorId} died while running the request: ${detail}`);
    this.actorId = actorId;
  }
}

/**
 * A config change was rejected; every actor still runs the previous version. In a cluster, `node` names
 * the node whose actor rejected it, and every actor of every node still runs the previous version.
 */
export class ConfigRejectedError extends TroupeError {
  readonly actorId: number;
  readonly version: number;
  readonly node: string | undefined;
  constructor(actorId: number, version: number, cause: unknown, node?: string) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    const where = node === undefined ? `actor ${actorId}` : `actor ${actorId} on node ${node}`;
    const still = node === undefined ? 'every actor' : 'every node';
    super(
      'ERR_TROUPE_CONFIG_REJECTED',
      `Config version ${version} was rejected by ${where} (${detail}); ${still} still runs the previous version.`,
      { cause },
    );
    this.actorId = actorId;
    this.version = version;
    this.node = node;
  }
}

/**
 * Another config change won the race: two changes cannot both be version n+1, and this one was not
 * applied anywhere. Read the committed config (snapshot()) and try again if the change still makes sense.
 */
export class ConfigConflictError extends TroupeError {
  /** The node whose change holds (or won) the cluster's config line, when known. */
  readonly holder: string | undefined;
  constructor(detail: string, holder?: string) {
    super(
      'ERR_TROUPE_CONFIG_CONFLICT',
      `The config change conflicts with another one (${detail}); nothing was applied. Retry on the committed version.`,
    );
    this.holder = holder;
  }
}

/**
 * The cluster cannot take a config change now: this node is cut off from NATS, or a member does not
 * answer (`node` names it). Nothing was applied; retry once the member is back or has left the membership.
 */
export class ClusterUnavailableError extends TroupeError {
  readonly node: string | undefined;
  constructor(message: string, node?: string, options?: { cause?: unknown }) {
    super('ERR_TROUPE_CLUSTER_UNAVAILABLE', message, options);
    this.node = node;
  }
}

/**
 * The node running the request died, left, or dropped out of the membership (silent for nodeTimeout)
 * before its answer arrived. Across a network this can mean the request ran but its answer was lost: it
 * is not run again unless the caller marked it `retry: true` (idempotent), and then only once.
 */
export class NodeLostError extends TroupeError {
  readonly node: string;
  constructor(node: string, detail: string) {
    super(
      'ERR_TROUPE_NODE_LOST',
      `Node ${node} was lost while running the request (${detail}); it may have run.`,
    );
    this.node = node;
  }
}

/** No actor can take requests (every slot gave up after too many restarts). */
export class NoActorError extends TroupeError {
  constructor() {
    super(
      'ERR_TROUPE_NO_ACTOR',
      'No request actor is available: every slot failed. See snapshot() for causes.',
    );
  }
}

/**
 * The app's handler threw. `name` and `message` are the original ones, so callers see the error the
 * app raised; `code` is the original `code` when it had one.
 */
export class HandlerError extends TroupeError {
  readonly actorId: number;
  readonly remoteStack: string | undefined;
  constructor(actorId: number, name: string, message: string, code: string | undefined, stack?: string) {
    super(code ?? 'ERR_TROUPE_HANDLER', message);
    this.name = name;
    this.actorId = actorId;
    this.remoteStack = stack;
  }
}
