/**
 * The app's `Response`, made cheap for the common answer: a body known when the response is made (a
 * string, bytes, JSON, or none). A real Response wraps even a string in a ReadableStream that the adapter
 * would then read back through a reader; this object keeps the body as given, so the adapter takes it as
 * is, and builds the real Response (undici's) only if something asks for what needs one (`body`,
 * `text()`, `clone()`...). Any other body (a stream, a Blob, FormData) or an init the real constructor
 * would refuse makes a real Response at once, with its errors. It passes `instanceof Response`.
 */

const NativeResponse = globalThis.Response;
type BodyInit = ConstructorParameters<typeof Response>[0];
type HeadersInit = ConstructorParameters<typeof Headers>[0];
const REAL = Symbol('troupe.realResponse');
/** Statuses that cannot have a body: the real constructor throws for them, so they take its path. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\r\n\0]/;

/** A response whose whole body is known: what the adapter sends in the response head. */
export interface WholeResponse {
  status: number;
  /** Flat `[name, value, ...]`, names lower-cased. */
  headers: string[];
  body: string | Uint8Array | null;
}

type Fast = string | Uint8Array | null;

function fastBody(body: unknown): Fast | undefined {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body;
  // Bytes are copied, as the real constructor does: the app may reuse its buffer.
  if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
  if (ArrayBuffer.isView(body)) {
    return new Uint8Array(
      body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
    );
  }
  return undefined;
}

function fastStatus(init: ResponseInit | undefined, body: Fast): number | undefined {
  if (init === undefined || init === null) return 200;
  if (typeof init !== 'object') return undefined;
  const { status, statusText } = init;
  if (statusText !== undefined && statusText !== '') return undefined;
  if (status === undefined) return 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  if (body !== null && NULL_BODY.has(status)) return undefined;
  return status;
}

export class LightResponse {
  #body: Fast = null;
  #status = 200;
  #init: HeadersInit | undefined;
  #headers: Headers | undefined;
  #real: Response | undefined;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    const fast = fastBody(body);
    const status = fast === undefined ? undefined : fastStatus(init, fast);
    if (fast === undefined || status === undefined) {
      this.#real = new NativeResponse(body, init);
      return;
    }
    this.#body = fast;
    this.#status = status;
    const headers = init?.headers;
    // A Headers object or a list is copied now, as the real constructor does; a plain object is read
    // when the response is sent (the usual `{ 'content-type': ... }`, never changed after).
    if (headers instanceof Headers || Array.isArray(headers))
      this.#headers = this.#withType(new Headers(headers));
    else this.#init = headers;
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data);
    if (typeof text !== 'string') return NativeResponse.json(data, init); // its TypeError
    const headers = new Headers(init?.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new LightResponse(text, { ...init, headers }) as unknown as Response;
  }

  /** The real constructor's default Content-Type for a string body. */
  #withType(headers: Headers): Headers {
    if (typeof this.#body === 'string' && !headers.has('content-type')) {
      headers.set('content-type', 'text/plain;charset=UTF-8');
    }
    return headers;
  }

  get status(): number {
    return this.#real?.status ?? this.#status;
  }

  get ok(): boolean {
    const s = this.status;
    return s >= 200 && s <= 299;
  }

  get statusText(): string {
    return this.#real?.statusText ?? '';
  }

  get headers(): Headers {
    if (this.#real !== undefined) return this.#real.headers;
    this.#headers ??= this.#withType(new Headers(this.#init));
    return this.#headers;
  }

  [REAL](): Response {
    if (this.#real === undefined) {
      this.#real = new NativeResponse(this.#body, { status: this.#status, headers: this.headers });
      this.#headers = undefined;
    }
    return this.#real;
  }

  /** The parts the adapter sends, or undefined when a real Response exists (read it as one). */
  static whole(res: unknown): WholeResponse | undefined {
    if (!(res instanceof LightResponse) || res.#real !== undefined) return undefined;
    const flat: string[] = [];
    const init = res.#init;
    if (res.#headers === undefined && !plainHeaders(init, flat)) {
      flat.length = 0;
      res.#headers = res.#withType(new Headers(init)); // throws the real constructor's TypeError
    }
    if (res.#headers !== undefined) {
      for (const [name, value] of res.#headers) flat.push(name, value);
    } else if (typeof res.#body === 'string' && !hasName(flat, 'content-type')) {
      flat.push('content-type', 'text/plain;charset=UTF-8');
    }
    return { status: res.#status, headers: flat, body: res.#body };
  }
}

/** A plain `{ name: value }` of valid names and string values, pushed lower-cased; false for anything else. */
function plainHeaders(init: HeadersInit | undefined, out: string[]): boolean {
  if (init === undefined) return true;
  if (typeof init !== 'object' || Object.getPrototypeOf(init) !== Object.prototype) return false;
  for (const name in init) {
    const value = (init as Record<string, unknown>)[name];
    if (typeof value !== 'string' || !TOKEN.test(name) || BAD_VALUE.test(value)) return false;
    const lower = name.toLowerCase();
    // Two spellings of one name are joined by Headers; leave that to it.
    if (hasName(out, lower)) return false;
    out.push(lower, value.trim());
  }
  return true;
}

function hasName(flat: string[], name: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return true;
  return false;
}

// Everything else a Response has is read from the real one, built on first use.
for (const name of Object.getOwnPropertyNames(NativeResponse.prototype)) {
  if (name === 'constructor' || Object.hasOwn(LightResponse.prototype, name)) continue;
  const desc = Object.getOwnPropertyDescriptor(NativeResponse.prototype, name)!;
  if (typeof desc.value === 'function') {
    Object.defineProperty(LightResponse.prototype, name, {
      configurable: true,
      writable: true,
      value(this: LightResponse, ...args: unknown[]) {
        const real = this[REAL]();
        return (real as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
      },
    });
  } else if (desc.get !== undefined) {
    Object.defineProperty(LightResponse.prototype, name, {
      configurable: true,
      get(this: LightResponse) {
        return (this[REAL]() as unknown as Record<string, unknown>)[name];
      },
    });
  }
}
Object.setPrototypeOf(LightResponse.prototype, NativeResponse.prototype);
Object.setPrototypeOf(LightResponse, NativeResponse); // Response.redirect(), Response.error()
Object.defineProperty(LightResponse, 'name', { value: 'Response' });

/** The real Response behind a light one (or the value itself): for code that needs undici's own. */
export function realResponse<T>(value: T): T | Response {
  return value instanceof LightResponse ? value[REAL]() : value;
}

let installed = false;

/** In this actor's thread, `new Response(...)` and `Response.json(...)` make light responses. */
export function installLightResponse(): void {
  if (installed) return;
  installed = true;
  globalThis.Response = LightResponse as unknown as typeof Response;
}
