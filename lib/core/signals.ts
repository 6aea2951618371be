// How a run learns it must stop: Ctrl-C (SIGINT), SIGTERM, SIGHUP, or the death of the npm/npx
// process that started it. npm does not pass SIGTERM on to the command it runs (`kill <npx pid>`,
// or a supervisor stopping it, leaves netlab running with no parent), so under npm netlab watches
// its ancestors and stops as if sent SIGTERM when npm is gone. Every stop aborts one signal; the
// run's own finally-blocks tear everything down.
import { readFileSync } from 'node:fs';

function ppidOf(pid: number): number {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Ancestors of this process, nearest first, up to `depth`. */
export function ancestors(depth = 6): number[] {
  const out: number[] = [];
  for (let pid = process.ppid; pid > 1 && out.length < depth; pid = ppidOf(pid)) out.push(pid);
  return out;
}

/** The npm/npx process that started this one (npm sets npm_command for what it runs), or null. */
export function npmAncestor(): number | null {
  if (!process.env.npm_command) return null;
  return ancestors(4).find((pid) => /^(npm( |$)|npx( |$))|\/npm-cli\.js|\/npx-cli\.js/.test(cmdline(pid))) ?? null;
}

export interface Interruptible {
  signal: AbortSignal;
  dispose: () => void;
}

/** An AbortSignal that fires on SIGINT, SIGTERM, SIGHUP, or when the npm process that started netlab dies. */
export function interruptible(say: (text: string) => void = (t) => process.stderr.write(t)): Interruptible {
  const ac = new AbortController();
  const stop = (why: string) => {
    if (!ac.signal.aborted) {
      say(`\n${why}: stopping the run and tearing down (this takes a few seconds)…\n`);
      ac.abort();
    }
  };
  const onSig = (sig: NodeJS.Signals) => stop(sig);
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  process.on('SIGHUP', onSig);
  const npm = npmAncestor();
  const watch = npm
    ? setInterval(() => {
        if (!ancestors().includes(npm)) stop(`the npm process that started netlab (pid ${npm}) is gone`);
      }, 250).unref()
    : null;
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
      process.off('SIGHUP', onSig);
      if (watch) clearInterval(watch);
    },
  };
}
