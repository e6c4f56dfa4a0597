import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** 127.0.0.0/8, ::1 and `localhost`: the interfaces only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopback(h.slice(7));
  return false;
}

/**
 * Who may read the page. Two gates:
 * - with a token (required off loopback), every request must carry it: as `?token=` (the URL the user
 *   opens), as `Authorization: Bearer <token>` (tools), or in the cookie the server sets when the
 *   page is opened with `?token=` (the page's scripts, diagrams and event stream: relative URLs and
 *   module imports cannot carry a query string);
 * - without one, the page is on loopback only, and the `Host` header must name a loopback host: this
 *   closes DNS rebinding, where a web page the user visits resolves its own name to 127.0.0.1 and
 *   reads the inspector through the user's browser.
 */
export function allowed(req: IncomingMessage, url: URL, token: string | undefined, cookie: string): boolean {
  if (token !== undefined) {
    const auth = req.headers.authorization;
    const given =
      url.searchParams.get('token') ??
      (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined) ??
      readCookie(req.headers.cookie, cookie);
    return given !== undefined && sameSecret(given, token);
  }
  const host = req.headers.host ?? '';
  return isLoopback(host.replace(/:\d+$/, ''));
}

/** Compares digests, so the time taken says nothing about the token's length or prefix. */
function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** The cookie that carries the token for the page's own requests; one per port, as cookies ignore ports. */
export function cookieName(port: number): string {
  return `troupe-inspector-${port}`;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}
