// The `netlab` command.
import { Command, Option } from 'commander';
import ora, { type Ora } from 'ora';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { run } from '../core/exec.ts';
import { kernelVersion, placement, renderTuning, studyTuning, tuningSteps, workerCpuAffinity } from '../tuning/plan.ts';
import { resolveTuning } from '../tuning/profile.ts';
import { BaselineError, findResults, writeReport } from '../results/report/write.ts';
import { release } from 'node:os';
import { formatCpuList, parseLscpuP, type Topology } from '../tuning/topology.ts';
import { dirname, join, resolve } from 'node:path';
import Table from 'cli-table3';
import { FEATURES, missing, probeFeatures } from '../local/features.ts';
import { environment, machinePlanOptions, PreflightError, upLocal, type Progress, type UpOutcome } from '../local/run.ts';
import { buildPlan, renderPlan } from '../local/plan.ts';
import { LOAD_MODES, timeProxyLoad, type LoadResult } from '../proxy/load.ts';
import { resultJsonSchema, type RunResult } from '../results/result.ts';
import { RpsClientMissing, rpsClient, rpsFlags } from '../workload/rps.ts';
import { spawn } from 'node:child_process';
import { DATAPATHS, type Spec } from '../spec/schema.ts';
import { listStackNames, loadStack, loadStacks, locateStack, PROJECT_DIR, STACKS_DIR, stackListing } from '../spec/stackfile.ts';
import { WriteError } from '../core/files.ts';
import { interruptible } from '../core/signals.ts';
import { isStackName, STACK_NAME_RULE, StackNameError, runDirOf } from '../core/names.ts';
import { downStack, LockError, TeardownError, removeOrphanScratch, stacksPresent } from '../local/state.ts';
import { proxyRatios, renderProxyRatios, renderTable, summarize } from '../results/summary.ts';
import { awsPlan, isAwsSpec, renderAwsPlan, renderAwsScripts } from '../aws/plan.ts';
import { awsPrereqs, checkSweep, PrereqError, sweep, type SweepRow } from '../aws/sweep.ts';
import { collectTarball, fetchTarball, RUN_TARBALL } from '../aws/collect.ts';
import { pulumiTools as pulumiToolsOf } from '../pulumi/tools.ts';
import { benchPulumi, renderPulumiBench } from '../pulumi/bench.ts';
import { SpecError } from '../spec/errors.ts';
import { specFromStackDoc } from '../spec/document.ts';

/** Spinner on a terminal, plain lines elsewhere (CI logs). */
function progressDisplay(quiet: boolean): { progress: Progress; stop: () => void } {
  const tty = process.stderr.isTTY && !quiet;
  let spin: Ora | null = null;
  const progress: Progress = (e) => {
    const text = `${e.stack}: ${e.index ? `[${e.index}/${e.total}] ` : ''}${e.text}`;
    if (quiet) return;
    if (!tty) {
      process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
      return;
    }
    if (e.phase === 'done') {
      spin?.succeed(text);
      spin = null;
    } else if (spin) spin.text = text;
    else spin = ora({ text, stream: process.stderr }).start();
  };
  return { progress, stop: () => spin?.stop() };
}

function fail(e: unknown): never {
  const known = e instanceof SpecError || e instanceof PreflightError || e instanceof LockError || e instanceof PrereqError || e instanceof UsageError || e instanceof StackNameError || e instanceof WriteError || e instanceof TeardownError || e instanceof RpsClientMissing;
  process.stderr.write(`netlab: ${known ? (e as Error).message : ((e as Error).stack ?? String(e))}\n`);
  process.exit(2);
}

/** A clear refusal of the command line itself (not of a stack file). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Stacks (aws or local) through the Automation API, up then always destroy; prints progress and a
 * summary table. The engine reads each stack's config from stacks/, so a stack given as a path
 * elsewhere is refused.
 */
