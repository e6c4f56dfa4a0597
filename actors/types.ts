/**
 * The public types, one file per meaning under `actors/api/`: options, what users read back, the app's
 * side, and the Dispatcher itself. Both threads import types from here; nothing here runs.
 */
export type * from './api/app.js';
export type * from './api/dispatcher.js';
export type * from './api/observation.js';
export type * from './api/options.js';
