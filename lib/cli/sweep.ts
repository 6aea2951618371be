// The verbs of runs through the Pulumi engine and on aws: sweep, collect.
import type { Command } from 'commander';
import { readFileSync, rmSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { dirname, join } from 'node:path';
import { collectTarball, fetchTarball, RUN_TARBALL } from '../aws/collect.ts';
import { isRemoteSpec } from '../remote/plan.ts';
import type { RunResult } from '../results/result.ts';
import { renderTable, summarize } from '../results/summary.ts';
import { loadStack, loadStacks, PROJECT_DIR } from '../spec/stackfile.ts';
import { MAX_PARALLEL } from '../aws/sweep.ts';
import { runSweep, type SweepLimitOptions, sweepOk } from './runs.ts';
import { flags, isHostName, UsageError } from './usage.ts';

export function sweepCommands(program: Command): void {
  program
    .command('sweep')
    .description(
      'stacks (aws or local) through the Pulumi Automation API, one at a time or --parallel under --max-hourly-usd: refresh, up, collect results, always destroy (also on failure or Ctrl-C)',
    )
    .argument('<stacks...>', 'stack names (aws-e2-vxlan → stacks/Pulumi.aws-e2-vxlan.yaml, local-host → stacks/Pulumi.local-host.yaml)')
    .option('--json', 'print the summary as JSON')
    .option('--keep', 'do not destroy (aws hosts still end themselves at their time-to-live; local: netlab down or pulumi destroy)')
    .option('--parallel <n>', `at most this many stacks at once, 1 to ${MAX_PARALLEL} (local stacks still one at a time)`, '1')
    .option('--max-hourly-usd <usd>', 'the USD/hour of the stacks that exist at once, summed, never exceeds this (counted before launch)')
    .action(async (refs: string[], o: { json?: boolean; keep?: boolean; parallel: string; maxHourlyUsd?: string }) => {
      const limits = sweepLimits('sweep', o);
      const specs = loadStacks(refs);
      const rows = await runSweep(specs, { json: o.json, keep: o.keep, refs, ...limits });
      process.exitCode = sweepOk(specs, rows, o.keep) ? 0 : 1;
    });

  program
    .command('collect')
    .description('aws: copy a run tarball from the client host (or take a local one) and write result.json under results/<stack>/<run-id>/')
    .argument('<stack>')
    .option('--host <ip>', 'client host to copy from (SSH key in NETLAB_SSH_KEY)')
    .option('--user <name>', 'SSH user', 'ec2-user')
    .option('--port <n>', 'SSH port', '22')
    .option('--remote <path>', 'tarball path on the host, as the run step printed it')
    .option('--tarball <file>', 'a tarball already here instead of --host/--remote')
    .option('--results <dir>', 'results root', join(PROJECT_DIR, 'results'))
    .action(collect);
}

/**
 * `--parallel` and `--max-hourly-usd` as numbers, refused (exit 2, before any stack is read or
 * anything created) unless a whole number from 1 to MAX_PARALLEL and a positive number of USD.
 */
export function sweepLimits(verb: string, o: { parallel?: string | undefined; maxHourlyUsd?: string | undefined }): SweepLimitOptions {
  const f = flags(verb);
  const parallel = f.int('--parallel', o.parallel ?? '1', 1, MAX_PARALLEL);
  if (o.maxHourlyUsd === undefined) return { parallel };
  const usd = o.maxHourlyUsd;
  if (!/^\d+(\.\d+)?$/.test(usd) || !(Number(usd) > 0) || Number(usd) > 100_000)
    throw f.refuse('--max-hourly-usd', usd, 'a positive number of USD per hour, e.g. 10 or 6.5 (the sum of the stacks running at once stays at or below it)');
  return { parallel, maxHourlyUsd: Number(usd) };
}

interface CollectOptions {
  host?: string;
  user: string;
  port: string;
  remote?: string;
  tarball?: string;
  results: string;
}

/** collect: the run tarball (given, or copied from the host), unpacked into a result directory; its summary on stderr. */
function collect(ref: string, o: CollectOptions): void {
  flags('collect').dir('--results', o.results);
  const spec = loadStack(ref);
  if (!isRemoteSpec(spec)) throw new UsageError(`collect is for aws and ssh stacks; ${spec.name} is ${spec.target}`);
  const tarball = runTarball(o);
  let dir: string;
  try {
    dir = collectTarball(tarball, spec, o.results);
  } finally {
    // A copy fetched over SSH lives in its own 0700 temp folder (fetchTarball): unpacked, it goes.
    if (!o.tarball) rmSync(dirname(tarball), { recursive: true, force: true });
  }
  const rep = summarize([JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as RunResult]);
  process.stderr.write(renderTable(rep) + '\n');
  process.stdout.write(`${dir}\n`);
}

/** The tarball collect reads: --tarball, or a copy from --host's --remote over SSH. */
function runTarball(o: CollectOptions): string {
  const f = flags('collect');
  if (o.tarball) {
    if (o.host || o.remote) throw new UsageError('collect: give --tarball, or --host and --remote, not both');
    return f.file('--tarball', o.tarball, 'a run tarball (<run-id>.tgz) on this machine');
  }
  if (!o.host || !o.remote) throw new UsageError('collect: give --host and --remote (or --tarball)');
  if (!isIPv4(o.host) && !isHostName(o.host)) throw f.refuse('--host', o.host, "the client host's IPv4 address or host name");
  if (!/^[a-z_][a-z0-9_-]{0,31}$/i.test(o.user)) throw f.refuse('--user', o.user, 'a user name (letters, digits, _ and -; not starting with -)');
  if (!/^\d{1,5}$/.test(o.port) || Number(o.port) < 1 || Number(o.port) > 65535) throw f.refuse('--port', o.port, 'a TCP port from 1 to 65535');
  if (!RUN_TARBALL.test(o.remote)) throw f.refuse('--remote', o.remote, 'the path the run step printed, /var/lib/netlab/runs/<YYYYMMDDTHHMMSSZ>.tgz');
  const key = process.env.NETLAB_SSH_KEY;
  if (!key) throw new UsageError('collect: NETLAB_SSH_KEY (the private key for the hosts) is not set');
  return fetchTarball({ host: o.host, user: o.user, port: Number(o.port), remote: o.remote, key });
}
