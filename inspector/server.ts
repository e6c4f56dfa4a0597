import type { Dispatcher, InspectorOptions } from '../actors/types.js';

// Placeholder until the live inspector lands (issue 6).
export async function startInspector(
  _dispatcher: Dispatcher,
  _options: InspectorOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  throw new Error('The live inspector is not built yet.');
}
