// The `netlab` command: the program, its verbs (one file per group) and the top-level error
// handling. A refusal netlab knows (a bad flag, a bad stack file, a missing prerequisite, a failed
// teardown, …) ends it with exit 2 and one `netlab: <message>` line; anything else with its stack.
import { Command, CommanderError } from 'commander';
import { PreflightError } from '../local/run.ts';
import { LockError, TeardownError } from '../local/state.ts';
import { PrereqError } from '../aws/sweep.ts';
import { RpsClientMissing } from '../workload/rps.ts';
import { SpecError } from '../spec/errors.ts';
import { WriteError } from '../core/files.ts';
import { StackNameError } from '../core/names.ts';
import { UsageError } from './usage.ts';
import { labCommands } from './lab.ts';
import { sweepCommands } from './sweep.ts';
import { janitorCommand } from './janitor.ts';
import { benchCommands } from './bench.ts';
import { benchKubeProxyCommand } from './bench-kube-proxy.ts';
import { toolCommands } from './tools.ts';
import { reportCommands } from './report.ts';

export { UsageError } from './usage.ts';
export { renderSweepTable } from './output.ts';
export { runStacks, type RunManyOptions } from './runs.ts';
export { benchClientFigures } from './bench.ts';

/** The errors whose message is the whole story: printed without a stack trace. */
const KNOWN = [SpecError, PreflightError, LockError, PrereqError, UsageError, StackNameError, WriteError, TeardownError, RpsClientMissing];

/** Ends netlab on an error: exit 2, `netlab: <message>` (a known refusal) or its stack (a bug). */
function fail(e: unknown): never {
  const known = KNOWN.some((k) => e instanceof k);
  process.stderr.write(`netlab: ${known ? (e as Error).message : ((e as Error).stack ?? String(e))}\n`);
  process.exit(2);
}

/** The program: every verb, each defined in its group's file. */
export function netlabProgram(): Command {
  const program = new Command('netlab')
    .description('Kubernetes networking experiments: datapaths and proxy modes, measured on network namespaces (local) or EC2 (aws)')
    // Commander's own refusals (an unknown flag or verb, a missing argument) end as every other
    // usage error does: one line, exit 2 (see main).
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  labCommands(program);
  sweepCommands(program);
  janitorCommand(program);
  benchCommands(program);
  benchKubeProxyCommand(program);
  toolCommands(program);
  reportCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `netlab … | head`: a reader that closes early ends the output, not in a crash.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  try {
    await netlabProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) process.exit(0); // --help, --version
      process.stderr.write(`netlab: ${e.message.replace(/^error: /, '')} (netlab --help lists the verbs, netlab <verb> --help their flags)\n`);
      process.exit(2);
    }
    fail(e);
  }
}
