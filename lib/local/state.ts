// What a run created, kept on disk so `netlab down` can undo it after a crash or kill -9, and a
// per-stack lock so two runs of one stack never collide. Lives in /run/netlab (tmpfs: a reboot
// clears it together with the namespaces it describes); NETLAB_STATE_DIR overrides.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { makeDir, WriteError, writeFileAtomic } from '../core/files.ts';
import { join } from 'node:path';
import { cgroupBase, checkStackName, isStackName, nsPrefix, PREFIX, runDirOf, stateDir, stateFile } from '../core/names.ts';
import { KILL_GRACE_MS } from '../core/netns.ts';
import { run } from '../core/exec.ts';
import { restoreTuning } from '../tuning/apply.ts';
import type { Step } from './plan.ts';

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
  /** The run's result.json, so `down` can mark it failed if the run died before finishing. */
  resultFile?: string;
}

export class LockError extends Error {
  override name = 'LockError';
}

/** A teardown that could not remove everything: the message lists what is left. */
export class TeardownError extends Error {
  override name = 'TeardownError';
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

/** Is the file at `path` flock(2)-locked by some process? (util-linux flock, non-blocking, exit 75 on conflict) */
function flocked(path: string): boolean {
  return spawnSync('flock', ['--shared', '--nonblock', '--conflict-exit-code', '75', path, 'true'], { stdio: 'ignore' }).status === 75;
}

/** Holder pid of a stack's lock if some process holds it, else null. */
export function lockHolder(stack: string): number | null {
  const path = lockPath(stack);
  if (!existsSync(path) || !flocked(path)) return null;
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : -1;
  } catch {
    return -1;
  }
}

/**
 * Take the stack's lock: an exclusive flock(2) on `<stack>.lock`, held through an open file
 * description of this process (util-linux `flock` places it on an inherited descriptor and exits;
 * the lock stays with the description). The kernel drops it when this process dies, even by
 * kill -9, so a lock is never stale and there is no takeover race. The file holds the holder's pid
 * for `netlab down`. Returns the release function (unlinks the file while still holding it).
 */
export function acquireLock(stack: string): () => void {
  const path = lockPath(stack);
  makeDir(stateDir());
  for (let attempt = 0; attempt < 10; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (e) {
      throw new WriteError(path, e);
    }
    const r = spawnSync('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', '75', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    if (r.status !== 0) {
      closeSync(fd);
      if (r.error) throw new LockError(`cannot lock ${path}: flock: ${r.error.message} (util-linux's flock is needed)`);
      if (r.status !== 75) throw new LockError(`cannot lock ${path}: flock exited ${r.status}: ${r.stderr.toString().trim()}`);
      const holder = lockHolder(stack);
      throw new LockError(
        `stack ${stack} is already being run${holder && holder > 0 ? ` by process ${holder}` : ''} (lock ${path}); wait for it, or stop it with: netlab down ${stack}`,
      );
    }
    // The file may have been unlinked by its previous holder between our open and our flock: then
    // the lock we hold is on a dead inode, and we start over with the file now at the path.
    let same = false;
    try {
      same = statSync(path).ino === fstatSync(fd).ino;
    } catch {
      same = false;
    }
    if (!same) {
      closeSync(fd);
      continue;
    }
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch (e) {
      unlinkSync(path);
      closeSync(fd);
      throw new WriteError(path, e);
    }
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      try {
        if (statSync(path).ino === fstatSync(fd).ino) unlinkSync(path);
      } catch {
        /* already gone */
      }
      closeSync(fd);
    };
  }
  throw new LockError(`could not take the lock ${path}: it kept being replaced`);
}

export function writeState(s: RunState): void {
  writeFileAtomic(statePath(s.stack), JSON.stringify(s, null, 2));
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
  // The folder `ip netns list` reads, read here: no child process, so a Ctrl-C burst that kills a
  // child in the instant before it leaves netlab's process group can never make a present
  // namespace look gone (an `ip netns list` killed that way printed nothing, and the teardown's
  // last look saw an empty machine while a pod namespace stayed).
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => n.startsWith(prefix)).sort();
}

