import { type IncomingHttpHeaders, IncomingMessage } from 'node:http';

type AddHeaderLine = (this: object, name: string, value: string, dest: Record<string, unknown>) => void;
const addHeaderLine = (IncomingMessage.prototype as unknown as { _addHeaderLine: AddHeaderLine })
  ._addHeaderLine;
/** What node's parser passes as the message when it adds a line: joinDuplicateHeaders unset, node's default. */
const DEFAULTS = {};

/**
 * A request's `rawHeaders` as the `headers` object node:http builds from them, by node's own rules for
 * repeated names (joined with `, `, cookies with `; `, Set-Cookie a list, some names kept first only).
 */
export function nodeHeaders(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) addHeaderLine.call(DEFAULTS, raw[i]!, raw[i + 1]!, out);
  return out as IncomingHttpHeaders;
}
