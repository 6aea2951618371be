// Whole-output golden files, reviewed by hand. `UPDATE_GOLDEN=1 npx ava <test file>` rewrites
// them after an intended change; review the diff before committing.
import type { ExecutionContext } from 'ava';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function assertGolden(t: ExecutionContext, file: string, text: string): void {
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  t.true(existsSync(file), `golden file ${file} missing (UPDATE_GOLDEN=1 writes it)`);
  t.is(text, readFileSync(file, 'utf8'));
}
