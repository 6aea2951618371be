// After a run or `netlab down`: nothing of the stack may remain on the machine.
import type { ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupRoot, listNamespaces } from '../../lib/local/state.ts';
import { sh } from './root-namespace.ts';
import { cgroupBase, stateDir } from '../../lib/core/names.ts';

const bpfPrograms = () => sh('bpftool prog show 2>/dev/null | grep -c netlab_connect || true').trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Loaded netlab BPF programs, after giving the kernel's deferred release up to 5 s. */
export async function bpfProgramsLeft(): Promise<string> {
  for (let i = 0; i < 50 && bpfPrograms() !== '0'; i++) await sleep(100);
  return bpfPrograms();
}

/** Processes whose command line (`[n]etlab` keeps pgrep from matching its own shell) names the stack's run dir (nginx, wrk's script). */
export const processesOf = (stack: string) => sh(`pgrep -af '[n]etlab/${stack}/' || true`).trim();

export async function assertNothingLeft(t: ExecutionContext, stack: string): Promise<void> {
  t.deepEqual(await listNamespaces(`netlab.${stack}.`), [], 'namespaces left behind');
  t.is(processesOf(stack), '', 'processes left behind');
  t.false(existsSync(cgroupBase(cgroupRoot()!, stack)), 'cgroup left behind');
  t.false(existsSync(join(stateDir(), stack)), 'run dir left behind');
  t.false(existsSync(join(stateDir(), `${stack}.state.json`)), 'state file left behind');
  t.false(existsSync(join(stateDir(), `${stack}.lock`)), 'lock left behind');
  t.false(existsSync(join(stateDir(), `${stack}.tuning.json`)), 'machine-wide tuning not put back');
  t.is(await bpfProgramsLeft(), '0', 'BPF program left loaded');
}
