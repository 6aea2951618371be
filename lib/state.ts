// What a run created, kept on disk so `netlab down` can undo it after a crash or kill -9, and a
// per-stack lock so two runs of one stack never collide. Lives in /run/netlab (tmpfs: a reboot
// clears it together with the namespaces it describes); NETLAB_STATE_DIR overrides.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkStackName, inside, isStackName } from './names.ts';
import { run } from './exec.ts';
import { cgroupBase, KILL_GRACE_MS, nsPrefix, PREFIX } from './plan.ts';
import { restoreTuning } from './tuning/apply.ts';

export const stateDir = () => process.env.NETLAB_STATE_DIR ?? '/run/netlab';
/** A stack's file in the state folder; only a valid stack name gets a path, and never one outside it. */
export const stateFile = (stack: string, suffix: string) => inside(stateDir(), `${checkStackName(stack)}${suffix}`);
export const runDirOf = (stack: string) => stateFile(stack, '');
const lockPath = (stack: string) => stateFile(stack, '.lock');
const statePath = (stack: string) => stateFile(stack, '.state.json');

export interface RunState {
  stack: string;
  pid: number;
  runId: string;
  startedAt: string;
  runDir: string;
  namespaces: string[];
  /** cgroup trees (removing one also frees the BPF programs attached in it). */
  cgroups?: string[];
  kept: boolean;
}

export class LockError extends Error {
  override name = 'LockError';
}

