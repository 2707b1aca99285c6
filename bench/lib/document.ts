/**
 * docs/performance.md from a run. The file has a hand-written head (what is measured, "Running
 * it", "How it measures") down to the GENERATED marker; `--scenario all --write` replaces
 * everything below it with the run: a dated header, the machine block, one table of every target
 * and then each scenario's section between its own markers, which a single scenario's `--write`
 * later rewrites in place.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from './paths.ts';
import type { Verdict } from './report.ts';

const FILE = path.join(projectRoot, 'docs', 'performance.md');
export const GENERATED = '<!-- bench:generated: everything below is written by `npm run bench -- --scenario all --write` -->';

export type Section = { marker: string; heading: string; body: string };

function read(): string {
  try {
    return readFileSync(FILE, 'utf8');
  } catch {
    return `# Performance\n\n${GENERATED}\n`;
  }
}

/** Rewrites one section between its markers (appending it, headed, when it is not there yet). */
export function writeSection(section: Section): void {
  const start = `<!-- ${section.marker}:start -->`;
  const end = `<!-- ${section.marker}:end -->`;
  let text = read();
  if (!text.includes(start) || !text.includes(end)) text += `\n## ${section.heading}\n\n${start}\n${end}\n`;
  text = text.slice(0, text.indexOf(start) + start.length) + `\n${section.body}\n` + text.slice(text.indexOf(end));
  writeFileSync(FILE, text);
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The table of every target: issue item, target, measured, baseline, ratio, goal, verdict. */
export function targetsTable(verdicts: Verdict[]): string {
  const rows = verdicts
    .map((v) => ({ v, item: v.row?.item ?? '—' }))
    // By issue item; the older targets (no item) last. Stable: each item's targets in run order.
    .sort((a, b) => (a.item === '—' ? 1 : 0) - (b.item === '—' ? 1 : 0) || a.item.localeCompare(b.item))
    .map(({ v, item }) => {
      const row = v.row;
      const measured = row ? row.measured : v.figure;
      return `| ${item} | ${cell(v.target)} | ${cell(measured)} | ${cell(row?.baseline ?? '—')} | ${cell(row?.ratio ?? '—')} | ${cell(row?.goal ?? '—')} | **${v.pass ? 'PASS' : 'MISS'}** |`;
    });
  return ['| issue 14 item | target | measured | baseline (same run) | ratio | goal | verdict |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

/** Replaces everything below GENERATED with the run. */
export function writeDocument(run: { title: string; intro: string[]; machine: string[]; verdicts: Verdict[]; sections: Section[] }): void {
  const text = read();
  const head = text.includes(GENERATED) ? text.slice(0, text.indexOf(GENERATED)) : `${text.trimEnd()}\n\n`;
  const misses = run.verdicts.filter((v) => !v.pass);
  const generated = [
    GENERATED,
    '',
    `## ${run.title}`,
    '',
    ...run.intro,
    '',
    '```',
    ...run.machine,
    '```',
    '',
    '### Every target',
    '',
    targetsTable(run.verdicts),
    '',
    ...(misses.length ? ['Why each MISS missed (the measured reason):', '', ...misses.map((v) => `- ${v.target}: ${v.figure}`), ''] : []),
    ...run.sections.flatMap((section) => [`## ${section.heading}`, '', `<!-- ${section.marker}:start -->`, section.body, `<!-- ${section.marker}:end -->`, '']),
  ].join('\n');
  writeFileSync(FILE, head + generated);
}
