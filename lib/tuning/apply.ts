// Applies a tuning plan and undoes it. Thin: every write and command comes from tuning/plan.ts.
// Before the first machine-wide write, the previous values are saved in the state dir, so a
// finished run, a failed one and `netlab down` after a crash all put them back.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, run } from '../core/exec.ts';
import { isStackName, stateDir, stateFile } from '../core/names.ts';
import { writeFileAtomic } from '../core/files.ts';
import { tuningStepText, type TuningStep } from './plan.ts';

export interface TuningRecord {
  setting: string;
  kind: TuningStep['kind'];
  netns: string | null;
  /** The file written or the command run. */
  target: string;
  asked: string | null;
  /** What the kernel reports after the write (read back), or the command's check. */
  got: string | null;
  /** Machine-wide files: the value before the lab wrote (put back afterwards). */
  previous: string | null;
  status: 'applied' | 'skipped' | 'failed';
  optional: boolean;
  why: string;
}

export class TuningError extends Error {
  override name = 'TuningError';
}

interface Saved {
  path: string;
  debugfs: boolean;
  previous: string;
}

const restorePath = (stack: string) => stateFile(stack, '.tuning.json');

const WRITE = 'echo "$1" > "$0"';
const DEBUGFS = 'mount -t debugfs none /sys/kernel/debug && ';

async function readValue(s: { netns?: string; path: string; debugfs?: boolean }, signal?: AbortSignal): Promise<string> {
  if (s.netns) return (await run(['ip', 'netns', 'exec', s.netns, 'cat', s.path], { timeoutMs: 10_000, signal })).stdout.trim();
  if (s.debugfs) return (await run(['unshare', '--mount', 'sh', '-c', `${DEBUGFS}cat "$0"`, s.path], { timeoutMs: 10_000, signal })).stdout.trim();
  return readFileSync(s.path, 'utf8').trim();
}

async function writeValue(s: { netns?: string; path: string; debugfs?: boolean }, value: string, signal?: AbortSignal): Promise<void> {
  if (s.netns) await run(['ip', 'netns', 'exec', s.netns, 'sh', '-c', WRITE, s.path, value], { timeoutMs: 10_000, signal });
  else if (s.debugfs) await run(['unshare', '--mount', 'sh', '-c', DEBUGFS + WRITE, s.path, value], { timeoutMs: 10_000, signal });
  else writeFileSync(s.path, value);
}

/**
 * Did this error come from Ctrl-C (or a stop) rather than from the setting? The run was aborted, or
 * the step's process was killed by SIGINT, SIGHUP or SIGTERM that was not its time limit: a signal
 * sent to the step as well as to netlab (systemd stops every process of the unit, a kill of the
 * process group) can kill the step before netlab's own handler has aborted the run.
 */
export function isInterruption(e: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted || (e as Error).message === 'interrupted') return true;
  return e instanceof CommandError && !e.result.timedOut && ['SIGINT', 'SIGHUP', 'SIGTERM'].includes(e.result.signal ?? '');
}

/** Does the kernel's value say what was asked? Masks compare as numbers, other values by their words. */
export function sameValue(setting: string, asked: string, got: string): boolean {
  if (setting === 'rps' || setting === 'xps') {
    const hex = (v: string) => (/^[0-9a-f,]+$/i.test(v) ? BigInt(`0x${v.replace(/,/g, '') || '0'}`) : null);
    const a = hex(asked);
    return a !== null && a === hex(got);
  }
  return asked.trim().split(/\s+/).join(' ') === got.trim().split(/\s+/).join(' ');
}

const machineWide = (s: TuningStep): s is Extract<TuningStep, { kind: 'write' }> => s.kind === 'write' && !s.netns;

/** Other stacks that changed one of these machine-wide files and have not put it back yet. */
function conflicts(stack: string, paths: string[]): string[] {
  if (!existsSync(stateDir())) return [];
  const out: string[] = [];
  for (const f of readdirSync(stateDir())) {
    const m = /^(.+)\.tuning\.json$/.exec(f);
    if (!m || m[1] === stack || !isStackName(m[1]!)) continue;
    const saved = JSON.parse(readFileSync(join(stateDir(), f), 'utf8')) as Saved[];
    for (const s of saved) if (paths.includes(s.path)) out.push(`stack ${m[1]} has changed ${s.path} and not put it back; run netlab down ${m[1]} first`);
  }
  return out;
}

/**
 * Apply every step in order and read each write back. A failed step stops the run with a message
 * naming it, unless the spec marks its setting optional: then it is recorded as failed. Records
 * go into `records` as they happen, so a failed run still reports what it did.
 */
