import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

/** Debian's Chromium (which `npm test` installs when missing), or CHROMIUM_PATH. */
export const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium for the page tests. The network flags keep it from calling out: this machine has no
 * way out, and its refused connections would only slow the tests down.
 */
export function launchChromium() {
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
