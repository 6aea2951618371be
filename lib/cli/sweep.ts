// The verbs of runs through the Pulumi engine and on aws: sweep, collect.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { collectTarball, fetchTarball, RUN_TARBALL } from '../aws/collect.ts';
import { isAwsSpec } from '../aws/plan.ts';
import type { RunResult } from '../results/result.ts';
import { renderTable, summarize } from '../results/summary.ts';
import { loadStack, loadStacks, PROJECT_DIR } from '../spec/stackfile.ts';
import { runSweep, sweepOk } from './runs.ts';
import { flags, isHostName, UsageError } from './usage.ts';

export function sweepCommands(program: Command): void {
  program
    .command('sweep')
    .description('stacks (aws or local), one after another, through the Pulumi Automation API: up, collect results, always destroy (also on failure or Ctrl-C)')
    .argument('<stacks...>', 'stack names (aws-e2-vxlan → stacks/Pulumi.aws-e2-vxlan.yaml, local-host → stacks/Pulumi.local-host.yaml)')
    .option('--json', 'print the summary as JSON')
    .option('--keep', 'do not destroy (aws hosts still end themselves at their time-to-live; local: netlab down or pulumi destroy)')
    .action(async (refs: string[], o: { json?: boolean; keep?: boolean }) => {
      const specs = loadStacks(refs);
      const rows = await runSweep(specs, { ...o, refs });
      process.exitCode = sweepOk(specs, rows, o.keep) ? 0 : 1;
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
    .action(collect);
}

interface CollectOptions {
  host?: string;
  user: string;
  remote?: string;
  tarball?: string;
  results: string;
}

/** collect: the run tarball (given, or copied from the host), unpacked into a result directory; its summary on stderr. */
function collect(ref: string, o: CollectOptions): void {
  flags('collect').dir('--results', o.results);
  const spec = loadStack(ref);
  if (!isAwsSpec(spec)) throw new UsageError(`collect is for aws stacks; ${spec.name} is ${spec.target}`);
  const dir = collectTarball(runTarball(o), spec, o.results);
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
  if (!RUN_TARBALL.test(o.remote)) throw f.refuse('--remote', o.remote, 'the path the run step printed, /var/lib/netlab/runs/<YYYYMMDDTHHMMSSZ>.tgz');
  const key = process.env.NETLAB_SSH_KEY;
  if (!key) throw new UsageError('collect: NETLAB_SSH_KEY (the private key for the hosts) is not set');
  return fetchTarball({ host: o.host, user: o.user, remote: o.remote, key });
}
