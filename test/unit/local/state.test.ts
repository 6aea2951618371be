// Stack names that reach the file system: `netlab down` and every state path accept only a valid
// stack name, and never touch anything outside the state folder (issue 19, item 1).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkStackName, inside, StackNameError } from '../../../lib/core/names.ts';
import { BIN } from '../../helpers/paths.ts';
import { tempDir } from '../../helpers/tmp.ts';

const HOSTILE = ['..', '.', '', '../../tmp/x/victim', '/etc', 'a/../..', 'a/b', '-rf', 'A', 'a'.repeat(41), 'ok\n', 'x y', '.hidden', '...'];

test('checkStackName refuses every hostile name and keeps valid ones', (t) => {
  for (const name of HOSTILE) t.throws(() => checkStackName(name), { instanceOf: StackNameError }, JSON.stringify(name));
  for (const name of ['a', 'local-hostgw', '0x', 'a'.repeat(40)]) t.is(checkStackName(name), name);
});

test('inside refuses paths that leave the folder', (t) => {
  t.is(inside('/run/netlab', 'x.lock'), '/run/netlab/x.lock');
  for (const f of ['..', '../x', '/etc/passwd', 'a/b', '', '.']) t.throws(() => inside('/run/netlab', f), undefined, f);
});

function sandbox() {
  const dir = tempDir('netlab-state-');
  const state = join(dir, 'state');
  const victim = join(dir, 'victim');
  mkdirSync(state);
  mkdirSync(victim);
  writeFileSync(join(victim, 'keep.txt'), 'precious');
  return { dir, state, victim };
}

test.serial('state paths refuse hostile names before touching anything', async (t) => {
  const { state, victim } = sandbox();
  process.env.NETLAB_STATE_DIR = state;
  const { downStack } = await import('../../../lib/local/state.ts');
  const { runDirOf, stateFile } = await import('../../../lib/core/names.ts');
  for (const name of HOSTILE) {
    t.throws(() => runDirOf(name), { instanceOf: StackNameError });
    t.throws(() => stateFile(name, '.lock'), { instanceOf: StackNameError });
    await t.throwsAsync(() => downStack(name), { instanceOf: StackNameError });
  }
  await t.throwsAsync(() => downStack('../victim'));
  t.true(existsSync(join(victim, 'keep.txt')));
  t.true(existsSync(state));
});

test.serial('stacksPresent never yields a name built from a hostile file in the state folder', async (t) => {
  const { state } = sandbox();
  process.env.NETLAB_STATE_DIR = state;
  const { stacksPresent } = await import('../../../lib/local/state.ts');
  for (const f of ['...lock', '..state.json', '.tuning.json', 'A.lock', 'ok-stack.lock', 'x y.state.json']) writeFileSync(join(state, f), '1\n');
  const names = (await stacksPresent()).filter((n) => !n.startsWith('it-'));
  t.true(names.includes('ok-stack'));
  for (const n of names) t.regex(n, /^[a-z0-9][a-z0-9-]{0,39}$/);
});

test('netlab down with a path or hostile name exits non-zero, names the problem, and deletes nothing', (t) => {
  const { state, victim } = sandbox();
  for (const name of ['../victim', '..', `${victim}`, '../../tmp/x/victim']) {
    const r = spawnSync(process.execPath, [BIN, 'down', name], { env: { ...process.env, NETLAB_STATE_DIR: state }, encoding: 'utf8' });
    t.is(r.status, 2, r.stderr);
    t.regex(r.stderr, /stack name .*expected 1-40 characters/);
    t.regex(r.stderr, /nothing was changed/);
  }
  t.true(existsSync(join(victim, 'keep.txt')));
  t.true(existsSync(state));
});
