import { readFile } from 'node:fs/promises';
import type { Config } from '../actors/types.js';

/** Reads a JSON config file; the message of any failure names the file and says what is wrong. */
export async function readConfigFile(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`config file ${path} must hold a JSON object`);
  }
  return value as Config;
}

/**
 * The config change that turns `live` into `next`: the keys whose value differs. A key gone from the file
 * is sent as `undefined` (a config change is a shallow merge, so omitting it would keep the old value).
 */
export function configChange(live: Readonly<Config>, next: Config): Config {
  const change: Config = {};
  for (const key of Object.keys(next)) {
    if (JSON.stringify(next[key]) !== JSON.stringify(live[key])) change[key] = next[key];
  }
  for (const key of Object.keys(live)) {
    if (!(key in next) && live[key] !== undefined) change[key] = undefined;
  }
  return change;
}
