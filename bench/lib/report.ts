import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { MachineInfo } from './machine.js';
import { resultsUrl } from './paths.js';
import { evaluate, type Figure, type Results, speedRatio, type TargetOutcome } from './results.js';
import type { Revision } from './revision.js';

export interface RunInfo {
  command: string;
  quick: boolean;
  cases: string[];
  startedAt: string;
  seconds: number;
  machine: MachineInfo;
  revision: Revision | undefined;
  /** What each case ran with (thread counts, payload, budgets), so that a figure carries its setting. */
  settings: Record<string, unknown>;
}

export interface PairRatio {
  case: string;
  subject: string;
  peer: string;
  /**
   * How many times better the subject is than the peer (> 1: better): speed for times and rates, the
   * peer's size over the subject's for memory.
   */
  advantage: number;
  /** Its inverse: subject time (or size) / peer time (or size), the way latency targets are phrased. */
  cost: number;
}

/** Three significant digits, without exponent notation. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

function pairs(results: Results): PairRatio[] {
  const out: PairRatio[] = [];
  for (const c of results.comparisons) {
    const subject = results.figures.get(c.subject);
    if (subject === undefined) continue;
    for (const peerId of c.peers) {
      const peer = results.figures.get(peerId);
      if (peer === undefined) continue;
      const advantage = speedRatio(subject, peer);
      out.push({ case: c.case, subject: c.subject, peer: peerId, advantage, cost: 1 / advantage });
    }
  }
  return out;
}

function targetLine(t: TargetOutcome): string {
  if (t.measured === undefined) return `not measured: ${t.pending ?? 'figure missing (see Errors)'}`;
  const verdict = t.met ? 'met' : 'MISSED';
  switch (t.kind) {
    case 'value-at-most':
      return `${verdict}: ${fmt(t.measured)} (bound ${fmt(t.bound)}, ${fmt(t.measured / t.bound)}× the bound)`;
    case 'value-at-least':
      return `${verdict}: ${fmt(t.measured)} (bound ≥ ${fmt(t.bound)})`;
    case 'time-at-most':
      return `${verdict}: ${fmt(t.measured)}× the peer's time (bound ≤ ${fmt(t.bound)}×)`;
    case 'speed-at-least':
      return `${verdict}: ${fmt(t.measured)}× the peer's speed (bound ≥ ${fmt(t.bound)}×)`;
    case 'within-noise':
      return `${verdict}: ${fmt(t.measured)}× the time without it (noise band ±${fmt((t.band ?? 0) * 100)}%)`;
  }
}

function figureCell(f: Figure): string {
  return `${fmt(f.value)} ${f.unit}`;
}

function markdown(info: RunInfo, results: Results, ratios: PairRatio[], targets: TargetOutcome[]): string {
  const m = info.machine;
  const lines: string[] = [];
  lines.push('# troupe benchmark report', '');
  lines.push(
    `Command: \`${info.command}\`${info.quick ? ' (quick: small counts, figures are not comparable)' : ''}`,
  );
  lines.push(`Run: ${info.startedAt}, ${fmt(info.seconds)} s. Every figure is the median of its samples.`);
  const rev = info.revision;
  if (rev !== undefined) {
    const dirty = rev.uncommitted.length === 0 ? '' : ` plus uncommitted ${rev.uncommitted.join(', ')}`;
    lines.push(`Core measured: commit ${rev.commit}${dirty}.`);
  }
  lines.push('');
  lines.push('| machine | |', '| --- | --- |');
  lines.push(`| CPU | ${m.cpu} |`, `| cores | ${m.cores} (available to Node: ${m.availableParallelism}) |`);
  lines.push(`| memory | ${m.memoryGiB} GiB |`, `| Node | ${m.node} (V8 ${m.v8}, ${m.platform}) |`, '');

  if (targets.length > 0) {
    lines.push('## Targets', '', '| target | outcome |', '| --- | --- |');
    for (const t of targets) lines.push(`| ${t.text} | ${targetLine(t)} |`);
    lines.push('');
  }

  // In the suite's order, not the order figures arrived (non-timed figures are measured first).
  const cases = info.cases.filter((c) => [...results.figures.values()].some((f) => f.case === c));
  for (const c of cases) {
    lines.push(`## ${c}`, '', '| figure | median | detail |', '| --- | ---: | --- |');
    for (const f of results.figures.values()) {
      if (f.case !== c) continue;
      const spread = f.spread === undefined ? '' : ` (spread ±${fmt((f.spread * 100) / 2)}%)`;
      lines.push(`| ${f.label} | ${figureCell(f)} | ${(f.detail ?? '') + spread} |`);
    }
    const here = ratios.filter((r) => r.case === c);
    if (here.length > 0) {
      lines.push('', '| ratio | advantage (> 1: better) | cost (time or size) |', '| --- | ---: | ---: |');
      for (const r of here) {
        const a = results.figures.get(r.subject)!.label;
        const b = results.figures.get(r.peer)!.label;
        lines.push(`| ${a} vs ${b} | ${fmt(r.advantage)}× | ${fmt(r.cost)}× |`);
      }
    }
    lines.push('');
  }

  if (results.notes.length > 0) {
    lines.push('## Notes', '');
    for (const n of results.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  if (results.errors.length > 0) {
    lines.push('## Errors', '');
    for (const e of results.errors) lines.push(`- ${e}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Writes `<name>.json` and `<name>.md` under bench/results/ and returns their paths. */
export async function writeReport(name: string, info: RunInfo, results: Results): Promise<string[]> {
  const ratios = pairs(results);
  const targets = results.targets.map((t) => evaluate(results, t));
  const json = {
    ...info,
    figures: [...results.figures.values()],
    ratios,
    targets,
    notes: results.notes,
    errors: results.errors,
  };
  await mkdir(resultsUrl(''), { recursive: true });
  const jsonUrl = resultsUrl(`${name}.json`);
  const mdUrl = resultsUrl(`${name}.md`);
  await writeFile(jsonUrl, `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(mdUrl, markdown(info, results, ratios, targets));
  return [fileURLToPath(jsonUrl), fileURLToPath(mdUrl)];
}