/** Where `ip netns add` keeps its named namespaces (iproute2's NETNS_RUN_DIR). */
export const NETNS_DIR = '/run/netns';

/** Stacks that have namespaces or state on this machine. */
export async function stacksPresent(): Promise<string[]> {
  const names = new Set<string>();
  for (const ns of await listNamespaces()) {
    const stack = ns.split('.')[1];
    if (stack && isStackName(stack)) names.add(stack);
  }
  const root = cgroupRoot();
  if (root) for (const d of readdirSync(root)) if (d.startsWith(`${PREFIX}.`) && isStackName(d.slice(PREFIX.length + 1))) names.add(d.slice(PREFIX.length + 1));
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
    (await run(['ip', 'netns', 'pids', ns], { check: false })).stdout
      .split('\n')
      .map(Number)
      .filter((p) => p > 0);
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
  for (const ns of todo) {
    // A delete killed by a signal (see listNamespaces) is tried again; the teardown's last look names what stays.
    const r = await run(['ip', 'netns', 'del', ns], { check: false });
    if (r.signal) await run(['ip', 'netns', 'del', ns], { check: false });
  }
  return { namespaces: todo, processes: pids.length };
}

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems); null without one. */
export function cgroupRoot(): string | null {
  try {
    const line = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[2] === 'cgroup2');
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
      return readFileSync(join(d, 'cgroup.procs'), 'utf8')
        .split('\n')
        .map(Number)
        .filter((p) => p > 0);
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

/** Remove scratch namespaces (feature probes, load benches) whose creating process has died. */
export async function removeOrphanScratch(): Promise<string[]> {
  const orphans = (await listNamespaces(`${PREFIX}._`)).filter((ns) => !alive(Number(ns.split('.').at(-1))));
  return (await removeNamespaces(orphans)).namespaces;
}

/** What a plan's teardown removes: the namespaces it stops and deletes, the cgroup trees it kills
 * and removes. The run records these in its state, so `netlab down` runs the same teardown. */
export function teardownTargets(steps: Step[]): { namespaces: string[]; cgroups: string[] } {
  const namespaces = steps.flatMap((st) => ('killNetns' in st ? [st.killNetns] : []));
  const cgroups = steps.flatMap((st) => ('removeCgroup' in st ? [st.removeCgroup] : []));
  return { namespaces, cgroups };
}

/** What one teardown removed, and what it could not remove (then the run is not clean). */
export interface TeardownReport {
  namespaces: string[];
  processes: number;
  cgroups: string[];
  /** Machine-wide files whose previous value was put back (host tuning). */
  restored: string[];
  /** Problems: what is still on the machine afterwards, or could not be put back. Empty = clean. */
  left: string[];
  seconds: number;
}

/**
 * The one teardown, used by the end of a run, its failure, Ctrl-C and `netlab down`: kill
 * everything in the stack's cgroups and remove them (which frees attached BPF programs), stop every
 * process in its namespaces and delete them, put back machine-wide tuning, remove the run dir and
 * state file; then look again and report anything still there. Its commands run in their own
 * process group (lib/core/exec.ts), so a second Ctrl-C on the terminal does not kill them half-way.
 */
export async function teardownStack(stack: string, known: { namespaces?: string[]; cgroups?: string[] } = {}): Promise<TeardownReport> {
  const t0 = Date.now();
  const root = cgroupRoot();
  const cgroupsAsked = [...new Set([...(known.cgroups ?? []), ...(root ? [cgroupBase(root, stack)] : [])])];
  const removed = { namespaces: new Set<string>(), cgroups: new Set<string>(), processes: 0 };
  let left: string[] = [];
  let restored: string[] = [];
  // A signal sent to netlab's process group in the instant between a child's fork and its move to
  // its own group still kills that child (a burst of Ctrl-C can do it): so look again and repeat,
  // a bounded number of times, until nothing is left.
  for (let pass = 0; pass < TEARDOWN_PASSES; pass++) {
    left = [];
    for (const cg of cgroupsAsked) {
      try {
        const r = await removeCgroupTree(cg);
        if (r.removed) removed.cgroups.add(cg);
        removed.processes += r.processes;
      } catch (e) {
        left.push((e as Error).message);
      }
    }
    const ns = await removeNamespaces([...(known.namespaces ?? []), ...(await listNamespaces(nsPrefix(stack)))]);
    ns.namespaces.forEach((n) => removed.namespaces.add(n));
    removed.processes += ns.processes;
    const back = await restoreTuning(stack);
    restored = [...new Set([...restored, ...back.restored])];
    left.push(...back.failed.map((f) => `machine-wide tuning not put back: ${f}`));
    const still = await listNamespaces(nsPrefix(stack));
    if (still.length) left.push(`namespaces still present: ${still.join(', ')}`);
    for (const cg of cgroupsAsked) if (existsSync(cg)) left.push(`cgroup still present: ${cg}`);
    if (!left.length) break;
  }
  if (!left.length) clearState(stack);
  return {
    namespaces: [...removed.namespaces],
    processes: removed.processes,
    cgroups: [...removed.cgroups],
    restored,
    left,
    seconds: (Date.now() - t0) / 1000,
  };
}

/** How often the teardown looks again and retries before it reports what is left. */
const TEARDOWN_PASSES = 3;

export interface DownReport extends TeardownReport {
  stack: string;
  stoppedRun: number | null;
  /** A result.json the killed run left saying `running`, now marked failed. */
  markedFailed: string | null;
}

/**
 * Remove everything a stack created: stop a live run of it (its own handler tears down), take the
 * stack's lock so no run starts meanwhile, run the one teardown, and mark the result of a run that
 * died without finishing as failed.
 */
export async function downStack(stack: string): Promise<DownReport> {
  checkStackName(stack);
  let stoppedRun: number | null = null;
  const holder = lockHolder(stack);
  if (holder !== null && holder !== process.pid) {
    if (holder <= 0)
      throw new LockError(`the lock of ${stack} is held by a process that did not write its pid (${lockPath(stack)}); find it with: fuser ${lockPath(stack)}`);
    stoppedRun = holder;
    process.kill(holder, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (alive(holder) && Date.now() < deadline) await sleep(50);
    if (alive(holder)) process.kill(holder, 'SIGKILL');
    for (let i = 0; i < 100 && lockHolder(stack) !== null; i++) await sleep(50);
  }
  const release = acquireLock(stack);
  try {
    const state = readState(stack);
    const report = await teardownStack(stack, { namespaces: state?.namespaces, cgroups: state?.cgroups });
    if (report.left.length) throw new TeardownError(`${stack}: teardown incomplete, run netlab down ${stack} again: ${report.left.join('; ')}`);
    const markedFailed = state?.resultFile ? markUnfinished(state.resultFile, state.pid, report.seconds) : null;
    return { stack, stoppedRun, markedFailed, ...report };
  } finally {
    release();
  }
}

/** A result.json still saying `running` after its run's process is gone becomes `failed`, with the reason. */
function markUnfinished(file: string, pid: number, teardownSeconds: number): string | null {
  let doc: { status?: string; error?: string; finishedAt?: string; teardown?: unknown };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  if (doc.status !== 'running') return null;
  doc.status = 'failed';
  doc.error = `the run's process (pid ${pid}) ended before the run finished (killed or crashed); netlab down removed what it left${doc.error ? `; ${doc.error}` : ''}`;
  doc.finishedAt = new Date().toISOString();
  doc.teardown = { seconds: teardownSeconds, by: 'down' };
  writeFileAtomic(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}
