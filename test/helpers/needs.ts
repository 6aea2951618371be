// A test whose precondition is missing is skipped, with the reason in its title, never passed
// silently: `serialIf(why, title, fn)` runs `fn` serially when `why` is null, else shows
// "<title> — skipped: <why>" as a skipped test.
import test, { type ExecutionContext } from 'ava';

export function serialIf(why: string | null | false | undefined, title: string, fn: (t: ExecutionContext) => unknown): void {
  if (why) test.skip(`${title} — skipped: ${why}`, fn);
  else test.serial(title, fn);
}