async function runSweep(specs: Spec[], o: { json?: boolean; keep?: boolean; refs?: string[] }): Promise<SweepRow[]> {
  try {
    checkSweep(specs);
  } catch (e) {
    if (e instanceof PrereqError) throw e;
    throw new UsageError((e as Error).message);
  }
  const outside = (o.refs ?? []).map((r) => locateStack(r)).filter((l) => resolve(l.path) !== join(STACKS_DIR, `Pulumi.${l.name}.yaml`));
  if (outside.length)
    throw new UsageError(`the Pulumi engine reads a stack's config from ${STACKS_DIR}/Pulumi.<stack>.yaml (Pulumi.yaml's stackConfigDir): ${outside.map((l) => l.path).join(', ')} is elsewhere; copy it there (or give its stack name)`);
  const { signal, dispose } = interruptible();
  try {
    const rows = await sweep(specs, { projectDir: PROJECT_DIR, signal, keep: o.keep, log: (stack, line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${stack}: ${line}\n`) });
    if (o.json) process.stdout.write(JSON.stringify({ runs: rows }, null, 2) + '\n');
    else process.stdout.write(renderSweepTable(rows) + '\n');
    return rows;
  } finally {
    dispose();
  }
}

/** The sweep summary: one row per stack; a local stack has no cost ("-"); destroyed "-" = nothing was created, "kept" = --keep left it up. */
export function renderSweepTable(rows: SweepRow[]): string {
  const t = new Table({ head: ['stack', 'target', 'status', 'minutes', 'USD/hour', 'est. USD', 'destroyed', 'results / error'], style: { head: [], border: [] } });
  for (const r of rows) {
    const aws = r.target === 'aws';
    t.push([
      r.stack,
      r.target,
      r.status,
      r.minutes.toFixed(1),
      aws ? r.usdPerHour.toFixed(2) : '-',
      aws ? ((r.minutes / 60) * r.usdPerHour).toFixed(2) : '-',
      r.destroyed === null ? '-' : r.destroyed === 'kept' ? 'kept (--keep)' : r.destroyed ? 'yes' : 'NO',
      r.resultDir ?? r.error ?? '',
    ]);
    if (r.resultDir && r.error) t.push(['', '', '', '', '', '', '', r.error]);
  }
  return t.toString();
}

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
      outcomes.push(await upLocal(spec, { keep: o.keep, signal, progress, resultsRoot: o.resultsRoot }));
    }
  } finally {
    stop();
    dispose();
  }
  const results: RunResult[] = outcomes.map((x) => x.result);
  const rows = summarize(results);
  // The report of what just ran: charts and tables from these result.json files alone.
  let report: string | null = null;
  if (outcomes.length) {
    try {
      report = (await writeReport(outcomes.map((x) => join(x.dir, 'result.json')), join(o.resultsRoot ?? join(PROJECT_DIR, 'results'), 'report'))).html;
    } catch (e) {
      process.stderr.write(`netlab: the report could not be written: ${(e as Error).message}\n`);
    }
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ runs: outcomes.map((x) => ({ stack: x.result.stack, status: x.result.status, dir: x.dir, error: x.result.error })), rows, report }, null, 2) + '\n');
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

/** A bench's figures: JSON or a table plus what was skipped; the exit code says whether every run was ok. */
/** A bench exits 0 only when every stack it planned ran and ended ok (none skipped by Ctrl-C, and at least one). */
function benchOutput(specs: Spec[], outcomes: UpOutcome[], json: object, table: () => string, skipped: string[], asJson?: boolean): void {
  if (asJson) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  else process.stdout.write(`\n${table()}\n${skipped.map((s) => `${s}\n`).join('')}`);
  process.exitCode = specs.length > 0 && outcomes.length === specs.length && outcomes.every((x) => x.result.status === 'ok') ? 0 : 1;
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

/** A host name of RFC 1123 labels; not a malformed address such as 999.1.1.1. */
const isHostName = (s: string) => /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(s) && !/^[\d.]+$/.test(s);

/**
 * Checks of one verb's flags and arguments. Each refusal is a UsageError (exit 2, before anything
 * runs) naming the verb, the flag, its value and what is allowed.
 */
function flags(verb: string) {
  const refuse = (flag: string, value: string, expected: string, why?: string) => new UsageError(`${verb}: ${flag} ${JSON.stringify(value)}: ${why ? `${why}; ` : ''}expected ${expected}`);
  const whole = (x: string, min: number, max: number) => /^\d+$/.test(x) && Number(x) >= min && Number(x) <= max;
  const oneOf = (x: string, allowed: readonly string[]) => allowed.includes(x);
  return {
    refuse,
    int(flag: string, value: string, min: number, max: number): number {
      if (!whole(value, min, max)) throw refuse(flag, value, `a whole number from ${min} to ${max}`);
      return Number(value);
    },
    /** Comma-separated whole numbers, exactly `count` of them if given. */
    ints(flag: string, value: string, min: number, max: number, count?: number): number[] {
      const xs = list(value);
      if (!xs.length || (count !== undefined && xs.length !== count) || !xs.every((x) => whole(x, min, max)))
        throw refuse(flag, value, `${count ?? 'one or more'} comma-separated whole numbers from ${min} to ${max}`);
      return xs.map(Number);
    },
    name<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
      if (!oneOf(value, allowed)) throw refuse(flag, value, `one of ${allowed.join(', ')}`);
      return value as T;
    },
    /** Comma-separated, each one of `allowed`. */
    names<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
      const xs = list(value);
      if (!xs.length || !xs.every((x) => oneOf(x, allowed))) throw refuse(flag, value, `some of ${allowed.join(', ')}, comma-separated`);
      return xs as T[];
    },
    /** A regular file netlab can read. */
    file(flag: string, value: string, expected: string): string {
      let why: string | null = null;
      try {
        if (!statSync(value).isFile()) why = 'not a file';
        else accessSync(value, constants.R_OK);
      } catch (e) {
        why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
      }
      if (why) throw refuse(flag, value, expected, why);
      return value;
    },
    /** A directory to write into: there already, or to be created (its nearest existing parent is a writable directory). */
    dir(flag: string, value: string): string {
      const expected = 'a directory (created if missing)';
      let p = resolve(value);
      while (!existsSync(p)) p = dirname(p);
      if (!statSync(p).isDirectory()) throw refuse(flag, value, expected, p === resolve(value) ? 'not a directory' : `${p} is not a directory`);
      try {
        accessSync(p, constants.W_OK);
      } catch {
        throw refuse(flag, value, expected, `${p} is not writable`);
      }
      return value;
    },
  };
}

/** Runs checks of the command line; a refusal ends netlab (exit 2) before anything runs. */
function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    fail(e);
  }
}

/** `http://<IPv4 address or host name>[:port]/<path>` → where rps connects; null for anything else. */
function httpTarget(url: string): { host: string; port: number; path: string } | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const ok = u.protocol === 'http:' && !u.username && !u.password && !u.hash && u.port !== '0' && (isIPv4(u.hostname) || isHostName(u.hostname));
  return ok ? { host: u.hostname, port: Number(u.port || 80), path: `${u.pathname}${u.search}` } : null;
}

/** Stacks a bench builds in code from its options: each validated first (a refusal is a usage
 * error), then skipped with the reason where this machine cannot run it. */
/** bench-proxy's modes: iptables and ipvs with the iptables backend that loads their rules. */
const BENCH_PROXY_MODES = ['iptables-nft', 'iptables-legacy', 'nftables', 'ebpf', 'ipvs-nft', 'ipvs-legacy', 'none'] as const;
const benchProxyMode = (m: string) => {
  const [mode, backend] = m.split('-') as [string, string | undefined];
  return backend ? { mode, iptablesBackend: backend } : { mode };
};

async function benchSpecs(verb: string, variants: { label: string; name: string; config: Record<string, unknown> }[]): Promise<{ specs: Spec[]; skipped: string[] }> {
  const built = variants.map((v) =>
    checked(() => {
      try {
        return { label: v.label, spec: specFromStackDoc(v.name, { config: v.config }) };
      } catch (e) {
        throw e instanceof SpecError ? new UsageError(`${verb}: the options give an invalid ${v.label} run: ${e.problems.join('; ')}`) : e;
      }
    }),
  );
  if (process.getuid?.() !== 0) fail(new PreflightError(verb, ['the local target creates network namespaces: run as root']));
  const [features, env] = await Promise.all([probeFeatures(), environment()]);
  const specs: Spec[] = [];
  const skipped: string[] = [];
  for (const { label, spec } of built) {
    const why = missing(spec, features, env.tools, env.kernel);
    if (why.length) skipped.push(`${label}: skipped — ${why.join('; ')}`);
    else specs.push(spec);
  }
  return { specs, skipped };
}

/** bench-client's figures from its run: the floor (ab -c 1 vs the client) and each ceiling point. */
export function benchClientFigures(r: RunResult, dir: string) {
  const floor = r.proxy?.clientFloor ?? null;
  const points = r.points
    .filter((p) => p.tool === 'rps')
    .map((p) => ({
      rate: p.params.rate!,
      held: p.status === 'ok' && !!p.rps?.keptUp,
      achievedRate: p.rps?.achievedRate ?? null,
      p50Ms: p.latencyMs?.p50 ?? null,
      p99Ms: p.latencyMs?.p99 ?? null,
      clientCores: p.rps?.clientCpuCores ?? null,
      serverCores: p.cpu?.serverCores ?? null,
      errors: (p.errors ?? 0) + (p.non2xx ?? 0),
      status: p.status,
      reason: p.reason ?? null,
    }));
  const ceiling = points.filter((p) => p.held).reduce<number | null>((m, p) => (m === null || p.rate > m ? p.rate : m), null);
  return { stack: r.stack, status: r.status, dir, cpus: r.tuning?.placement?.client ?? null, floor, ceilingHeld: ceiling, points };
}

function renderBenchClient(b: ReturnType<typeof benchClientFigures>): string {
  const f = b.floor;
  const lines = [
    f && f.ratio !== null
      ? `floor at ${f.rate} req/s, a new connection per request: ab -c 1 mean ${f.abMeanMs} ms; client p50 ${f.clientP50Ms} ms, mean ${f.clientMeanMs} ms; ratio client p50 ÷ ab mean = ${f.ratio} (${f.ratio <= 1.3 ? 'within' : 'ABOVE'} 1.3)`
      : `floor: not measured${f?.error ? ` (${f.error})` : ''}`,
  ];
  const t = new Table({ head: ['new conn/s', 'held?', 'achieved', 'p50 ms', 'p99 ms', 'client cores', 'nginx cores', 'failed'], style: { head: [], border: [] } });
  for (const p of b.points) t.push([p.rate, p.held ? 'yes' : 'NO', p.achievedRate ?? '-', p.p50Ms ?? '-', p.p99Ms ?? '-', p.clientCores ?? '-', p.serverCores?.toFixed(2) ?? '-', p.errors]);
  lines.push(`client pinned to CPU ${b.cpus ?? '(not pinned)'}:`, t.toString(), `ceiling: ${b.ceilingHeld === null ? 'no rate held' : `${b.ceilingHeld} new connections per second held`}; ${b.dir}/result.json`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<void> {
  // `netlab … | head`: a reader that closes early ends the output, not in a crash.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = new Command('netlab')
    .description('Kubernetes networking experiments: datapaths and proxy modes, measured on network namespaces (local) or EC2 (aws)')
    .showHelpAfterError();

  program
    .command('up')
    .description('validate, build hosts and datapath, start nginx, run the workload, collect results, tear down')
    .argument('<stacks...>', 'stack names (local-hostgw → stacks/Pulumi.local-hostgw.yaml) or paths')
    .option('--keep', 'leave the lab up after the run for inspection (netlab down removes it)')
    .option('--json', 'print the run summary as JSON instead of a table')
    .option('--results <dir>', 'results root', join(PROJECT_DIR, 'results'))
    .action(async (refs: string[], o: { keep?: boolean; json?: boolean; results: string }) => {
      checked(() => flags('up').dir('--results', o.results));
      let specs: Spec[];
      try {
        specs = loadStacks(refs);
      } catch (e) {
        fail(e);
      }
      if (specs.some(isAwsSpec)) {
        if (!specs.every(isAwsSpec)) fail(new UsageError('give either local or aws stacks to one `netlab up`, not both'));
        try {
          const rows = await runSweep(specs, { json: o.json, keep: o.keep, refs });
          process.exitCode = rows.length === specs.length && rows.every((r) => r.status === 'ok' && (r.destroyed || o.keep)) ? 0 : 1;
        } catch (e) {
          fail(e);
        }
        return;
      }
      if (process.getuid?.() !== 0) fail(new PreflightError(refs.join(', '), ['the local target creates network namespaces: run as root']));
      try {
        const outcomes = await runStacks(specs, { keep: o.keep, json: o.json, resultsRoot: o.results });
        process.exitCode = outcomes.length === specs.length && outcomes.every((x) => x.result.status === 'ok') ? 0 : 1;
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('down')
    .description('remove everything a stack created (namespaces, links, processes, state), also after a crash or kill -9')
    .argument('[stacks...]', 'stack names; with --all, every netlab stack on this machine')
    .option('--all', 'every stack with namespaces or state on this machine')
    .action(async (stacks: string[], o: { all?: boolean }) => {
      const bad = stacks.filter((s) => !isStackName(s));
      if (bad.length) fail(new UsageError(`down: ${bad.map((s) => `stack name ${JSON.stringify(s).slice(0, 90)}: ${STACK_NAME_RULE} (down takes stack names, never paths); nothing was changed`).join('\n  ')}`));
      if (o.all && stacks.length) fail(new UsageError('down: name stacks or use --all, not both; nothing was changed'));
      const names = o.all ? await stacksPresent() : stacks;
      const scratch = o.all ? await removeOrphanScratch() : [];
      if (scratch.length) process.stdout.write(`removed ${scratch.length} orphaned scratch namespaces: ${scratch.join(', ')}\n`);
      if (!names.length && !scratch.length) {
        if (!o.all) fail(new SpecError('down', ['name a stack, or use --all']));
        process.stdout.write('nothing of netlab is on this machine\n');
        return;
      }
      // Every stack is tried: one that cannot be removed is reported, and the others still go.
      const failures: unknown[] = [];
      for (const s of names) {
        let r: Awaited<ReturnType<typeof downStack>>;
        try {
          r = await downStack(s);
        } catch (e) {
          failures.push(e);
          continue;
        }
        process.stdout.write(
          `${s}: ${r.stoppedRun ? `stopped run ${r.stoppedRun}; ` : ''}removed ${r.namespaces.length} namespaces and ${r.cgroups.length} cgroups (with any BPF program attached), stopped ${r.processes} processes${r.restored.length ? `, put back ${r.restored.join(', ')}` : ''}${r.markedFailed ? `; marked the unfinished run failed in ${r.markedFailed}` : ''}\n`,
        );
      }
      if (failures.length) fail(failures.length === 1 ? failures[0] : new TeardownError(failures.map((e) => (e as Error).message).join('\n')));
    });

  program
    .command('plan')
    .description('print, per host, the exact commands `up` would run; changes nothing')
    .argument('<stack>')
    .option('--full', 'print generated rule files and maps whole, however long')
    .action((ref: string, o: { full?: boolean }) => {
      try {
        const spec = loadStack(ref);
        if (isAwsSpec(spec)) {
          process.stdout.write(renderAwsPlan(awsPlan(spec)) + (o.full ? renderAwsScripts(spec) : ''));
          return;
        }
        process.stdout.write(renderPlan(buildPlan(spec, { runDir: runDirOf(spec.name), rawDir: `results/${spec.name}/<run-id>/raw`, ...machinePlanOptions() }), { full: !!o.full }));
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('validate')
    .description('check stack files against the spec; print the resolved spec as JSON')
    .argument('<stacks...>')
    .action((refs: string[]) => {
      try {
        // Every stack is checked, and every refused one reported, before anything is printed.
        for (const spec of loadStacks(refs)) process.stdout.write(JSON.stringify(spec, null, 2) + '\n');
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('list')
    .description('the stacks with a one-line description each')
    .action(() => {
      for (const line of stackListing()) process.stdout.write(`${line}\n`);
    });

  program
    .command('doctor')
    .description('kernel features and tools present or missing, and which stacks can run here')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const [features, env] = await Promise.all([probeFeatures(), environment()]);
      const pulumiTools = pulumiToolsOf();
      const aws = awsPrereqs();
      const stacks = listStackNames().map((name) => {
        try {
          const spec = loadStack(name);
          const awsMissing = aws.filter((x) => !x.ok).map((x) => x.name);
          const problems = isAwsSpec(spec) ? (awsMissing.length ? [`aws target: missing ${awsMissing.join(', ')} (see the aws table)`] : []) : missing(spec, features, env.tools, env.kernel);
          return { name, runnable: problems.length === 0, problems };
        } catch (e) {
          return { name, runnable: false, problems: [(e as Error).message] };
        }
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ kernel: env.kernel, root: process.getuid?.() === 0, features, tools: env.tools, pulumi: pulumiTools, aws, stacks }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`kernel ${env.kernel}, ${env.cpus} × ${env.cpuModel}, ${env.os}; running as ${process.getuid?.() === 0 ? 'root' : 'non-root (the local target needs root)'}\n\n`);
      const ft = new Table({ head: ['kernel feature', 'state', 'detail'], style: { head: [], border: [] } });
      for (const f of FEATURES) ft.push([f, features[f].ok ? 'ok' : 'MISSING', features[f].detail]);
      const tt = new Table({ head: ['tool', 'version'], style: { head: [], border: [] } });
      for (const [t, v] of Object.entries(env.tools)) tt.push([t, v === null ? 'MISSING' : v.length > 70 ? `${v.slice(0, 67)}...` : v]);
      // The Pulumi tools (scripts/install-tools.sh): version and where each came from.
      const pt = new Table({ head: ['Pulumi tool', 'version', 'from', 'detail'], style: { head: [], border: [] }, colWidths: [25, 18, 10, 73], wordWrap: true });
      for (const x of pulumiTools) pt.push([x.tool, x.version ?? 'MISSING', x.source, x.detail]);
      const st = new Table({ head: ['stack', 'runs here', 'why not'], style: { head: [], border: [] }, colWidths: [26, 10, 90], wordWrap: true });
      for (const s of stacks) st.push([s.name, s.runnable ? 'yes' : 'no', s.problems.join('\n')]);
      const at = new Table({ head: ['aws target needs', 'state', 'detail'], style: { head: [], border: [] }, colWidths: [20, 9, 97], wordWrap: true });
      for (const x of aws) at.push([x.name, x.ok ? 'ok' : 'MISSING', x.detail]);
      process.stdout.write(`${ft.toString()}\n${tt.toString()}\n${pt.toString()}\n${at.toString()}\n${st.toString()}\n`);
    });

  program
    .command('sweep')
    .description('stacks (aws or local), one after another, through the Pulumi Automation API: up, collect results, always destroy (also on failure or Ctrl-C)')
    .argument('<stacks...>', 'stack names (aws-e2-vxlan → stacks/Pulumi.aws-e2-vxlan.yaml, local-host → stacks/Pulumi.local-host.yaml)')
    .option('--json', 'print the summary as JSON')
    .option('--keep', 'do not destroy (aws hosts still end themselves at their time-to-live; local: netlab down or pulumi destroy)')
    .action(async (refs: string[], o: { json?: boolean; keep?: boolean }) => {
      try {
        const specs = loadStacks(refs);
        const rows = await runSweep(specs, { ...o, refs });
        process.exitCode = rows.length === specs.length && rows.every((r) => r.status === 'ok' && (r.destroyed || o.keep)) ? 0 : 1;
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('bench-pulumi')
    .description('what the Pulumi engine costs: tools install time (warm; cold with --cold), and pulumi up + destroy against netlab up on the same stack, as a ratio')
    .argument('[stack]', 'a local stack (run from a temporary copy, so the shipped file is untouched)', 'local-host')
    .option('--cold', 'also time a cold install: an empty temporary tools cache and Go build cache (builds the CLI again: about 9 minutes)')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, o: { cold?: boolean; json?: boolean }) => {
      let spec: Spec;
      try {
        spec = loadStack(ref);
      } catch (e) {
        fail(e);
      }
      if (isAwsSpec(spec)) fail(new UsageError(`bench-pulumi: ${spec.name} is an aws stack; give a local one`));
      if (process.getuid?.() !== 0) fail(new PreflightError(ref, ['the local target creates network namespaces: run as root']));
      const { signal, dispose } = interruptible();
      try {
        const b = await benchPulumi({ projectDir: PROJECT_DIR, stack: ref, cold: o.cold, signal, log: (l) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`) });
        process.stdout.write(o.json ? JSON.stringify(b, null, 2) + '\n' : renderPulumiBench(b) + '\n');
      } catch (e) {
        process.stderr.write(`netlab: bench-pulumi: ${(e as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        dispose();
      }
    });

  program
    .command('collect')
    .description('aws: copy a run tarball from the client host (or take a local one) and write result.json under results/<stack>/<run-id>/')
    .argument('<stack>')
    .option('--host <ip>', 'client host to copy from (SSH key in NETLAB_SSH_KEY)')
    .option('--user <name>', 'SSH user', 'ec2-user')
    .option('--remote <path>', 'tarball path on the host, as the run step printed it')
    .option('--tarball <file>', 'a tarball already here instead of --host/--remote')
    .option('--results <dir>', 'results root', join(PROJECT_DIR, 'results'))
    .action((ref: string, o: { host?: string; user: string; remote?: string; tarball?: string; results: string }) => {
      try {
        const f = flags('collect');
        f.dir('--results', o.results);
        const spec = loadStack(ref);
        if (!isAwsSpec(spec)) throw new UsageError(`collect is for aws stacks; ${spec.name} is ${spec.target}`);
        let tgz: string;
        if (o.tarball) {
          if (o.host || o.remote) throw new UsageError('collect: give --tarball, or --host and --remote, not both');
          tgz = f.file('--tarball', o.tarball, 'a run tarball (<run-id>.tgz) on this machine');
        } else {
          if (!o.host || !o.remote) throw new UsageError('collect: give --host and --remote (or --tarball)');
          if (!isIPv4(o.host) && !isHostName(o.host)) throw f.refuse('--host', o.host, "the client host's IPv4 address or host name");
          if (!/^[a-z_][a-z0-9_-]{0,31}$/i.test(o.user)) throw f.refuse('--user', o.user, 'a user name (letters, digits, _ and -; not starting with -)');
          if (!RUN_TARBALL.test(o.remote)) throw f.refuse('--remote', o.remote, 'the path the run step printed, /var/lib/netlab/runs/<YYYYMMDDTHHMMSSZ>.tgz');
          const key = process.env.NETLAB_SSH_KEY;
          if (!key) throw new UsageError('collect: NETLAB_SSH_KEY (the private key for the hosts) is not set');
          tgz = fetchTarball({ host: o.host, user: o.user, remote: o.remote, key });
        }
        const dir = collectTarball(tgz, spec, o.results);
        const rep = summarize([JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as RunResult]);
        process.stderr.write(renderTable(rep) + '\n');
        process.stdout.write(`${dir}\n`);
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('bench')
    .description('per datapath: set-up and tear-down time, p50/p99 and req/s of a fixed short load, host = 1.0')
    .option('--datapaths <list>', 'comma-separated datapaths', 'host,hostgw,vxlan,macvlan,ipvlan')
    .option('--seconds <n>', 'wrk duration per point', '5')
    .option('--json', 'machine-readable output')
    .action(async (o: { datapaths: string; seconds: string; json?: boolean }) => {
      const f = flags('bench');
      const { datapaths, seconds } = checked(() => ({ datapaths: f.names('--datapaths', o.datapaths, DATAPATHS), seconds: f.int('--seconds', o.seconds, 1, 600) }));
      const { specs, skipped } = await benchSpecs(
        'bench',
        datapaths.map((dp) => ({
          label: dp,
          name: `bench-${dp}`,
          config: {
            'netlab:description': `netlab bench: ${dp}`,
            'netlab:datapath': dp,
            'netlab:workload': { tool: 'wrk', durationSeconds: seconds, connections: [1, 16], threads: 1 },
          },
        })),
      );
      const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: join(PROJECT_DIR, 'results') });
      const t = new Table({ head: ['datapath', 'set-up s', 'tear-down s', 'set-up+tear-down s'], style: { head: [], border: [] } });
      const bench = outcomes.map(({ result: r }) => ({
        datapath: String(r.spec.datapath),
        setupSeconds: r.setup?.seconds ?? null,
        teardownSeconds: r.teardown?.seconds ?? null,
      }));
      for (const b of bench)
        t.push([b.datapath, b.setupSeconds?.toFixed(3) ?? '-', b.teardownSeconds?.toFixed(3) ?? '-', b.setupSeconds !== null && b.teardownSeconds !== null ? (b.setupSeconds + b.teardownSeconds).toFixed(3) : '-']);
      benchOutput(specs, outcomes, { bench, skipped }, () => t.toString(), skipped, o.json);
    });

  program
    .command('bench-client')
    .description("the load client's floor and ceiling in one run: ab -c 1 and the client on the same path (a new connection per request), their ratio, and the new connections per second the client holds pinned to one CPU")
    .option('--rate <n>', 'requests per second of the floor measurement', '1000')
    .option('--ceiling <list>', 'new-connection rates to try, pinned to one CPU', '10000,20000,30000,40000')
    .option('--seconds <n>', 'length of each ceiling point', '5')
    .option('--datapath <dp>', 'path between client and server', 'host')
    .option('--json', 'machine-readable output')
    .action(async (o: { rate: string; ceiling: string; seconds: string; datapath: string; json?: boolean }) => {
      const f = flags('bench-client');
      const { rate, ceiling, seconds, datapath } = checked(() => ({
        rate: f.int('--rate', o.rate, 1, 100_000),
        ceiling: f.ints('--ceiling', o.ceiling, 1, 100_000),
        seconds: f.int('--seconds', o.seconds, 1, 600),
        datapath: f.name('--datapath', o.datapath, DATAPATHS),
      }));
      const { specs, skipped } = await benchSpecs('bench-client', [
        {
          label: datapath,
          name: 'bench-client',
          config: {
            'netlab:description': `netlab bench-client: ${datapath}`,
            'netlab:datapath': datapath,
            // proxy none: the client calls the server straight, and the run measures the client's
            // floor (ab -c 1, then the client at the first rate) before its points.
            'netlab:proxy': { mode: 'none', services: [1] },
            'netlab:workload': { tool: 'rps', rate: [rate, ...ceiling], durationSeconds: seconds, keepalive: [false], maxConnections: 20_000 },
            // The client on one CPU (taskset), nginx on the others; nothing machine-wide is changed.
            'netlab:tuning': { profile: 'none', pinning: true },
          },
        },
      ]);
      const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: join(PROJECT_DIR, 'results') });
      const bench = outcomes.map(({ result: r, dir }) => benchClientFigures(r, dir));
      benchOutput(specs, outcomes, { bench, skipped }, () => bench.map(renderBenchClient).join('\n'), skipped, o.json);
    });

  program
    .command('bench-proxy')
    .description('E1/E4 in one run: each proxy mode at 1 and 10,000 Services, 1000 req/s, keepalive off and on; prints 10,000 ÷ 1 latency ratios, programming time, rules walked, CPU')
    .option('--modes <list>', `comma-separated: ${BENCH_PROXY_MODES.join(', ')} (iptables and ipvs name their iptables backend)`, 'iptables-nft,iptables-legacy,nftables,ebpf')
    .option('--services <list>', 'the two Service counts to compare', '1,10000')
    .option('--seconds <n>', 'length of each point', '10')
    .option('--repetitions <n>', 'measurements of each point, for the confidence intervals', '5')
    .option('--rate <n>', 'requests per second', '1000')
    .option('--datapath <dp>', 'pod network between the two hosts', 'hostgw')
    .option('--json', 'machine-readable output')
    .action(async (o: { modes: string; services: string; seconds: string; repetitions: string; rate: string; datapath: string; json?: boolean }) => {
      const f = flags('bench-proxy');
      const { modes, counts, seconds, repetitions, rate, datapath } = checked(() => ({
        modes: f.names('--modes', o.modes, BENCH_PROXY_MODES),
        counts: f.ints('--services', o.services, 1, 30_000, 2),
        seconds: f.int('--seconds', o.seconds, 1, 3600),
        repetitions: f.int('--repetitions', o.repetitions, 1, 100),
        rate: f.int('--rate', o.rate, 1, 100_000),
        datapath: f.name('--datapath', o.datapath, DATAPATHS),
      }));
      const { specs, skipped } = await benchSpecs(
        'bench-proxy',
        modes.map((mode) => ({
          label: mode,
          name: `bench-proxy-${mode}`,
          config: {
            'netlab:description': `netlab bench-proxy: ${mode}`,
            'netlab:datapath': datapath,
            'netlab:proxy': { ...benchProxyMode(mode), services: counts, backendsPerService: 10, target: 'last' },
            'netlab:workload': { tool: 'rps', rate, durationSeconds: seconds, keepalive: [false, true], requestsPerConnection: 100 },
            'netlab:repetitions': repetitions,
            'netlab:warmupSeconds': 2,
          },
        })),
      );
      const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: join(PROJECT_DIR, 'results') });
      const rows = proxyRatios(outcomes.map((x) => x.result), counts[0]!, counts[1]!);
      benchOutput(specs, outcomes, { ratios: rows, skipped }, () => renderProxyRatios(rows, counts[0]!, counts[1]!), skipped, o.json);
    });

  program
    .command('bench-proxy-load')
    .description('time loading a Service fleet of each proxy ruleset into a scratch namespace (programming time)')
    .option('--services <list>', 'comma-separated Service counts', '1000,10000')
    .option('--backends <n>', 'backends per Service', '10')
    .option('--modes <list>', `comma-separated: ${LOAD_MODES.join(', ')}`, LOAD_MODES.join(','))
    .option('--timeout <s>', 'give up on one load after this many seconds', '300')
    .option('--noflush', 'iptables modes: load with --noflush as kube-proxy does, instead of replacing the nat table as the lab does')
    .option('--json', 'machine-readable output')
    .action(async (o: { services: string; backends: string; modes: string; timeout: string; noflush?: boolean; json?: boolean }) => {
      const f = flags('bench-proxy-load');
      const { counts, backends, modes, timeout } = checked(() => ({
        counts: f.ints('--services', o.services, 1, 30_000),
        backends: f.int('--backends', o.backends, 1, 100),
        modes: f.names('--modes', o.modes, LOAD_MODES),
        timeout: f.int('--timeout', o.timeout, 1, 3600),
      }));
      if (process.getuid?.() !== 0) fail(new PreflightError('bench-proxy-load', ['it creates a network namespace: run as root']));
      const { signal, dispose } = interruptible();
      const results: LoadResult[] = [];
      try {
        for (const mode of modes)
          for (const services of counts) {
            if (signal.aborted) break;
            if (!o.json) process.stderr.write(`${mode}: ${services} Services × ${backends} backends …\n`);
            results.push(await timeProxyLoad({ mode, services, backendsPerService: backends, timeoutSeconds: timeout, noflush: o.noflush }));
          }
      } finally {
        dispose();
      }
      if (o.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      else {
        const t = new Table({ head: ['mode', 'Services', 'backends each', 'rules loaded', 'seconds', 'status'], style: { head: [], border: [] } });
        for (const r of results) t.push([`${r.mode}${r.noflush ? ' --noflush' : ''}`, r.services, r.backendsPerService, r.rulesLoaded, r.seconds.toFixed(2), r.status + (r.error ? `: ${r.error}` : '')]);
        process.stdout.write(`${t.toString()}\n`);
      }
    });

  program
    .command('rps')
    .description('open-loop HTTP client: a fixed request rate, latency from each intended send time (HDR histogram); JSON on stdout')
    .argument('<url>', 'http://<ipv4 or host name>[:port]/<path> (the lab uses addresses inside its own namespaces)')
    .option('--rate <n>', 'requests per second', '1000')
    .option('--duration <s>', 'seconds', '10')
    .option('--requests-per-connection <n>', '1 = a new connection per request', '1')
    .option('--hosts <n>', 'spread connections over this many consecutive addresses from the URL\'s', '1')
    .option('--max-connections <n>', 'open connections allowed at once', '1000')
    .option('--timeout <ms>', 'per-request time limit', '5000')
    .option('--expect-body <n>', 'count a response whose body has any other size as an error')
    .option('--busy-poll', "keep the client's CPUs out of idle (nice-19 spinners; their CPU is reported apart)")
    .action(async (url: string, o: { rate: string; duration: string; requestsPerConnection: string; hosts: string; maxConnections: string; timeout: string; expectBody?: string; busyPoll?: boolean }) => {
      const f = flags('rps');
      const options = checked(() => {
        const target = httpTarget(url);
        if (!target) throw f.refuse('url', url, 'http://<IPv4 address or host name>[:port]/<path>');
        const hosts = f.int('--hosts', o.hosts, 1, 1 << 20);
        if (hosts > 1 && !isIPv4(target.host)) throw f.refuse('--hosts', o.hosts, '1 with a host name (connections are spread over consecutive IPv4 addresses)');
        return {
          ...target,
          hosts,
          rate: f.int('--rate', o.rate, 1, 100_000),
          durationSeconds: f.int('--duration', o.duration, 1, 3600),
          requestsPerConnection: f.int('--requests-per-connection', o.requestsPerConnection, 1, 1_000_000),
          maxConnections: f.int('--max-connections', o.maxConnections, 1, 20_000),
          timeoutMs: f.int('--timeout', o.timeout, 1, 60_000),
          ...(o.expectBody !== undefined ? { expectBodyBytes: f.int('--expect-body', o.expectBody, 0, 1 << 30) } : {}),
          ...(o.busyPoll ? { busyPoll: true } : {}),
        };
      });
      // The client is compiled (tools/rps): it prints the verdict on stderr and the report on
      // stdout, and exits 1 when not one request succeeded (no such name, nothing listening, …).
      const binary = checked(() => rpsClient());
      const child = spawn(binary, rpsFlags(options), { stdio: ['ignore', 'inherit', 'inherit'] });
      process.exitCode = await new Promise<number>((res) => child.on('close', (code) => res(code ?? 2)).on('error', (e) => fail(e)));
    });

  program
    .command('report')
    .description('charts and tables (HTML + SVG), CSV and JSON from result.json files; bad or foreign files are named and skipped')
    .argument('[paths...]', 'run dirs, result trees, result.json files or stack names (default: every result under --results)')
    .option('--out <dir>', 'where to write the report (default: <results>/report)')
    .option('--results <dir>', 'results root', join(PROJECT_DIR, 'results'))
    .option('--baseline <stack>', 'stack the ratios are against (default: the plain host datapath stack, if any)')
    .action(async (paths: string[], o: { out?: string; results: string; baseline?: string }) => {
      try {
        const f = flags('report');
        // Where the report goes: --out, or report/ under --results.
        if (o.out) f.dir('--out', o.out);
        else f.dir('--results', o.results);
        const { files, missing } = findResults(paths.length ? paths : [o.results], o.results);
        if (missing.length)
          throw new UsageError(`report: ${missing.map((m) => JSON.stringify(m)).join(', ')}: no such file or directory, nor a stack with results under ${o.results}; expected run directories, result trees, result.json files or stack names`);
        const r = await writeReport(files, o.out ?? join(o.results, 'report'), o.baseline ? { baseline: o.baseline } : {});
        for (const s of r.skipped) process.stderr.write(`skipped ${s.file}: ${s.why}\n`);
        process.stdout.write(`${r.runs} run(s), ${r.charts.length} chart(s), ${r.skipped.length} file(s) skipped\nreport: ${r.html}\n`);
        if (!r.runs) process.exitCode = 1;
      } catch (e) {
        fail(e instanceof BaselineError ? new UsageError(`report: ${e.message}`) : e);
      }
    });

  program
    .command('tuning-plan')
    .description("print a host's tuning (IRQ/RPS/XPS/RFS, sysctls, tuned, NOTRACK, pinning) derived from its CPU topology; changes nothing")
    .option('--lscpu <file>', 'saved `lscpu -p` output (default: this machine\'s)')
    .option('--kernel <release>', 'kernel release of that host (default: this machine\'s)')
    .option('--profile <name>', 'tuning profile: study (seed 001) or none', 'study')
    .option('--nic <name>', 'network interface', 'eth0')
    .option('--rx-queues <n>', 'RX queues', '2')
    .option('--tx-queues <n>', 'TX queues', '2')
    .option('--irqs <list>', 'IRQ number of each queue, comma-separated (none: IRQ pinning is skipped)', '')
    .option('--only-nic', 'only the NIC part (IRQ/RPS/XPS/RFS)')
    .action(async (o: { lscpu?: string; kernel?: string; profile: string; nic: string; rxQueues: string; txQueues: string; irqs: string; onlyNic?: boolean }) => {
      try {
        const f = flags('tuning-plan');
        const LSCPU = 'the output of lscpu -p=CPU,CORE,SOCKET,NODE, saved to a file';
        const text = o.lscpu ? readFileSync(f.file('--lscpu', o.lscpu, LSCPU), 'utf8') : (await run(['lscpu', '-p=CPU,CORE,SOCKET,NODE'])).stdout;
        const profile = f.name('--profile', o.profile, ['study', 'none'] as const);
        const kernel = o.kernel ?? release();
        try {
          kernelVersion(kernel);
        } catch {
          throw f.refuse('--kernel', kernel, 'a kernel release such as 5.10.0 or 6.1.0-13-amd64');
        }
        if (!/^(?!\.\.?$)[^\s/:]{1,15}$/.test(o.nic)) throw f.refuse('--nic', o.nic, 'an interface name (1 to 15 characters, no /, : or white space)');
        const rxQueues = f.int('--rx-queues', o.rxQueues, 1, 1024);
        const txQueues = f.int('--tx-queues', o.txQueues, 1, 1024);
        const irqs = o.irqs ? f.ints('--irqs', o.irqs, 1, 1024, rxQueues) : [];
        let topology: Topology;
        try {
          topology = parseLscpuP(text);
        } catch (e) {
          if (!o.lscpu) throw e;
          throw f.refuse('--lscpu', o.lscpu, LSCPU, (e as Error).message);
        }
        const nic = { name: o.nic, rxQueues, txQueues, irqs };
        const tuning = resolveTuning({ profile });
        const steps = o.onlyNic
          ? studyTuning(topology, nic)
          : tuningSteps(tuning, { topology, kernel, nics: [nic], embedded: false, namespaces: [], iptables: 'iptables', traffic: { tcpPorts: [80], udpPorts: [] } });
        process.stdout.write(renderTuning(steps));
        if (tuning.pinning && !o.onlyNic) {
          const p = placement(topology, false);
          process.stdout.write(`# pinning: nginx worker_cpu_affinity ${workerCpuAffinity(p.server, p.server.length)} (${p.server.length} workers); load tool: taskset -c ${formatCpuList(p.client)} with ${p.client.length} threads\n`);
        }
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('schema')
    .description('write the JSON Schema of result.json')
    .addOption(new Option('--out <file>', 'where to write it').default(join(PROJECT_DIR, 'docs', 'result.schema.json')))
    .action((o: { out: string }) => {
      mkdirSync(join(o.out, '..'), { recursive: true });
      writeFileSync(o.out, JSON.stringify(resultJsonSchema(), null, 2) + '\n');
      process.stdout.write(`wrote ${o.out}\n`);
    });

  await program.parseAsync(argv);
}
