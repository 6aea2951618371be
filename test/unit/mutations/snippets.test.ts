// The cheap half of `npm run test:mutations`, run with every unit test: each mutation's code
// snippet still occurs exactly once across lib/**/*.ts and each of its test globs still names a
// file, so a refactor that rewrites or duplicates a snippet is noticed here, not the next time
// someone runs the (slower) mutation check. Fix by updating the snippet in
// scripts/mutation-check.ts to the new code, then run `npm run test:mutations`.
import test from 'ava';
import { globFiles, globRegExp, locate, MUTATIONS } from '../../../scripts/mutation-check.ts';
import { PROJECT } from '../../helpers/paths.ts';

for (const m of MUTATIONS) {
  test(`mutation "${m.name}": its snippet occurs exactly once in lib/ and its tests exist`, (t) => {
    const where = locate(PROJECT, m.find);
    t.is(where.total, 1, `${JSON.stringify(m.find)} found in: ${where.hits.map((h) => `${h.file} ×${h.count}`).join(', ') || 'no file'}`);
    t.not(m.replace, m.find);
    for (const glob of m.tests) {
      t.true(glob.startsWith('test/unit/'), `${glob}: mutation tests are unit tests`);
      t.true(globFiles(PROJECT, glob).length > 0, `${glob} matches no file`);
    }
  });
}

test('the names are distinct', (t) => {
  t.is(new Set(MUTATIONS.map((m) => m.name)).size, MUTATIONS.length);
});

test('globs: ** spans folders, * stays within a name', (t) => {
  const re = globRegExp('test/unit/proxy/**/*.test.ts');
  t.true(re.test('test/unit/proxy/rulesets.test.ts'));
  t.true(re.test('test/unit/proxy/iptables/walk.test.ts'));
  t.false(re.test('test/unit/proxy.test.ts'));
  t.false(re.test('test/unit/proxy/rulesets.test.tsx'));
  t.false(globRegExp('test/unit/*.test.ts').test('test/unit/spec/spec.test.ts'));
  t.deepEqual(globFiles(PROJECT, 'test/unit/mutations/snippets.test.ts'), ['test/unit/mutations/snippets.test.ts']);
});
