// The verbs about results: report (charts, tables, CSV and JSON from result.json files) and schema
// (the JSON Schema of result.json).
import { Option, type Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BaselineError, findResults, writeReport } from '../results/report/write.ts';
import { resultJsonSchema } from '../results/result.ts';
import { PROJECT_DIR } from '../spec/stackfile.ts';
import { flags, UsageError } from './usage.ts';

export function reportCommands(program: Command): void {
  program
    .command('report')
    .description('charts and tables (HTML + SVG), CSV and JSON from result.json files; bad or foreign files are named and skipped')
    .argument('[paths...]', 'run dirs, result trees, result.json files or stack names (default: every result under --results)')
    .option('--out <dir>', 'where to write the report (default: <results>/report)')
    .option('--results <dir>', 'results root', join(PROJECT_DIR, 'results'))
    .option('--baseline <stack>', 'stack the ratios are against (default: the plain host datapath stack, if any)')
    .action(report);

  program
    .command('schema')
    .description('write the JSON Schema of result.json')
    .addOption(new Option('--out <file>', 'where to write it').default(join(PROJECT_DIR, 'docs', 'result.schema.json')))
    .action((o: { out: string }) => {
      flags('schema').outFile('--out', o.out);
      mkdirSync(dirname(o.out), { recursive: true });
      writeFileSync(o.out, JSON.stringify(resultJsonSchema(), null, 2) + '\n');
      process.stdout.write(`wrote ${o.out}\n`);
    });
}

/** report: the report of the results found under the paths (or every one under --results); exit 1 when none was read. */
async function report(paths: string[], o: { out?: string; results: string; baseline?: string }): Promise<void> {
  const f = flags('report');
  // Where the report goes: --out, or report/ under --results.
  if (o.out) f.dir('--out', o.out);
  else f.dir('--results', o.results);
  const { files, missing } = findResults(paths.length ? paths : [o.results], o.results);
  if (missing.length)
    throw new UsageError(
      `report: ${missing.map((m) => JSON.stringify(m)).join(', ')}: no such file or directory, nor a stack with results under ${o.results}; expected run directories, result trees, result.json files or stack names`,
    );
  let r: Awaited<ReturnType<typeof writeReport>>;
  try {
    r = await writeReport(files, o.out ?? join(o.results, 'report'), o.baseline ? { baseline: o.baseline } : {});
  } catch (e) {
    throw e instanceof BaselineError ? new UsageError(`report: ${e.message}`) : e;
  }
  for (const s of r.skipped) process.stderr.write(`skipped ${s.file}: ${s.why}\n`);
  process.stdout.write(`${r.runs} run(s), ${r.charts.length} chart(s), ${r.skipped.length} file(s) skipped\nreport: ${r.html}\n`);
  if (!r.runs) process.exitCode = 1;
}
