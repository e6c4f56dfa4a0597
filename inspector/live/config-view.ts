import type { ConfigRecord, Dispatcher } from '../../actors/types.js';
import type { AdminApi } from './admin.js';
import { withoutRemoved } from './merge-patch.js';
import { HIDDEN, redactSnapshot } from './redact.js';

/** What the page's config panel shows without an admin token: the same redaction as the timeline. */
export function configView(dispatcher: Dispatcher, showPayloads: boolean, admin: AdminApi | undefined) {
  const snap = redactSnapshot(dispatcher.snapshot(), showPayloads);
  return {
    version: snap.configVersion,
    config: withoutRemoved(snap.config),
    history: dispatcher.configHistory().map((r) => redactRecord(r, showPayloads)),
    admin: admin !== undefined,
    showPayloads,
  };
}

/** Keys, versions, verdicts and who asked stay; values are hidden unless payloads are shown. */
export function redactRecord(record: ConfigRecord, showPayloads: boolean): ConfigRecord {
  if (showPayloads) return record;
  return {
    ...record,
    change: Object.fromEntries(Object.keys(record.change).map((k) => [k, HIDDEN])),
    changes: record.changes.map((c) => ({
      key: c.key,
      ...('from' in c ? { from: HIDDEN } : {}),
      ...('to' in c ? { to: HIDDEN } : {}),
    })),
  };
}