/** A process exists and is not a zombie (an exited child nobody reaped yet counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Holder pid of a stack's lock if that process is alive, else null. */
export function lockHolder(stack: string): number | null {
  try {
    const pid = Number(readFileSync(lockPath(stack), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** Take the stack's lock; a lock whose holder is dead is stale and taken over. */
export function acquireLock(stack: string): () => void {
  mkdirSync(stateDir(), { recursive: true });
  const path = lockPath(stack);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = lockHolder(stack);
      if (holder !== null) throw new LockError(`stack ${stack} is already being run by process ${holder} (lock ${path}); wait for it, or stop it with: netlab down ${stack}`);
      rmSync(path, { force: true });
    }
  }
  throw new LockError(`could not take the lock ${path}`);
}

export function writeState(s: RunState): void {
  mkdirSync(stateDir(), { recursive: true });
  writeFileSync(statePath(s.stack), JSON.stringify(s, null, 2));
}

export function readState(stack: string): RunState | null {
  try {
    return JSON.parse(readFileSync(statePath(stack), 'utf8')) as RunState;
  } catch {
    return null;
  }
}

export function clearState(stack: string): void {
  rmSync(statePath(stack), { force: true });
  rmSync(runDirOf(stack), { recursive: true, force: true });
}

/** Network namespaces whose names start with `prefix`. */
export async function listNamespaces(prefix = `${PREFIX}.`): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'], { check: false });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!.trim())
    .filter((n) => n.startsWith(prefix));
}

/** Stacks that have namespaces or state on this machine. */
export async function stacksPresent(): Promise<string[]> {
  const names = new Set<string>();
  for (const ns of await listNamespaces()) {
    const stack = ns.split('.')[1];
    if (stack && isStackName(stack)) names.add(stack);
  }
  const root = cgroupRoot();
  if (root)
    for (const d of readdirSync(root)) if (d.startsWith(`${PREFIX}.`) && isStackName(d.slice(PREFIX.length + 1))) names.add(d.slice(PREFIX.length + 1));
  if (existsSync(stateDir()))
    for (const f of readdirSync(stateDir())) {
      const m = /^(.+)\.(state\.json|lock|tuning\.json)$/.exec(f);
      // Only names a stack could have: a file called `...lock` must never become `..`.
      if (m && isStackName(m[1]!)) names.add(m[1]!);
    }
  return [...names].sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stop every process in the given namespaces (TERM, then KILL after `graceMs`) and delete them,
 * deepest first. Idempotent: missing namespaces are fine. Returns what was removed.
 */
export async function removeNamespaces(namespaces: string[], graceMs = KILL_GRACE_MS): Promise<{ namespaces: string[]; processes: number }> {
  const present = new Set(await listNamespaces(''));
  const todo = [...new Set(namespaces)].filter((n) => present.has(n)).sort((a, b) => b.split('.').length - a.split('.').length || b.localeCompare(a));
  const pidsOf = async (ns: string) =>
    (await run(['ip', 'netns', 'pids', ns], { check: false })).stdout.split('\n').map(Number).filter((p) => p > 0);
  const pids = (await Promise.all(todo.map(pidsOf))).flat();
  const signal = (sig: NodeJS.Signals) => {
    for (const p of pids)
      try {
        process.kill(p, sig);
      } catch {
        /* gone */
      }
  };
  if (pids.length) {
    signal('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (pids.some(alive) && Date.now() < deadline) await sleep(20);
    if (pids.some(alive)) {
      signal('SIGKILL');
      const hard = Date.now() + 2000;
      while (pids.some(alive) && Date.now() < hard) await sleep(20);
    }
  }
  for (const ns of todo) await run(['ip', 'netns', 'del', ns], { check: false });
  return { namespaces: todo, processes: pids.length };
}

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems); null without one. */
export function cgroupRoot(): string | null {
  try {
    const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
    return line ? line.split(' ')[1]! : null;
  } catch {
    return null;
  }
}

/**
 * Kill every process in a cgroup tree (cgroup.kill, else SIGKILL per pid) and remove its
 * directories, deepest first. Removing the cgroup releases any BPF program attached to it.
 * Idempotent: a missing tree is fine.
 */
export async function removeCgroupTree(root: string): Promise<{ removed: boolean; processes: number }> {
  if (!existsSync(root)) return { removed: false, processes: 0 };
  const dirs: string[] = [];
  const walk = (d: string) => {
    dirs.push(d);
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(root);
  const procs = (d: string) => {
    try {
      return readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').map(Number).filter((p) => p > 0);
    } catch {
      return [];
    }
  };
  const killed = dirs.reduce((n, d) => n + procs(d).length, 0);
  try {
    writeFileSync(join(root, 'cgroup.kill'), '1');
  } catch {
    for (const d of dirs)
      for (const pid of procs(d))
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
  }
  // cgroup.procs empties before the killed tasks have fully exited; the tree can be removed once
  // cgroup.events reports it unpopulated (rmdir says EBUSY until then).
  const populated = () => {
    try {
      return /^populated 1$/m.test(readFileSync(join(root, 'cgroup.events'), 'utf8'));
    } catch {
      return dirs.some((d) => procs(d).length > 0);
    }
  };
  const deadline = Date.now() + 5000;
  while (populated() && Date.now() < deadline) await sleep(20);
  for (const d of dirs.reverse()) {
    for (;;) {
      try {
        rmdirSync(d);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code === 'EBUSY' && Date.now() < deadline) {
          await sleep(20);
          continue;
        }
        throw new Error(`cannot remove cgroup ${d}: ${(e as Error).message}`);
      }
    }
  }
  return { removed: true, processes: killed };
}

/** Scratch namespaces are named `netlab._<purpose>.<pid>`: orphaned once that process is gone. */
export const scratchNs = (purpose: string) => `${PREFIX}._${purpose}.${process.pid}`;

/** Remove scratch namespaces (feature probes, load benches) whose creating process has died. */
export async function removeOrphanScratch(): Promise<string[]> {
  const orphans = (await listNamespaces(`${PREFIX}._`)).filter((ns) => !alive(Number(ns.split('.').at(-1))));
  return (await removeNamespaces(orphans)).namespaces;
}

export interface DownReport {
  stack: string;
  stoppedRun: number | null;
  namespaces: string[];
  processes: number;
  cgroups: string[];
  /** Machine-wide files whose previous value was put back (host tuning). */
  restored: string[];
}

/**
 * Remove everything a stack created: stop a live run of it (its own handler tears down), then
 * every namespace with the stack's prefix or in its state file, their processes, the run dir,
 * the state file and a stale lock.
 */
export async function downStack(stack: string): Promise<DownReport> {
  checkStackName(stack);
  let stoppedRun: number | null = null;
  const holder = lockHolder(stack);
  if (holder !== null && holder !== process.pid) {
    stoppedRun = holder;
    process.kill(holder, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (alive(holder) && Date.now() < deadline) await sleep(50);
    if (alive(holder)) process.kill(holder, 'SIGKILL');
  }
  const state = readState(stack);
  const found = await listNamespaces(nsPrefix(stack));
  const root = cgroupRoot();
  const cgroups: string[] = [];
  let inCgroups = 0;
  for (const cg of new Set([...(state?.cgroups ?? []), ...(root ? [cgroupBase(root, stack)] : [])])) {
    const r = await removeCgroupTree(cg);
    if (r.removed) cgroups.push(cg);
    inCgroups += r.processes;
  }
  const ns = await removeNamespaces([...(state?.namespaces ?? []), ...found]);
  const back = await restoreTuning(stack);
  if (back.failed.length) throw new Error(`${stack}: could not put back machine-wide tuning: ${back.failed.join('; ')}`);
  const removed = { namespaces: ns.namespaces, processes: ns.processes + inCgroups, cgroups, restored: back.restored };
  clearState(stack);
  if (lockHolder(stack) === null) rmSync(lockPath(stack), { force: true });
  return { stack, stoppedRun, ...removed };
}
