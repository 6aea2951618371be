// The `netlab` command.
import { Command, Option } from 'commander';
import ora, { type Ora } from 'ora';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { run } from './exec.ts';
import { kernelVersion, placement, renderTuning, studyTuning, tuningSteps, workerCpuAffinity } from './tuning/plan.ts';
import { resolveTuning } from './tuning/profile.ts';
import { findResults, writeReport } from './report/write.ts';
import { release } from 'node:os';
import { formatCpuList, parseLscpuP } from './tuning/topology.ts';
import { join } from 'node:path';
import Table from 'cli-table3';
import { FEATURES, missing, probeFeatures } from './features.ts';
import { environment, machinePlanOptions, PreflightError, upLocal, type Progress, type UpOutcome } from './local.ts';
import { buildPlan, renderPlan } from './plan.ts';
import { LOAD_MODES, timeProxyLoad, type LoadMode, type LoadResult } from './proxy/load.ts';
import { resultJsonSchema, type RunResult } from './result.ts';
import { runRps } from './rps.ts';
import { SpecError, specFromStackDoc, type Spec } from './spec.ts';
import { listStackNames, loadStack, PROJECT_DIR } from './stackfile.ts';
import { isStackName, STACK_NAME_RULE, StackNameError } from './names.ts';
import { downStack, LockError, removeOrphanScratch, runDirOf, stacksPresent } from './state.ts';
import { proxyRatios, renderProxyRatios, renderTable, summarize } from './summary.ts';
import { awsPlan, isAwsSpec, renderAwsPlan } from './aws/plan.ts';
import { awsPrereqs, checkSweep, PrereqError, sweep, type SweepRow } from './aws/sweep.ts';
import { collectTarball, fetchTarball } from './aws/collect.ts';

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

/** Ctrl-C / SIGTERM: abort the run; its own finally-blocks tear everything down. */
function interruptible(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onSig = (sig: NodeJS.Signals) => {
    if (!ac.signal.aborted) {
      process.stderr.write(`\n${sig}: stopping the run and tearing down (this takes a few seconds)…\n`);
      ac.abort();
    }
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  process.on('SIGHUP', onSig);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
      process.off('SIGHUP', onSig);
    },
  };
}

function fail(e: unknown): never {
  const known = e instanceof SpecError || e instanceof PreflightError || e instanceof LockError || e instanceof PrereqError || e instanceof UsageError || e instanceof StackNameError;
  process.stderr.write(`netlab: ${known ? (e as Error).message : ((e as Error).stack ?? String(e))}\n`);
  process.exit(2);
}

