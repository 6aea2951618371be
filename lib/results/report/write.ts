// `netlab report`: find result.json files, validate them, shape, chart and write the report
// directory (index.html, charts/*.svg, points.csv, report.json). The only I/O of the report.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { baselineStack, flatten, groupRuns, parseResult, programming, toCsv, type Loaded, type Skipped } from './data.ts';
import { buildCharts, renderSvg } from './charts.ts';
import { findings } from './findings.ts';
import { isStackName } from '../../core/names.ts';
import { renderHtml } from './html.ts';

/** result.json files under each path (a run dir, a stack's results dir, or any tree), or of a stack name. */
export function findResults(paths: string[], resultsRoot: string): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== 'raw' && e.name !== 'report') walk(join(dir, e.name), depth + 1);
      else if (e.isFile() && e.name === 'result.json') files.push(join(dir, e.name));
    }
  };
  for (const p of paths) {
    const asStack = join(resultsRoot, p);
    const target = existsSync(p) ? p : isStackName(p) && existsSync(asStack) ? asStack : null;
    if (!target) {
      missing.push(p);
      continue;
    }
    if (statSync(target).isFile()) files.push(target);
    else walk(target, 0);
  }
  return { files: [...new Set(files.map((f) => resolve(f)))].sort(), missing };
}

/** `--baseline` names a stack without runs among the results: the command line is wrong, not a file. */
export class BaselineError extends Error {
  override name = 'BaselineError';
}

export interface ReportOutcome {
  dir: string;
  html: string;
  runs: number;
  charts: string[];
  skipped: Skipped[];
}

export async function writeReport(files: string[], outDir: string, o: { baseline?: string } = {}): Promise<ReportOutcome> {
  const runs: Loaded[] = [];
  const skipped: Skipped[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      skipped.push({ file: f, why: (e as Error).message });
      continue;
    }
    const r = parseResult(f, text);
    if ('result' in r) runs.push(r);
    else skipped.push(r);
  }
  runs.sort((a, b) => a.result.stack.localeCompare(b.result.stack) || a.result.startedAt.localeCompare(b.result.startedAt));
  if (o.baseline && !runs.some((r) => r.result.stack === o.baseline)) {
    const stacks = [...new Set(runs.map((r) => r.result.stack))];
    throw new BaselineError(
      `--baseline ${JSON.stringify(o.baseline)}: no run of that stack among the results; expected ${stacks.length ? `one of: ${stacks.join(', ')}` : 'a stack with results (none of the files holds a valid run)'}`,
    );
  }
  const groups = groupRuns(runs, o.baseline);
  const programs = programming(runs);
  const charts = buildCharts(groups, programs);
  mkdirSync(join(outDir, 'charts'), { recursive: true });
  const rendered: { id: string; title: string; caption: string; svg: string; small?: boolean }[] = [];
  for (const c of charts) {
    const svg = await renderSvg(c);
    writeFileSync(join(outDir, 'charts', `${c.id}.svg`), svg);
    writeFileSync(join(outDir, 'charts', `${c.id}.vl.json`), JSON.stringify(c.spec, null, 2) + '\n');
    rendered.push({ id: c.id, title: c.title, caption: c.caption, svg, small: c.small });
  }
  const points = flatten(runs);
  writeFileSync(join(outDir, 'points.csv'), toCsv(points));
  const baseline = o.baseline ?? baselineStack(groups);
  const generatedAt = new Date().toISOString();
  const found = findings(runs, baseline);
  writeFileSync(
    join(outDir, 'report.json'),
    JSON.stringify({ generatedAt, baseline, findings: found, runs: runs.map((r) => r.file), skipped, charts: charts.map((c) => c.id), groups }, null, 2) + '\n',
  );
  const html = join(outDir, 'index.html');
  writeFileSync(html, renderHtml({ generatedAt, runs, skipped, groups, charts: rendered, baseline, findings: found }));
  return { dir: outDir, html, runs: runs.length, charts: charts.map((c) => c.id), skipped };
}
