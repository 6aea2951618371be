// The Pulumi tool pins (tools/versions.env) agree with the SDKs in node_modules, and netlab's
// stand-in command provider behaves as the upstream one does for what netlab uses. No CLI needed.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFailures, diffInputs, plain, runCommand, VERSION } from '../tools/plugins/command-provider.ts';
import { declaredPackages, nodeArgsOf } from '../tools/plugins/language-host.ts';
import { missingProviderPlugins } from '../lib/pulumi-config.ts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pins = Object.fromEntries(
  readFileSync(join(root, 'tools', 'versions.env'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
) as Record<string, string>;
const pkg = (name: string) => JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'));
const URN = 'urn:pulumi:s::netlab::netlab:local:Experiment$command:local:Command::x-run';

test('the CLI pin is the release of the installed @pulumi/pulumi', (t) => {
  t.is(pins.PULUMI_VERSION, pkg('@pulumi/pulumi').version);
  const range = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies['@pulumi/pulumi'];
  t.is(range, `~${pins.PULUMI_VERSION!.split('.').slice(0, 2).join('.')}.0`, 'package.json pins the same minor line');
});

test('the command plugin pin is what @pulumi/command declares, and the stand-in reports it', (t) => {
  const decl = pkg('@pulumi/command').pulumi;
  t.is(decl.name, 'command');
  t.is(pins.COMMAND_VERSION, decl.version);
  t.is(VERSION, decl.version);
});

test('Go pseudo-versions name the release commits (same date/commit shape, right major)', (t) => {
  t.regex(pins.LANGUAGE_NODEJS_GO_VERSION!, /^v3\.0\.0-\d{14}-[0-9a-f]{12}$/);
  t.regex(pins.COMMAND_GO_VERSION!, /^v0\.0\.0-\d{14}-[0-9a-f]{12}$/);
});

test('install-tools.sh and pulumi.sh pass bash -n and shellcheck', (t) => {
  for (const f of ['scripts/install-tools.sh', 'scripts/pulumi.sh']) {
    execFileSync('bash', ['-n', join(root, f)]);
    try {
      execFileSync('shellcheck', ['-x', '-S', 'warning', join(root, f)], { cwd: root, stdio: 'pipe' });
    } catch (e) {
      const err = e as { code?: string; stdout?: Buffer };
      if (err.code === 'ENOENT') return t.log('shellcheck not installed: bash -n only');
      t.fail(`${f}: ${err.stdout?.toString()}`);
    }
  }
  t.pass();
});

test('language host: the plugins the engine may pre-install are the resource SDKs in package.json', (t) => {
  const names = declaredPackages(root).map((p) => `${p.name}@${p.version}`);
  t.true(names.includes(`command@${pins.COMMAND_VERSION}`));
  t.true(names.some((n) => n.startsWith('aws@')));
  t.deepEqual(nodeArgsOf({ nodeargs: '--import=tsx  --enable-source-maps' }), ['--import=tsx', '--enable-source-maps']);
  t.deepEqual(nodeArgsOf({}), []);
});

test('command stand-in: local.Command only, the inputs netlab uses, remote refused with what to do', (t) => {
  t.deepEqual(checkFailures(URN, { create: 'true', delete: 'true', dir: '/', triggers: ['h'], logging: 'stderr' }), []);
  t.is(checkFailures(URN, { create: 'true', stdin: 'x' })[0]?.property, 'stdin');
  t.is(checkFailures(URN, { logging: 'loud' })[0]?.property, 'logging');
  const remote = checkFailures(URN.replace('command:local:Command', 'command:remote:Command'), {});
  t.regex(remote[0]!.reason, /pulumi plugin install resource command 1\.2\.1/);
});

test('command stand-in: triggers replace, other changes update, no change is no change', (t) => {
  const a = { create: 'a', delete: 'd', triggers: ['1'] };
  t.deepEqual(diffInputs(a, { ...a }), { changes: false, replaces: [] });
  t.deepEqual(diffInputs(a, { ...a, triggers: ['2'] }), { changes: true, replaces: ['triggers'] });
  t.deepEqual(diffInputs(a, { ...a, create: 'b' }), { changes: true, replaces: [] });
  const secret = { '4dabf18193072939515e22adb298388d': '1b47061264138c4ac30d75fd1eb44270', value: 'x' };
  t.deepEqual(plain({ create: secret, triggers: [secret] }), { create: 'x', triggers: ['x'] });
});

test('command stand-in: runs in dir with environment, captures stdout, fails with the exit status and stderr', async (t) => {
  const out = await runCommand('echo "$X $(pwd)"; echo err >&2', { dir: '/tmp', environment: { X: 'hi' }, logging: 'none' });
  t.deepEqual(out, { stdout: 'hi /tmp', stderr: 'err' });
  const e = await t.throwsAsync(runCommand('echo boom >&2; exit 3', { logging: 'none' }));
  t.regex(e!.message, /exit status 3[^]*boom/);
});

test('aws stacks: the provider plugins missing from PULUMI_HOME and PATH are named with their versions', (t) => {
  const home = mkdtempSync(join(tmpdir(), 'netlab-plugins-'));
  try {
    const aws = pkg('@pulumi/aws').pulumi.version as string;
    const tls = pkg('@pulumi/tls').pulumi.version as string;
    const env = { PULUMI_HOME: home, PATH: '' };
    t.deepEqual(missingProviderPlugins(root, ['@pulumi/aws', '@pulumi/tls'], env), [`aws ${aws}`, `tls ${tls}`]);
    const [maj, min] = aws.split('.');
    mkdirSync(join(home, 'plugins', `resource-aws-v${maj}.${Number(min) + 1}.0`), { recursive: true }); // newer, same major: fine
    mkdirSync(join(home, 'plugins', `resource-tls-v${Number(tls.split('.')[0]) - 1}.0.0`), { recursive: true }); // older major: not
    t.deepEqual(missingProviderPlugins(root, ['@pulumi/aws', '@pulumi/tls'], env), [`tls ${tls}`]);
    mkdirSync(join(home, 'bin'));
    writeFileSync(join(home, 'bin', 'pulumi-resource-tls'), '#!/bin/sh\n');
    chmodSync(join(home, 'bin', 'pulumi-resource-tls'), 0o755);
    t.deepEqual(missingProviderPlugins(root, ['@pulumi/aws', '@pulumi/tls'], { ...env, PATH: join(home, 'bin') }), []);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