/** A clear refusal of the command line itself (not of a stack file). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** aws stacks: through the Automation API, up then always destroy; prints progress and a summary table. */
async function runSweep(specs: Spec[], o: { json?: boolean; keep?: boolean }): Promise<SweepRow[]> {
  try {
    checkSweep(specs);
  } catch (e) {
    if (e instanceof PrereqError) throw e;
    throw new UsageError((e as Error).message);
  }
  const { signal, dispose } = interruptible();
  try {
    const rows = await sweep(specs, { projectDir: PROJECT_DIR, signal, keep: o.keep, log: (stack, line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${stack}: ${line}\n`) });
    if (o.json) process.stdout.write(JSON.stringify({ runs: rows }, null, 2) + '\n');
    else {
      const t = new Table({ head: ['stack', 'status', 'minutes', 'USD/hour', 'est. USD', 'destroyed', 'results / error'], style: { head: [], border: [] } });
      for (const r of rows) t.push([r.stack, r.status, r.minutes.toFixed(1), r.usdPerHour.toFixed(2), ((r.minutes / 60) * r.usdPerHour).toFixed(2), r.destroyed ? 'yes' : 'NO', r.resultDir ?? r.error ?? '']);
      process.stdout.write(t.toString() + '\n');
    }
    return rows;
  } finally {
    dispose();
  }
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
function benchOutput(outcomes: UpOutcome[], json: object, table: () => string, skipped: string[], asJson?: boolean): void {
  if (asJson) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  else process.stdout.write(`\n${table()}\n${skipped.map((s) => `${s}\n`).join('')}`);
  process.exitCode = outcomes.every((x) => x.result.status === 'ok') ? 0 : 1;
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

/** Stacks a bench builds in code: each validated (bad options fail like a bad stack file), and
 * skipped with the reason where this machine cannot run it. */
async function benchSpecs(verb: string, variants: { label: string; name: string; config: Record<string, unknown> }[]): Promise<{ specs: Spec[]; skipped: string[] }> {
  if (process.getuid?.() !== 0) fail(new PreflightError(verb, ['the local target creates network namespaces: run as root']));
  const [features, env] = await Promise.all([probeFeatures(), environment()]);
  const specs: Spec[] = [];
  const skipped: string[] = [];
  try {
    for (const v of variants) {
      const spec = specFromStackDoc(v.name, { config: v.config });
      const why = missing(spec, features, env.tools, env.kernel);
      if (why.length) skipped.push(`${v.label}: skipped — ${why.join('; ')}`);
      else specs.push(spec);
    }
  } catch (e) {
    fail(e);
  }
  return { specs, skipped };
}

export async function main(argv: string[]): Promise<void> {
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
      let specs: Spec[];
      try {
        specs = refs.map((r) => loadStack(r));
      } catch (e) {
        fail(e);
      }
      if (specs.some(isAwsSpec)) {
        if (!specs.every(isAwsSpec)) fail(new UsageError('give either local or aws stacks to one `netlab up`, not both'));
        try {
          const rows = await runSweep(specs, { json: o.json, keep: o.keep });
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
      for (const s of names) {
        const r = await downStack(s);
        process.stdout.write(`${s}: ${r.stoppedRun ? `stopped run ${r.stoppedRun}; ` : ''}removed ${r.namespaces.length} namespaces and ${r.cgroups.length} cgroups (with any BPF program attached), stopped ${r.processes} processes${r.restored.length ? `, put back ${r.restored.join(', ')}` : ''}\n`);
      }
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
          process.stdout.write(renderAwsPlan(awsPlan(spec)));
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
        for (const r of refs) process.stdout.write(JSON.stringify(loadStack(r), null, 2) + '\n');
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('list')
    .description('the stacks with a one-line description each')
    .action(() => {
      for (const name of listStackNames()) {
        let desc: string;
        try {
          const s = loadStack(name);
          desc = `${s.target.padEnd(5)} ${s.datapath.padEnd(13)} ${s.description}`;
        } catch (e) {
          desc = `INVALID: ${(e as SpecError).problems?.[0] ?? (e as Error).message}`;
        }
        process.stdout.write(`${name.padEnd(28)} ${desc}\n`);
      }
    });

  program
    .command('doctor')
    .description('kernel features and tools present or missing, and which stacks can run here')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const [features, env] = await Promise.all([probeFeatures(), environment()]);
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
        process.stdout.write(JSON.stringify({ kernel: env.kernel, root: process.getuid?.() === 0, features, tools: env.tools, aws, stacks }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`kernel ${env.kernel}, ${env.cpus} × ${env.cpuModel}, ${env.os}; running as ${process.getuid?.() === 0 ? 'root' : 'non-root (the local target needs root)'}\n\n`);
      const ft = new Table({ head: ['kernel feature', 'state', 'detail'], style: { head: [], border: [] } });
      for (const f of FEATURES) ft.push([f, features[f].ok ? 'ok' : 'MISSING', features[f].detail]);
      const tt = new Table({ head: ['tool', 'version'], style: { head: [], border: [] } });
      for (const [t, v] of Object.entries(env.tools)) tt.push([t, v === null ? 'MISSING' : v.length > 70 ? `${v.slice(0, 67)}...` : v]);
      const st = new Table({ head: ['stack', 'runs here', 'why not'], style: { head: [], border: [] }, colWidths: [26, 10, 90], wordWrap: true });
      for (const s of stacks) st.push([s.name, s.runnable ? 'yes' : 'no', s.problems.join('\n')]);
      const at = new Table({ head: ['aws target needs', 'state', 'detail'], style: { head: [], border: [] }, colWidths: [20, 9, 97], wordWrap: true });
      for (const x of aws) at.push([x.name, x.ok ? 'ok' : 'MISSING', x.detail]);
      process.stdout.write(`${ft.toString()}\n${tt.toString()}\n${at.toString()}\n${st.toString()}\n`);
    });

  program
    .command('sweep')
    .description('aws stacks, one after another, through the Pulumi Automation API: up, collect results, always destroy (also on failure or Ctrl-C)')
    .argument('<stacks...>', 'aws stack names (aws-e2-vxlan → stacks/Pulumi.aws-e2-vxlan.yaml)')
    .option('--json', 'print the summary as JSON')
    .option('--keep', 'do not destroy (the hosts still end themselves at their time-to-live)')
    .action(async (refs: string[], o: { json?: boolean; keep?: boolean }) => {
      try {
        const specs = refs.map((r) => loadStack(r));
        const rows = await runSweep(specs, o);
        process.exitCode = rows.length === specs.length && rows.every((r) => r.status === 'ok' && (r.destroyed || o.keep)) ? 0 : 1;
      } catch (e) {
        fail(e);
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
        const spec = loadStack(ref);
        if (!isAwsSpec(spec)) throw new UsageError(`collect is for aws stacks; ${spec.name} is ${spec.target}`);
        let tgz = o.tarball;
        if (!tgz) {
          if (!o.host || !o.remote) throw new UsageError('give --host and --remote (or --tarball)');
          const key = process.env.NETLAB_SSH_KEY;
          if (!key) throw new UsageError('NETLAB_SSH_KEY (the private key for the hosts) is not set');
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
      const { specs, skipped } = await benchSpecs(
        'bench',
        list(o.datapaths).map((dp) => ({
          label: dp,
          name: `bench-${dp}`,
          config: {
            'netlab:description': `netlab bench: ${dp}`,
            'netlab:datapath': dp,
            'netlab:workload': { tool: 'wrk', durationSeconds: Number(o.seconds), connections: [1, 16], threads: 1 },
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
      benchOutput(outcomes, { bench, skipped }, () => t.toString(), skipped, o.json);
    });

  program
    .command('bench-proxy')
    .description('E1/E4 in one run: each proxy mode at 1 and 10,000 Services, 1000 req/s, keepalive off and on; prints 10,000 ÷ 1 latency ratios, programming time, rules walked, CPU')
    .option('--modes <list>', 'comma-separated proxy modes', 'iptables,nftables,ebpf')
    .option('--services <list>', 'the two Service counts to compare', '1,10000')
    .option('--seconds <n>', 'length of each point', '20')
    .option('--rate <n>', 'requests per second', '1000')
    .option('--datapath <dp>', 'pod network between the two hosts', 'hostgw')
    .option('--json', 'machine-readable output')
    .action(async (o: { modes: string; services: string; seconds: string; rate: string; datapath: string; json?: boolean }) => {
      const counts = o.services.split(',').map(Number);
      if (counts.length !== 2) fail(new SpecError('--services', [`${o.services}: expected two counts, e.g. 1,10000`]));
      const { specs, skipped } = await benchSpecs(
        'bench-proxy',
        list(o.modes).map((mode) => ({
          label: mode,
          name: `bench-proxy-${mode}`,
          config: {
            'netlab:description': `netlab bench-proxy: ${mode}`,
            'netlab:datapath': o.datapath,
            'netlab:proxy': { mode, services: counts, backendsPerService: 10, target: 'last' },
            'netlab:workload': { tool: 'rps', rate: Number(o.rate), durationSeconds: Number(o.seconds), keepalive: [false, true], requestsPerConnection: 100 },
            'netlab:warmupSeconds': 2,
          },
        })),
      );
      const outcomes = await runStacks(specs, { json: o.json, quiet: !!o.json, resultsRoot: join(PROJECT_DIR, 'results') });
      const rows = proxyRatios(outcomes.map((x) => x.result), counts[0]!, counts[1]!);
      benchOutput(outcomes, { ratios: rows, skipped }, () => renderProxyRatios(rows, counts[0]!, counts[1]!), skipped, o.json);
    });

  program
    .command('bench-proxy-load')
    .description('time loading a Service fleet of each proxy ruleset into a scratch namespace (programming time)')
    .option('--services <list>', 'comma-separated Service counts', '1000,10000')
    .option('--backends <n>', 'backends per Service', '10')
    .option('--modes <list>', `comma-separated: ${LOAD_MODES.join(', ')}`, LOAD_MODES.join(','))
    .option('--timeout <s>', 'give up on one load after this many seconds', '300')
    .option('--json', 'machine-readable output')
    .action(async (o: { services: string; backends: string; modes: string; timeout: string; json?: boolean }) => {
      if (process.getuid?.() !== 0) fail(new PreflightError('bench-proxy-load', ['it creates a network namespace: run as root']));
      const modes = o.modes.split(',').map((m) => m.trim());
      const bad = modes.filter((m) => !(LOAD_MODES as readonly string[]).includes(m));
      if (bad.length) fail(new SpecError('--modes', [`${bad.join(', ')}: expected some of ${LOAD_MODES.join(', ')}`]));
      const counts = o.services.split(',').map(Number);
      if (counts.some((c) => !Number.isInteger(c) || c < 1 || c > 30_000)) fail(new SpecError('--services', [`${o.services}: expected whole numbers from 1 to 30000`]));
      const { signal, dispose } = interruptible();
      const results: LoadResult[] = [];
      try {
        for (const mode of modes as LoadMode[])
          for (const services of counts) {
            if (signal.aborted) break;
            if (!o.json) process.stderr.write(`${mode}: ${services} Services × ${o.backends} backends …\n`);
            results.push(await timeProxyLoad({ mode, services, backendsPerService: Number(o.backends), timeoutSeconds: Number(o.timeout) }));
          }
      } finally {
        dispose();
      }
      if (o.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      else {
        const t = new Table({ head: ['mode', 'Services', 'backends each', 'rules loaded', 'seconds', 'status'], style: { head: [], border: [] } });
        for (const r of results) t.push([r.mode, r.services, r.backendsPerService, r.rulesLoaded, r.seconds.toFixed(2), r.status + (r.error ? `: ${r.error}` : '')]);
        process.stdout.write(`${t.toString()}\n`);
      }
    });

  program
    .command('rps')
    .description('open-loop HTTP client: a fixed request rate, latency from each intended send time (HDR histogram); JSON on stdout')
    .argument('<url>', 'http://<ipv4>[:port]/<path> (the lab uses addresses inside its own namespaces)')
    .option('--rate <n>', 'requests per second', '1000')
    .option('--duration <s>', 'seconds', '10')
    .option('--requests-per-connection <n>', '1 = a new connection per request', '1')
    .option('--hosts <n>', 'spread connections over this many consecutive addresses from the URL\'s', '1')
    .option('--max-connections <n>', 'open connections allowed at once', '1000')
    .option('--timeout <ms>', 'per-request time limit', '5000')
    .option('--expect-body <n>', 'count a response whose body has any other size as an error')
    .action(async (url: string, o: Record<string, string | undefined>) => {
      const m = /^http:\/\/(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?(\/\S*)?$/.exec(url);
      const num = (key: string, min: number, max: number): number => {
        const v = Number(o[key]);
        if (!Number.isInteger(v) || v < min || v > max) fail(new SpecError('rps', [`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} = ${o[key]}: expected a whole number from ${min} to ${max}`]));
        return v;
      };
      if (!m) fail(new SpecError('rps', [`url = ${url}: expected http://<ipv4>[:port]/<path>`]));
      const report = await runRps({
        host: m[1]!,
        port: m[2] ? Number(m[2]) : 80,
        path: m[3] ?? '/',
        rate: num('rate', 1, 100_000),
        durationSeconds: num('duration', 1, 3600),
        requestsPerConnection: num('requestsPerConnection', 1, 1_000_000),
        hosts: num('hosts', 1, 1 << 20),
        maxConnections: num('maxConnections', 1, 20_000),
        timeoutMs: num('timeout', 1, 60_000),
        ...(o.expectBody !== undefined ? { expectBodyBytes: num('expectBody', 0, 1 << 30) } : {}),
      });
      process.stderr.write(`rps: ${report.verdict}; p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms, mean ${report.latencyMs.mean} ms; client CPU ${report.cpu.cores} cores\n`);
      process.stdout.write(JSON.stringify(report) + '\n');
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
        const { files, missing } = findResults(paths.length ? paths : [o.results], o.results);
        if (missing.length) throw new SpecError('report', missing.map((m) => `${m}: no such file, directory or stack under ${o.results}`));
        const r = await writeReport(files, o.out ?? join(o.results, 'report'), o.baseline ? { baseline: o.baseline } : {});
        for (const s of r.skipped) process.stderr.write(`skipped ${s.file}: ${s.why}\n`);
        process.stdout.write(`${r.runs} run(s), ${r.charts.length} chart(s), ${r.skipped.length} file(s) skipped\nreport: ${r.html}\n`);
        if (!r.runs) process.exitCode = 1;
      } catch (e) {
        fail(e);
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
        const text = o.lscpu ? readFileSync(o.lscpu, 'utf8') : (await run(['lscpu', '-p=CPU,CORE,SOCKET,NODE'])).stdout;
        const count = (key: string, v: string) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1 || n > 1024) throw new SpecError('tuning-plan', [`--${key} = ${v}: expected a whole number from 1 to 1024`]);
          return n;
        };
        if (o.profile !== 'study' && o.profile !== 'none') throw new SpecError('tuning-plan', [`--profile = ${o.profile}: expected one of: study, none`]);
        const kernel = o.kernel ?? release();
        try {
          kernelVersion(kernel);
        } catch {
          throw new SpecError('tuning-plan', [`--kernel = ${kernel}: expected a kernel release such as 5.10.0 or 6.1.0-13-amd64`]);
        }
        const irqs = o.irqs ? o.irqs.split(',').map((x) => count('irqs', x.trim())) : [];
        const topology = parseLscpuP(text);
        const nic = { name: o.nic, rxQueues: count('rx-queues', o.rxQueues), txQueues: count('tx-queues', o.txQueues), irqs };
        const tuning = resolveTuning({ profile: o.profile });
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
