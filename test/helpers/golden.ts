// Whole-output golden files, reviewed by hand. `UPDATE_GOLDEN=1 npx ava <test file>` rewrites
// them after an intended change; review the diff before committing. Only the exact value `1`
// rewrites: `UPDATE_GOLDEN=0`, `=yes` or `=true` compare as usual, so a stray variable in the
// environment can never silently bless a changed output.
import type { ExecutionContext } from 'ava';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** True only when the environment asks for golden files to be rewritten: `UPDATE_GOLDEN=1` exactly. */
export function shouldUpdateGolden(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.UPDATE_GOLDEN === '1';
}

export function assertGolden(t: ExecutionContext, file: string, text: string): void {
  if (shouldUpdateGolden()) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  t.true(existsSync(file), `golden file ${file} missing (UPDATE_GOLDEN=1 writes it)`);
  t.is(text, readFileSync(file, 'utf8'));
}
