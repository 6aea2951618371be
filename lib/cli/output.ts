// What the verbs print, shared: plain tables, run progress (a spinner on a terminal, timed lines
// elsewhere), the sweep summary and a bench's figures with its exit code.
import Table from 'cli-table3';
import ora, { type Ora } from 'ora';
import type { Progress, UpOutcome } from '../local/run.ts';
import type { Spec } from '../spec/schema.ts';
import type { SweepRow } from '../aws/sweep.ts';

/** A borderless, uncoloured table with these column heads (and any other cli-table3 options). */
export function plainTable(head: string[], options: Omit<ConstructorParameters<typeof Table>[0] & object, 'head' | 'style'> = {}): InstanceType<typeof Table> {
  return new Table({ head, style: { head: [], border: [] }, ...options });
}

/** The time of day, HH:MM:SS (UTC), that starts a progress line. */
export const clock = () => new Date().toISOString().slice(11, 19);

/** Spinner on a terminal, plain lines elsewhere (CI logs). */
export function progressDisplay(quiet: boolean): { progress: Progress; stop: () => void } {
  const tty = process.stderr.isTTY && !quiet;
  let spin: Ora | null = null;
  const progress: Progress = (e) => {
    const text = `${e.stack}: ${e.index ? `[${e.index}/${e.total}] ` : ''}${e.text}`;
    if (quiet) return;
    if (!tty) {
      process.stderr.write(`${clock()} ${text}\n`);
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

/** The sweep summary: one row per stack; a local stack has no cost ("-"); destroyed "-" = nothing was created, "kept" = --keep left it up. */
export function renderSweepTable(rows: SweepRow[]): string {
  const t = plainTable(['stack', 'target', 'status', 'minutes', 'USD/hour', 'est. USD', 'destroyed', 'results / error']);
  for (const r of rows) {
    const aws = r.target === 'aws';
    t.push([
      r.stack,
      r.target,
      r.status,
      r.minutes.toFixed(1),
      aws ? r.usdPerHour.toFixed(2) : '-',
      aws ? ((r.minutes / 60) * r.usdPerHour).toFixed(2) : '-',
      r.destroyed === null ? '-' : r.destroyed === 'kept' ? 'kept (--keep)' : r.destroyed ? 'yes' : 'NO',
      r.resultDir ?? r.error ?? '',
    ]);
    if (r.resultDir && r.error) t.push(['', '', '', '', '', '', '', r.error]);
  }
  return t.toString();
}

/**
 * A bench's figures: JSON or a table plus what was skipped. A bench exits 0 only when every stack
 * it planned ran and ended ok (none skipped by Ctrl-C, and at least one).
 */
export function benchOutput(specs: Spec[], outcomes: UpOutcome[], json: object, table: () => string, skipped: string[], asJson?: boolean): void {
  if (asJson) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  else process.stdout.write(`\n${table()}\n${skipped.map((s) => `${s}\n`).join('')}`);
  process.exitCode = specs.length > 0 && outcomes.length === specs.length && outcomes.every((x) => x.result.status === 'ok') ? 0 : 1;
}
