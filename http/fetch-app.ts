import type { App, RequestContext } from '../actors/types.js';

/**
 * Worker side of `troupe serve`: the payload is the request head, the body arrives on `ctx.body`.
 * The handler streams back the response head first, then the body chunks.
 */
export interface RequestHead {
  method: string;
  url: string;
  headers: [string, string][];
}

export interface ResponseHead {
  status: number;
  statusText: string;
  headers: [string, string][];
}

export function adaptFetchApp(app: App) {
  const fetch = app.fetch!.bind(app);
  return async function* handleFetch(head: RequestHead, ctx: RequestContext): AsyncGenerator<unknown> {
    const hasBody = head.method !== 'GET' && head.method !== 'HEAD' && ctx.body !== undefined;
    const body = hasBody ? ReadableStream.from(ctx.body as AsyncIterable<Uint8Array>) : null;
    const request = new Request(head.url, {
      method: head.method,
      headers: head.headers,
      body,
      signal: ctx.signal,
      ...(body ? { duplex: 'half' } : {}),
    } as RequestInit);
    const response = await fetch(request, ctx);
    const out: ResponseHead = { status: response.status, statusText: response.statusText, headers: [...response.headers] };
    yield out;
    if (response.body === null) return;
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  };
}
