// The lab verbs: up, down, plan, validate, list.
import type { Command } from 'commander';
import { join } from 'node:path';
import { machinePlanOptions, PreflightError } from '../local/run.ts';
import { buildPlan, renderPlan } from '../local/plan.ts';
import { downStack, removeOrphanScratch, stacksPresent, TeardownError } from '../local/state.ts';
import { isStackName, runDirOf, STACK_NAME_RULE } from '../core/names.ts';
import { loadStack, loadStacks, PROJECT_DIR, stackListing } from '../spec/stackfile.ts';
import { awsPlan, isAwsSpec, renderAwsPlan, renderAwsScripts } from '../aws/plan.ts';
import { isRemoteSpec, isSshSpec, renderSshPlan, renderSshScripts, sshPlan } from '../remote/plan.ts';
import { isVmSpec, renderVmPlan } from '../vm/run.ts';
import { AGENT, GUEST_WIRE_NIC, serveAgent } from '../vm/agent.ts';
import { runStacks, runSweep, sweepOk } from './runs.ts';
import { sweepLimits } from './sweep.ts';
import { flags, UsageError } from './usage.ts';

export function labCommands(program: Command): void {
  program
    .command('up')
    .description('validate, build hosts and datapath, start nginx, run the workload, collect results, tear down')
    .argument('<stacks...>', 'stack names (local-hostgw → stacks/Pulumi.local-hostgw.yaml) or paths')
    .option('--keep', 'leave the lab up after the run for inspection (netlab down removes it)')
    .option('--json', 'print the run summary as JSON instead of a table')
    .option('--results <dir>', 'results root', join(PROJECT_DIR, 'results'))
    .option('--parallel <n>', 'aws stacks: at most this many at once (as netlab sweep)')
    .option('--max-hourly-usd <usd>', 'aws stacks: the USD/hour of the stacks that exist at once never exceeds this (as netlab sweep)')
    .action(up);

  program
    .command('down')
    .description('remove everything a stack created (namespaces, links, processes, state), also after a crash or kill -9')
    .argument('[stacks...]', 'stack names; with --all, every netlab stack on this machine')
    .option('--all', 'every stack with namespaces or state on this machine')
    .action(down);

  program
    .command('plan')
    .description('print, per host, the exact commands `up` would run; changes nothing')
    .argument('<stack>')
    .option('--full', 'print generated rule files and maps whole, however long')
    .action(plan);

  program
    .command('validate')
    .description('check stack files against the spec; print the resolved spec as JSON')
    .argument('<stacks...>')
    .action((refs: string[]) => {
      // Every stack is checked, and every refused one reported, before anything is printed.
      for (const spec of loadStacks(refs)) process.stdout.write(JSON.stringify(spec, null, 2) + '\n');
    });

  program
    .command('agent', { hidden: true })
    .description("inside the server VM of a two-VM run (netlab:vm.hosts: 2) only: carry out the client VM's requests (lib/vm/agent.ts)")
    .action(async () => {
      if (!process.env.NETLAB_VM_GUEST) throw new UsageError('netlab agent runs only inside the server VM of a vm stack (lib/vm/guest-init.sh starts it)');
      await serveAgent(AGENT.serverIp, AGENT.port);
      process.stdout.write(`netlab-vm-agent: listening on ${AGENT.serverIp}:${AGENT.port}\n`);
      await new Promise(() => {});
    });

  program
    .command('list')
    .description('the stacks with a one-line description each')
    .action(() => {
      for (const line of stackListing()) process.stdout.write(`${line}\n`);
    });
}

/** up: local stacks one after another, or aws stacks through the engine (not both at once). */
async function up(refs: string[], o: { keep?: boolean; json?: boolean; results: string; parallel?: string; maxHourlyUsd?: string }): Promise<void> {
  flags('up').dir('--results', o.results);
  const limits = sweepLimits('up', o);
  const specs = loadStacks(refs);
  if (specs.some(isRemoteSpec)) {
    if (!specs.every(isRemoteSpec)) throw new UsageError('give either local stacks or remote (aws, ssh) stacks to one `netlab up`, not both');
    const rows = await runSweep(specs, { json: o.json, keep: o.keep, refs, ...limits });
    process.exitCode = sweepOk(specs, rows, o.keep) ? 0 : 1;
    return;
  }
  if (o.parallel !== undefined || o.maxHourlyUsd !== undefined)
    throw new UsageError(
      'up: --parallel and --max-hourly-usd are for aws stacks (through the Pulumi engine); local stacks run one after another on this machine',
    );
  if (process.getuid?.() !== 0) throw new PreflightError(refs.join(', '), ['the local target creates network namespaces: run as root']);
  const outcomes = await runStacks(specs, { keep: o.keep, json: o.json, resultsRoot: o.results });
  process.exitCode = outcomes.length === specs.length && outcomes.every((x) => x.result.status === 'ok') ? 0 : 1;
}

/** down: every named stack (or, with --all, every one here) is tried; one that cannot be removed is reported, and the others still go. */
async function down(stacks: string[], o: { all?: boolean }): Promise<void> {
  const bad = stacks.filter((s) => !isStackName(s));
  if (bad.length)
    throw new UsageError(
      `down: ${bad.map((s) => `stack name ${JSON.stringify(s).slice(0, 90)}: ${STACK_NAME_RULE} (down takes stack names, never paths); nothing was changed`).join('\n  ')}`,
    );
  if (o.all && stacks.length) throw new UsageError('down: name stacks or use --all, not both; nothing was changed');
  if (!o.all && !stacks.length) throw new UsageError('down: name a stack, or use --all; nothing was changed');
  const names = o.all ? await stacksPresent() : stacks;
  const scratch = o.all ? await removeOrphanScratch() : [];
  if (scratch.length) process.stdout.write(`removed ${scratch.length} orphaned scratch namespaces: ${scratch.join(', ')}\n`);
  if (!names.length && !scratch.length) {
    process.stdout.write('nothing of netlab is on this machine\n');
    return;
  }
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
  if (failures.length) throw failures.length === 1 ? failures[0] : new TeardownError(failures.map((e) => (e as Error).message).join('\n'));
}

/** plan: the commands `up` would run, per host (aws: the plan and, with --full, its scripts). */
function plan(ref: string, o: { full?: boolean }): void {
  const spec = loadStack(ref);
  if (isAwsSpec(spec)) {
    process.stdout.write(renderAwsPlan(awsPlan(spec)) + (o.full ? renderAwsScripts(spec) : ''));
    return;
  }
  if (isSshSpec(spec)) {
    process.stdout.write(renderSshPlan(sshPlan(spec)) + (o.full ? renderSshScripts(spec) : ''));
    return;
  }
  process.stdout.write(
    (isVmSpec(spec) ? renderVmPlan(spec) : '') +
      renderPlan(
        buildPlan(spec, {
          runDir: runDirOf(spec.name),
          rawDir: `results/${spec.name}/<run-id>/raw`,
          ...machinePlanOptions(),
          // Two VMs: each host's NIC on the wire becomes its eth0.
          ...(isVmSpec(spec) && spec.vm.hosts === 2 ? { wire: { nic: GUEST_WIRE_NIC } } : {}),
        }),
        { full: !!o.full },
      ),
  );
}