export async function applyTuning(stack: string, steps: TuningStep[], records: TuningRecord[], signal?: AbortSignal): Promise<TuningRecord[]> {
  const wide = steps.filter(machineWide);
  const clash = conflicts(
    stack,
    wide.map((s) => s.path),
  );
  if (clash.length) throw new TuningError(`tuning not applied: ${clash.join('; ')}`);
  // Save what is there now, before anything is written; unreadable files are left to their step.
  const saved: Saved[] = [];
  const previous = new Map<string, string>();
  for (const s of wide) {
    if (previous.has(s.path)) continue;
    try {
      const v = await readValue(s, signal);
      previous.set(s.path, v);
      saved.push({ path: s.path, debugfs: !!s.debugfs, previous: v });
    } catch (e) {
      if (isInterruption(e, signal)) throw new Error('interrupted');
      /* otherwise the write will fail and say why */
    }
  }
  // Whole or not at all: `down` reads this file to put the machine-wide values back.
  if (saved.length) writeFileAtomic(restorePath(stack), JSON.stringify(saved, null, 2) + '\n');
  for (const s of steps) {
    if (signal?.aborted) throw new Error('interrupted');
    if (s.kind === 'skip') {
      records.push({
        setting: s.setting,
        kind: 'skip',
        netns: null,
        target: '',
        asked: null,
        got: null,
        previous: null,
        status: 'skipped',
        optional: false,
        why: s.why,
      });
      continue;
    }
    const rec: TuningRecord = {
      setting: s.setting,
      kind: s.kind,
      netns: s.netns ?? null,
      target: s.kind === 'write' ? s.path : s.argv.join(' '),
      asked: s.kind === 'write' ? s.value : null,
      got: null,
      previous: s.kind === 'write' ? (previous.get(s.path) ?? null) : null,
      status: 'applied',
      optional: s.optional,
      why: s.why,
    };
    let failure: string | null = null;
    try {
      if (s.kind === 'write') {
        await writeValue(s, s.value, signal);
        rec.got = await readValue(s, signal);
        if (!sameValue(s.setting, s.value, rec.got)) failure = `the kernel reports ${JSON.stringify(rec.got)}`;
      } else {
        const argv = s.netns ? ['ip', 'netns', 'exec', s.netns, ...s.argv] : s.argv;
        await run(argv, { signal, timeoutMs: 60_000 });
        // NOTRACK rules are read back with -C (exit 0: the rule is there).
        const a = s.argv.indexOf('-A');
        if (a >= 0) {
          const check = [...argv.slice(0, argv.length - s.argv.length + a), '-C', ...s.argv.slice(a + 1)];
          const r = await run(check, { check: false, timeoutMs: 20_000, signal });
          if (r.signal) throw new CommandError(check, r); // killed: no answer either way
          rec.got = r.code === 0 ? 'rule present' : 'rule missing';
          if (rec.got !== 'rule present') failure = 'the rule is not in the table after adding it';
        }
      }
    } catch (e) {
      // An interruption is not the setting's failure: it is not recorded, and the run stops as interrupted.
      if (isInterruption(e, signal)) throw new Error('interrupted');
      failure = (e as Error).message.split('\n')[0]!;
    }
    if (failure) {
      rec.status = 'failed';
      rec.why = `${s.why}; failed: ${failure}`;
      records.push(rec);
      if (!s.optional)
        throw new TuningError(
          `tuning step failed: ${tuningStepText(s)}\n  ${failure}\n  (mark it optional with netlab:tuning.optional: [${s.setting}] to record the failure and go on)`,
        );
      continue;
    }
    records.push(rec);
  }
  return records;
}

/** Put back every machine-wide value a stack's tuning changed; returns the paths restored. */
export async function restoreTuning(stack: string): Promise<{ restored: string[]; failed: string[] }> {
  const file = restorePath(stack);
  if (!existsSync(file)) return { restored: [], failed: [] };
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved[];
  const restored: string[] = [];
  const failed: string[] = [];
  for (const s of [...saved].reverse()) {
    try {
      await writeValue(s, s.previous);
      restored.push(s.path);
    } catch (e) {
      failed.push(`${s.path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!failed.length) rmSync(file, { force: true });
  return { restored, failed };
}

/** Stacks that still have saved values to put back. */
export function stacksWithTuning(): string[] {
  if (!existsSync(stateDir())) return [];
  return readdirSync(stateDir())
    .flatMap((f) => /^(.+)\.tuning\.json$/.exec(f)?.[1] ?? [])
    .filter(isStackName);
}
