import type { Config } from '../../actors/types.js';

/** A patch that cannot be applied: its text says which key and why. */
export class PatchError extends Error {}

/** Nested objects deeper than this are refused: a config is a few levels deep, and recursion has limits. */
const MAX_DEPTH = 64;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * JSON merge patch (RFC 7396): objects merge key by key, `null` removes a key, anything else (arrays
 * included) replaces the value. Pure: neither argument is changed.
 */
export function mergePatch(target: Readonly<Config>, patch: Record<string, unknown>): Config {
  return merge(target, patch, 0, '') as Config;
}

function merge(target: unknown, patch: unknown, depth: number, at: string): unknown {
  if (!isObject(patch)) return patch;
  if (depth > MAX_DEPTH) throw new PatchError(`the patch nests deeper than ${MAX_DEPTH} levels at ${at}`);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    // Assigning `__proto__` on a plain object would replace its prototype, not set a key.
    if (key === '__proto__')
      throw new PatchError(`the key __proto__ is not allowed (at ${at || 'top level'})`);
    if (value === null) delete out[key];
    else out[key] = merge(out[key], value, depth + 1, `${at}/${key}`);
  }
  return out;
}

/** The config as JSON shows it: keys set to `undefined` (removed by a change) are gone. */
export function withoutRemoved(config: Readonly<Config>): Config {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
}
