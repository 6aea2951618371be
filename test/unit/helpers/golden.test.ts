// The golden helper rewrites its files only with UPDATE_GOLDEN=1 exactly. Any other value
// (yes, 0, true, empty) must compare against the file on disk and leave it untouched.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertGolden, shouldUpdateGolden } from '../../helpers/golden.ts';
import { tempDir } from '../../helpers/tmp.ts';

test('shouldUpdateGolden: only UPDATE_GOLDEN=1 asks for a rewrite', (t) => {
  t.true(shouldUpdateGolden({ UPDATE_GOLDEN: '1' }));
  for (const v of [undefined, '', '0', 'yes', 'true', 'YES', ' 1', '1 ', '01', 'no']) {
    t.false(shouldUpdateGolden({ UPDATE_GOLDEN: v }), `UPDATE_GOLDEN=${JSON.stringify(v)} must not rewrite`);
  }
});

/** Runs assertGolden against a golden file holding "old" with a different text, under the given UPDATE_GOLDEN value. */
function runHelper(value: string | undefined): { onDisk: string; failures: string[] } {
  const dir = tempDir('netlab-golden-');
  const file = join(dir, 'g.txt');
  writeFileSync(file, 'old\n');
  const failures: string[] = [];
  const fake = {
    true: (v: unknown, msg?: string) => {
      if (v !== true) failures.push(msg ?? 'not true');
    },
    is: (a: unknown, b: unknown) => {
      if (a !== b) failures.push(`${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
    },
  } as unknown as ExecutionContext;
  const saved = process.env.UPDATE_GOLDEN;
  try {
    if (value === undefined) delete process.env.UPDATE_GOLDEN;
    else process.env.UPDATE_GOLDEN = value;
    assertGolden(fake, file, 'new\n');
    return { onDisk: readFileSync(file, 'utf8'), failures };
  } finally {
    if (saved === undefined) delete process.env.UPDATE_GOLDEN;
    else process.env.UPDATE_GOLDEN = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

// Serial: these tests change process.env of this worker (each ava file has its own process).
for (const value of ['yes', '0', 'true', '', undefined]) {
  test.serial(`UPDATE_GOLDEN=${value ?? '(unset)'} leaves the golden file alone and reports the difference`, (t) => {
    const r = runHelper(value);
    t.is(r.onDisk, 'old\n');
    t.deepEqual(r.failures, ['"new\\n" !== "old\\n"']);
  });
}

test.serial('UPDATE_GOLDEN=1 rewrites the golden file', (t) => {
  const r = runHelper('1');
  t.is(r.onDisk, 'new\n');
  t.deepEqual(r.failures, []);
});
