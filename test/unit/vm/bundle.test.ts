// The guest's bundle of netlab (lib/vm/bundle.ts), built for real: it is content-addressed, it runs
// without tsx, it finds the project from node_modules/.cache (stacks, pin files), and old bundles are
// pruned. Booting it in a guest is test/integration/vm.test.ts.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BUNDLE_DIR, BUNDLES_KEPT, guestBundle } from '../../../lib/vm/bundle.ts';
import { PROJECT } from '../../helpers/paths.ts';

test.serial('the bundle is named after its content, runs without tsx, and finds the project from node_modules/.cache', async (t) => {
  const entry = await guestBundle(PROJECT);
  t.regex(entry, new RegExp(`^${BUNDLE_DIR.replaceAll('.', '\\.')}/[0-9a-f]{16}/netlab\\.js$`));
  t.is(await guestBundle(PROJECT), entry, 'an unchanged tree reuses its bundle');
  // Packages stay in node_modules; nothing of tsx is in it.
  const text = readFileSync(join(PROJECT, entry), 'utf8');
  t.notRegex(text, /tsx\/esm/);
  t.regex(text, /from "zod"/);
  // `netlab plan` needs the stack files and the pins, which it finds from PROJECT_DIR.
  const r = spawnSync(process.execPath, [join(PROJECT, entry), 'plan', 'local-host'], { cwd: '/', encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const viaTsx = spawnSync(process.execPath, [join(PROJECT, 'bin', 'netlab.js'), 'plan', 'local-host'], { cwd: '/', encoding: 'utf8' });
  t.is(r.stdout, viaTsx.stdout);
});

test.serial('old bundles are pruned to the newest few, never the one in use', async (t) => {
  const root = join(PROJECT, BUNDLE_DIR);
  const entry = await guestBundle(PROJECT);
  const current = dirname(entry).split('/').at(-1)!;
  const fake = Array.from({ length: BUNDLES_KEPT + 2 }, (_, i) => `${'0'.repeat(15)}${i.toString(16)}`);
  fake.forEach((d, i) => {
    mkdirSync(join(root, d), { recursive: true });
    // The in-use bundle is older than all of them: it is kept all the same.
    utimesSync(join(root, d), new Date(Date.now() + (i + 1) * 1000), new Date(Date.now() + (i + 1) * 1000));
  });
  utimesSync(join(root, current), new Date(0), new Date(0));
  t.is(await guestBundle(PROJECT), entry);
  const left = readdirSync(root).filter((d) => /^[0-9a-f]{16}$/.test(d));
  t.is(left.length, BUNDLES_KEPT);
  t.true(left.includes(current));
  // The newest fakes stay, the oldest go.
  t.true(existsSync(join(root, fake.at(-1)!)));
  t.false(existsSync(join(root, fake[0]!)));
  for (const d of fake) if (d !== current) spawnSync('rm', ['-rf', join(root, d)]);
});
