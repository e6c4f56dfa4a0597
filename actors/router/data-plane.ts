import { AbortError, DataCloneError, HandlerError, type TroupeError } from '../errors.js';
import type { InspectionEvent } from '../types.js';
import * as P from '../wire/protocol.js';
import type { ActorHandle } from './actor-handle.js';
import type { InspectionHub } from './inspection-hub.js';
import type { PendingRequest } from './pending.js';
import type { RequestPath } from './request-path.js';

/**
 * Reads the actors' data-plane batches on the main thread: outcomes, chunks and credits go to the request
 * path, state reports and config replies to the actor's handle, inspection events to the hub.
 */
export class DataPlane {
  constructor(
    private readonly requests: RequestPath,
    private readonly hub: InspectionHub,
  ) {}

  readonly onData = (h: ActorHandle, msg: unknown[]): void => {
    const requests = h.requests;
    for (let i = 0; i < msg.length; i += 3) {
      const tag = msg[i] as P.ToRouterTag;
      const a = msg[i + 1];
      const b = msg[i + 2];
      switch (tag) {
        // A request's single outcome: its result, its stream's end, or its error.
        case P.RESULT:
        case P.END:
        case P.ERROR: {
          const req = requests.get(a as number);
          if (req !== undefined) this.outcome(h, req, tag, b);
          break;
        }
        case P.CHUNK: {
          const req = requests.get(a as number);
          if (req !== undefined) this.chunk(h, req, b);
          break;
        }
        // A stream's last chunk and its end in one message.
        case P.LAST: {
          const req = requests.get(a as number);
          if (req === undefined) break;
          this.chunk(h, req, b);
          this.outcome(h, req, P.END, undefined);
          break;
        }
        case P.BODY_CREDIT: {
          const req = requests.get(a as number);
          if (req === undefined) break;
          req.bodyCredits += b as number;
          const wake = req.bodyWake;
          req.bodyWake = undefined;
          wake?.();
          break;
        }
        case P.STATE:
          h.state = a as ActorHandle['state'];
          // An actor reports the version it last applied; a commit it has not received yet is newer.
          if ((b as number) > h.configVersion) h.configVersion = b as number;
          break;
        case P.PREPARED:
        case P.ABORTED:
          h.configReply(tag, a as number, b as P.WireError | 0);
          break;
        case P.INSPECT:
          if (this.hub.active) this.hub.emit(a as InspectionEvent);
          break;
        default:
          P.unhandled(tag);
      }
    }
  };

  private chunk(h: ActorHandle, req: PendingRequest, chunk: unknown): void {
    if (!req.learned) this.requests.routeCosts.learnOnce(req, h.heartbeat);
    if (!req.settled) req.stream!.push(chunk);
  }

  private outcome(
    h: ActorHandle,
    req: PendingRequest,
    tag: typeof P.RESULT | typeof P.END | typeof P.ERROR,
    b: unknown,
  ): void {
    const failed = tag === P.ERROR;
    this.requests.complete(h, req, !failed && !req.settled);
    if (req.settled) return; // the caller already has its outcome (timeout, abort, consumer left)
    if (failed) {
      this.requests.fail(req, decodeError(h.slot, b as P.WireError));
    } else {
      this.requests.settle(req);
      if (tag === P.RESULT) req.resolve(b);
      else req.stream!.end();
    }
  }

  /** A message the router sent could not be cloned: only its own request fails. */
  readonly onCloneFailure = (h: ActorHandle, tag: number, id: number, error: unknown): void => {
    const req = h.requests.get(id);
    if (req === undefined) return;
    if (tag >= P.START && tag <= P.START_STREAM_BODY) {
      // The actor never saw this request: give its room back and tell the caller why (no run to learn).
      req.learned = true;
      this.requests.complete(h, req, false);
      h.served--;
      if (!req.settled) this.requests.fail(req, new DataCloneError('payload', error));
    } else if (tag === P.BODY_CHUNK) {
      this.requests.cancel(req, P.CANCEL_ABORT, new DataCloneError('request body chunk', error));
    }
  };
}

/** Rebuilds an actor's error on the main thread as the right TroupeError class. */
function decodeError(actorId: number, wire: P.WireError): TroupeError {
  switch (wire.kind) {
    case P.E_CLONE:
      return new DataCloneError(wire.name, new Error(wire.message));
    case P.E_CANCELLED:
      return new AbortError(wire.message);
    case P.E_HANDLER:
      return new HandlerError(actorId, wire.name, wire.message, wire.code, wire.stack);
    default:
      P.unhandled(wire.kind);
      return new HandlerError(actorId, wire.name, wire.message, wire.code, wire.stack);
  }
}
