import type { RequestContext } from '../types.js';
import type { RequestHead } from './heads.js';

/**
 * The app's `Request`, made cheap: most handlers read only `method`, `url` and a header or two, while
 * building a real Request parses the URL, validates every header and makes an AbortSignal and a body
 * stream. This object answers those reads from the request head and builds the real Request (undici's)
 * the first time the app touches anything else (`body`, `json()`, `clone()`...). It passes
 * `instanceof Request`; `new Request(it)` and `fetch(it)` work once `installLightRequest()` ran.
 */

const NativeRequest = globalThis.Request;
type RequestInput = ConstructorParameters<typeof Request>[0];
const REAL = Symbol('troupe.realRequest');

/**
 * The real Request, whose `signal` is troupe's `ctx.signal` itself (aborted when the client leaves, the
 * request times out or the actor drains): passing `signal` to the constructor would make a second
 * AbortSignal and a listener per request. (undici declares `signal` as a field, hence defineProperty.)
 */
const CTX = Symbol('troupe.ctx');
class ActorRequest extends NativeRequest {}
Object.defineProperty(ActorRequest.prototype, 'signal', {
  configurable: true,
  get(this: ActorRequest & { [CTX]: RequestContext }) {
    return this[CTX].signal;
  },
});

/**
 * A URL the WHATWG parser would rewrite (`..` segments, a backslash, an upper-case host, the default
 * port, a fragment): those few go through `new URL()` so that `request.url` is what a real Request says.
 * One expression, tested once a request: upper case in the host (a path may hold upper case as is), or
 * anywhere the default port, a dot segment, a backslash, an encoded dot, a fragment or a byte outside
 * visible ASCII.
 */
const REWRITTEN = /^https?:\/\/[^/]*[A-Z]|:80(?:\/|$)|\/\.|\\|%2[eE]|#|[^\x21-\x7e]/;

function normalize(url: string): string {
  return REWRITTEN.test(url) ? new URL(url).href : url;
}

export class LightRequest {
  #method: string;
  #rawUrl: string;
  #raw: string[];
  #ctx: RequestContext;
  #url: string | undefined;
  #headers: Headers | undefined;
  #real: Request | undefined;

  constructor(head: RequestHead, ctx: RequestContext) {
    [this.#method, this.#rawUrl, this.#raw] = head;
    this.#ctx = ctx;
  }

  get method(): string {
    return this.#method;
  }

  get url(): string {
    this.#url ??= normalize(this.#rawUrl);
    return this.#url;
  }

  get headers(): Headers {
    if (this.#real !== undefined) return this.#real.headers;
    if (this.#headers === undefined) {
      const headers = new Headers();
      const raw = this.#raw;
      for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
      this.#headers = headers;
    }
    return this.#headers;
  }

  get signal(): AbortSignal {
    return this.#ctx.signal;
  }

  /** The real Request, built once. GET and HEAD get no body (as node:http serves them), even if sent. */
  [REAL](): Request {
    if (this.#real !== undefined) return this.#real;
    const method = this.#method;
    const init: RequestInit & { duplex?: 'half' } = { method, headers: this.headers };
    const body = this.#ctx.body;
    if (body !== undefined && method !== 'GET' && method !== 'HEAD') {
      init.body = ReadableStream.from(body as AsyncIterable<Uint8Array>);
      init.duplex = 'half';
    }
    const real = new ActorRequest(this.url, init) as ActorRequest & { [CTX]: RequestContext };
    real[CTX] = this.#ctx;
    this.#real = real;
    this.#headers = undefined;
    return real;
  }
}

// Everything else a Request has is read from the real one, built on first use.
for (const name of Object.getOwnPropertyNames(NativeRequest.prototype)) {
  if (name === 'constructor' || Object.hasOwn(LightRequest.prototype, name)) continue;
  const desc = Object.getOwnPropertyDescriptor(NativeRequest.prototype, name)!;
  if (typeof desc.value === 'function') {
    Object.defineProperty(LightRequest.prototype, name, {
      configurable: true,
      writable: true,
      value(this: LightRequest, ...args: unknown[]) {
        const real = this[REAL]();
        return (real as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
      },
    });
  } else if (desc.get !== undefined) {
    Object.defineProperty(LightRequest.prototype, name, {
      configurable: true,
      get(this: LightRequest) {
        return (this[REAL]() as unknown as Record<string, unknown>)[name];
      },
    });
  }
}
Object.setPrototypeOf(LightRequest.prototype, NativeRequest.prototype);

/** The real Request behind a light one (or the value itself). */
export function realRequest<T>(input: T): T | Request {
  return input instanceof LightRequest ? input[REAL]() : input;
}

let installed = false;

/**
 * `new Request(light)` and `fetch(light)` read undici's internal state, which a light request does not
 * have: in this actor's thread, both are wrapped to hand the real Request over instead.
 */
export function installLightRequest(): void {
  if (installed) return;
  installed = true;
  class Request extends NativeRequest {
    constructor(input: RequestInput, init?: RequestInit) {
      super(realRequest(input) as RequestInput, init);
    }
    // A Request made elsewhere (undici's clone(), a library's own) is a Request too.
    static override [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof NativeRequest;
    }
  }
  globalThis.Request = Request as typeof globalThis.Request;
  const nativeFetch = globalThis.fetch;
  globalThis.fetch = (input: RequestInput, init?: RequestInit) =>
    nativeFetch(realRequest(input) as RequestInput, init);
}
