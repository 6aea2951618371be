// Running stacks for the verbs: locally, one after another (up, the benches), or through the
// Pulumi Automation API (up of aws stacks, sweep).
import { join, resolve } from 'node:path';
import { upLocal, type UpOutcome } from '../local/run.ts';
import { isVmSpec, upVm, type VmSpec } from '../vm/run.ts';
import { writeReport } from '../results/report/write.ts';
import type { RunResult } from '../results/result.ts';
import { renderTable, summarize } from '../results/summary.ts';
import type { Spec } from '../spec/schema.ts';
import { locateStack, PROJECT_DIR, STACKS_DIR } from '../spec/stackfile.ts';
import { checkSchedule, checkSweep, PrereqError, sweep, type SweepRow } from '../aws/sweep.ts';
import { awsPlan, isAwsSpec } from '../aws/plan.ts';
import { interruptible } from '../core/signals.ts';
import { clock, progressDisplay, renderSweepTable } from './output.ts';
import { UsageError } from './usage.ts';

/** `--parallel` and `--max-hourly-usd` of sweep and of up (aws stacks). */
export interface SweepLimitOptions {
  parallel?: number;
  maxHourlyUsd?: number | undefined;
}

/**
 * Stacks (aws or local) through the Automation API: refresh, up, then always destroy, up to
 * `parallel` at once under the `maxHourlyUsd` cap; prints progress lines prefixed with the stack
 * (`[aws-e1-iptables] up: …`) and a summary table. The engine reads each stack's config from
 * stacks/, so a stack given as a path elsewhere is refused.
 */
export async function runSweep(specs: Spec[], o: { json?: boolean; keep?: boolean; refs?: string[] } & SweepLimitOptions): Promise<SweepRow[]> {
  const limits = { parallel: o.parallel ?? 1, maxHourlyUsd: o.maxHourlyUsd };
  try {
    checkSchedule(
      specs.map((s) => ({ name: s.name, usdPerHour: isAwsSpec(s) ? awsPlan(s).cost.usdPerHour : 0, local: !isAwsSpec(s) })),
      limits,
    );
    checkSweep(specs);
  } catch (e) {
    if (e instanceof PrereqError) throw e;
    throw new UsageError((e as Error).message);
  }
  const outside = (o.refs ?? []).map((r) => locateStack(r)).filter((l) => resolve(l.path) !== join(STACKS_DIR, `Pulumi.${l.name}.yaml`));
  if (outside.length)
    throw new UsageError(
      `the Pulumi engine reads a stack's config from ${STACKS_DIR}/Pulumi.<stack>.yaml (Pulumi.yaml's stackConfigDir): ${outside.map((l) => l.path).join(', ')} is elsewhere; copy it there (or give its stack name)`,
    );
  const { signal, dispose } = interruptible();
  try {
    const rows = await sweep(specs, {
      projectDir: PROJECT_DIR,
      signal,
      keep: o.keep,
      ...limits,
      log: (stack, line) => process.stderr.write(`${clock()} [${stack}] ${line}\n`),
    });
    if (o.json) process.stdout.write(JSON.stringify({ runs: rows }, null, 2) + '\n');
    else process.stdout.write(renderSweepTable(rows) + '\n');
    return rows;
  } finally {
    dispose();
  }
}

/** Whether a sweep did all it was asked: every stack ran ok and was destroyed (or kept with --keep). */
export const sweepOk = (specs: Spec[], rows: SweepRow[], keep?: boolean) =>
  rows.length === specs.length && rows.every((r) => r.status === 'ok' && (r.destroyed || keep));

export interface RunManyOptions {
  keep?: boolean;
  json?: boolean;
  quiet?: boolean;
  resultsRoot?: string;
}

/** Run stacks one after another (validating them all first); print the comparison. */
export async function runStacks(specs: Spec[], o: RunManyOptions): Promise<UpOutcome[]> {
  const { progress, stop } = progressDisplay(!!o.quiet || !!o.json);
  const { signal, dispose } = interruptible();
  const outcomes: UpOutcome[] = [];
  try {
    for (const spec of specs) {
      if (signal.aborted) break;
      const run = isVmSpec(spec) ? upVm : upLocal;
      outcomes.push(await run(spec as VmSpec, { keep: o.keep, signal, progress, resultsRoot: o.resultsRoot }));
    }
  } finally {
    stop();
    dispose();
  }
  const report = await reportOf(outcomes, o.resultsRoot);
  const rows = summarize(outcomes.map((x): RunResult => x.result));
  if (o.json) {
    process.stdout.write(
      JSON.stringify(
        { runs: outcomes.map((x) => ({ stack: x.result.stack, status: x.result.status, dir: x.dir, error: x.result.error })), rows, report },
        null,
        2,
      ) + '\n',
    );
  } else {
    process.stdout.write(`\n${renderTable(rows)}\n`);
    for (const x of outcomes) {
      const r = x.result;
      const setup = r.setup ? `set-up ${r.setup.seconds.toFixed(2)} s` : 'no set-up';
      const td = r.teardown ? `tear-down ${r.teardown.seconds.toFixed(2)} s` : 'kept up (netlab down to remove)';
      process.stdout.write(`${r.stack}: ${r.status}${r.error ? ` — ${r.error}` : ''}; ${setup}; ${td}; ${x.dir}/result.json\n`);
    }
    if (report) process.stdout.write(`report: ${report}\n`);
  }
  return outcomes;
}

/** The report of what just ran: charts and tables from these result.json files alone; its HTML file, or null. */
async function reportOf(outcomes: UpOutcome[], resultsRoot?: string): Promise<string | null> {
  // Inside a netlab:vm guest the host side writes the report (emulated, it took 20 s here).
  if (!outcomes.length || process.env.NETLAB_VM_GUEST) return null;
  try {
    return (
      await writeReport(
        outcomes.map((x) => join(x.dir, 'result.json')),
        join(resultsRoot ?? join(PROJECT_DIR, 'results'), 'report'),
      )
    ).html;
  } catch (e) {
    process.stderr.write(`netlab: the report could not be written: ${(e as Error).message}\n`);
    return null;
  }
}
