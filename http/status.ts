/**
 * How a troupe error becomes an HTTP answer when no response head has left yet. Matched on the stable
 * `code` (a HandlerError carries the app's own code, so it is matched by class name after the others).
 */
export interface ErrorAnswer {
  status: number;
  /** Extra headers, e.g. Retry-After on 503. */
  headers?: Record<string, string>;
  /** Worth a line on stderr: the operator has something to fix. */
  report: boolean;
}

const BY_CODE: Record<string, ErrorAnswer> = {
  // Overload: tell well-behaved clients when to come back instead of letting them hammer.
  ERR_TROUPE_QUEUE_FULL: { status: 503, headers: { 'retry-after': '1' }, report: false },
  ERR_TROUPE_NO_ACTOR: { status: 503, headers: { 'retry-after': '5' }, report: true },
  ERR_TROUPE_CLOSED: { status: 503, headers: { 'retry-after': '1', connection: 'close' }, report: false },
  ERR_TROUPE_TIMEOUT: { status: 504, report: false },
  ERR_TROUPE_ACTOR_CRASHED: { status: 502, report: true },
  ERR_TROUPE_DATA_CLONE: { status: 500, report: true },
};

const HANDLER: ErrorAnswer = { status: 500, report: true };

export function answerFor(err: unknown): ErrorAnswer {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const known = BY_CODE[code];
    if (known !== undefined) return known;
  }
  return HANDLER;
}

/** The one-line reason for stderr: name and message, never the body of a response. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const remote = (err as { remoteStack?: unknown }).remoteStack;
    return typeof remote === 'string' ? remote : `${err.name}: ${err.message}`;
  }
  return String(err);
}
