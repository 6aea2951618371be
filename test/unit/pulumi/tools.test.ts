// The Pulumi tool pins (tools/versions.env) agree with the SDKs in node_modules, netlab's stand-in
// command provider behaves as the upstream one does for what netlab uses, and lib/pulumi/tools.ts
// finds the tools and sets their environment as scripts/pulumi.sh does. No CLI needed.
import test from 'ava';
import { RETRYABLE, sshArgv } from '../../../tools/plugins/remote-command.ts';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkSweep, PrereqError } from '../../../lib/aws/sweep.ts';
import { renderSweepTable } from '../../../lib/cli/index.ts';
import { engineMissing, passphraseProblem, pulumiEnv, pulumiTools, toolsCache } from '../../../lib/pulumi/tools.ts';
import { loadStack } from '../../../lib/spec/stackfile.ts';
import { checkFailures, diffInputs, plain, runCommand, runningCommands, stopCommands, VERSION } from '../../../tools/plugins/command-provider.ts';
import { declaredPackages, nodeArgsOf } from '../../../tools/plugins/language-host.ts';
import { missingProviderPlugins } from '../../../lib/spec/pulumi-config.ts';
import { mkdirSync, rmSync, writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PROJECT } from '../../helpers/paths.ts';
import { tempDir } from '../../helpers/tmp.ts';

const root = PROJECT;
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
  t.regex(pins.KUBERNETES_PROVIDER_GO_VERSION!, /^v4\.0\.0-\d{14}-[0-9a-f]{12}$/);
});

test('the kubernetes plugin pin is what @pulumi/kubernetes declares; package.json pins that release exactly, the Go build its tag', (t) => {
  const decl = pkg('@pulumi/kubernetes').pulumi;
  t.is(decl.name, 'kubernetes');
  t.is(pins.KUBERNETES_PROVIDER_VERSION, decl.version);
  t.is(pkg('@pulumi/kubernetes').version, decl.version);
  // Exact: the plugin is built for this one release, and a caret range would let npm move past it.
  t.is(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies['@pulumi/kubernetes'], pins.KUBERNETES_PROVIDER_VERSION);
  t.is(pins.KUBERNETES_PROVIDER_GO_MODULE, 'github.com/pulumi/pulumi-kubernetes/provider/v4');
  t.is(pins.KUBERNETES_PROVIDER_SDK_GO_VERSION, `v${pins.KUBERNETES_PROVIDER_VERSION}`);
  // The install script builds, installs and reports it under the pinned names.
  const sh = readFileSync(join(root, 'scripts', 'install-tools.sh'), 'utf8');
  for (const v of [
    'plugin install resource kubernetes "$KUBERNETES_PROVIDER_VERSION" --file "$k8s_built"',
    '$KUBERNETES_PROVIDER_GO_MODULE@$KUBERNETES_PROVIDER_GO_VERSION',
    'VERSION=$v go run generate.go',
    '-X $m/pkg/version.Version=$v',
  ])
    t.true(sh.includes(v), v);
});

test('install-tools.sh, pulumi.sh and client-floor.sh pass bash -n and shellcheck', (t) => {
  for (const f of ['scripts/install-tools.sh', 'scripts/pulumi.sh', 'scripts/client-floor.sh']) {
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
  t.true(names.includes(`kubernetes@${pins.KUBERNETES_PROVIDER_VERSION}`));
  t.true(names.some((n) => n.startsWith('aws@')));
  t.deepEqual(nodeArgsOf({ nodeargs: '--import=tsx  --enable-source-maps' }), ['--import=tsx', '--enable-source-maps']);
  t.deepEqual(nodeArgsOf({}), []);
});

test('command stand-in: local and remote Command with the inputs netlab uses; anything else refused with what to do', (t) => {
  t.deepEqual(checkFailures(URN, { create: 'true', delete: 'true', dir: '/', triggers: ['h'], logging: 'stderr' }), []);
  t.is(checkFailures(URN, { create: 'true', stdin: 'x' })[0]?.property, 'stdin');
  t.is(checkFailures(URN, { logging: 'loud' })[0]?.property, 'logging');
  const REMOTE = URN.replace('command:local:Command', 'command:remote:Command');
  const connection = { host: '10.0.0.1', port: 22, user: 'admin', privateKey: 'KEY', dialErrorLimit: 60, perDialTimeout: 10 };
  t.deepEqual(checkFailures(REMOTE, { connection, create: 'sh -s', delete: 'true', stdin: 'echo', triggers: ['i-1'], logging: 'stderr' }), []);
  t.deepEqual(
    checkFailures(REMOTE, { connection: { ...connection, password: 'p', privateKey: undefined } }).map((f) => f.property),
    ['connection.password', 'connection.privateKey'],
  );
  t.is(checkFailures(REMOTE, { connection, environment: { A: '1' } })[0]?.property, 'environment');
  t.is(checkFailures(REMOTE, { create: 'true' })[0]?.reason, 'connection.host is required');
  const copy = checkFailures(URN.replace('command:local:Command', 'command:remote:CopyToRemote'), {});
  t.regex(copy[0]!.reason, /pulumi plugin install resource command 1\.2\.1/);
});

test('command stand-in, remote: a command over real OpenSSH argv; a refused dial is retried only while it is a connection failure', (t) => {
  const argv = sshArgv({ host: 'h', port: 2222, user: 'u', perDialTimeout: 7 }, '/k', 'sh -s');
  t.deepEqual(argv.slice(0, 4), ['-i', '/k', '-p', '2222']);
  t.true(argv.includes('ConnectTimeout=7') && argv.includes('BatchMode=yes'));
  t.deepEqual(argv.slice(-2), ['u@h', 'sh -s']);
  t.true(sshArgv({ host: 'h' }, '/k', 'x').includes('ConnectTimeout=15'));
  t.true(RETRYABLE.test('ssh: connect to host 10.0.0.1 port 22: Connection refused'));
  t.false(RETRYABLE.test('admin@10.0.0.1: Permission denied (publickey).'));
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
  t.regex(e!.message, /exit status 3[\s\S]*boom/);
});

test('aws stacks: the provider plugins missing from PULUMI_HOME and PATH are named with their versions', (t) => {
  const home = tempDir('netlab-plugins-');
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

test('pulumiEnv: the tools cache first on PATH, the project PULUMI_HOME and backend, no downloads, an empty passphrase only when none is set', (t) => {
  const env = { PATH: '/usr/bin:/bin', HOME: '/h' };
  const e = pulumiEnv({ projectDir: '/p', env });
  t.deepEqual(e, {
    PATH: '/h/.cache/netlab/tools/bin:/usr/bin:/bin',
    PULUMI_HOME: '/p/.pulumi',
    PULUMI_BACKEND_URL: 'file:///p/.pulumi-state',
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    PULUMI_CONFIG_PASSPHRASE: '',
  });
  t.is(toolsCache({ NETLAB_TOOLS_CACHE: '/c' }), '/c');
  t.is(toolsCache({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/netlab/tools');
  // The user's own backend and passphrase win; a default backend is used only when none is set.
  const mine = pulumiEnv({ projectDir: '/p', env: { ...env, PULUMI_BACKEND_URL: 's3://b', PULUMI_CONFIG_PASSPHRASE: 'x' }, backend: 'file:///d' });
  t.is(mine.PULUMI_BACKEND_URL, 's3://b');
  t.false('PULUMI_CONFIG_PASSPHRASE' in mine);
  t.false('PULUMI_CONFIG_PASSPHRASE' in pulumiEnv({ env: { ...env, PULUMI_CONFIG_PASSPHRASE_FILE: '/f' } }));
  t.is(pulumiEnv({ projectDir: '/p', env, backend: 'file:///d' }).PULUMI_BACKEND_URL, 'file:///d');
  // scripts/pulumi.sh sets the same: one place for TypeScript, the script for the shell.
  const sh = readFileSync(join(root, 'scripts', 'pulumi.sh'), 'utf8');
  for (const v of [
    'PULUMI_HOME=$root/.pulumi',
    'file://$root/.pulumi-state',
    'PULUMI_SKIP_UPDATE_CHECK=true',
    'PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION',
    'PATH=$cache/bin:$PATH',
  ])
    t.true(sh.includes(v), v);
});

test('pulumiTools: where each tool came from, read from the install layout (Go build, stand-ins with why, missing with what to do)', (t) => {
  const dir = tempDir('netlab-tools-');
  try {
    const cache = join(dir, 'cache');
    const project = join(dir, 'project');
    const v = pins.PULUMI_VERSION!;
    const exe = (f: string, body: string) => {
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, `#!/bin/sh\n${body}\n`);
      chmodSync(f, 0o755);
    };
    mkdirSync(join(project, 'tools'), { recursive: true });
    writeFileSync(join(project, 'tools', 'versions.env'), readFileSync(join(root, 'tools', 'versions.env')));
    mkdirSync(join(project, 'node_modules', '@pulumi', 'pulumi'), { recursive: true });
    writeFileSync(join(project, 'node_modules', '@pulumi', 'pulumi', 'package.json'), JSON.stringify({ version: v }));
    const env = { NETLAB_TOOLS_CACHE: cache, PATH: '/nonexistent', HOME: dir };
    t.deepEqual(
      pulumiTools({ projectDir: project, env }).map((x) => [x.tool, x.source]),
      [
        ['pulumi', 'missing'],
        ['pulumi-language-nodejs', 'missing'],
        ['pulumi-resource-command', 'missing'],
        ['pulumi-resource-kubernetes', 'missing'],
      ],
    );
    t.regex(engineMissing({ projectDir: project, env })!, /install-tools\.sh/);
    exe(join(cache, `pulumi-${v}`, 'bin', 'pulumi'), `echo v${v}`);
    mkdirSync(join(cache, 'bin'), { recursive: true });
    symlinkSync(join(cache, `pulumi-${v}`, 'bin', 'pulumi'), join(cache, 'bin', 'pulumi'));
    for (const [kind, name, ver] of [
      ['language', 'nodejs', v],
      ['resource', 'command', pins.COMMAND_VERSION!],
    ] as const) {
      const d = join(project, '.pulumi', 'plugins', `${kind}-${name}-v${ver}`);
      exe(join(d, `pulumi-${kind}-${name}`), 'exit 0');
      writeFileSync(join(d, 'netlab-standin'), 'x\n');
      if (kind === 'language') writeFileSync(join(d, 'netlab-standin.why'), 'the module proxy says 403 Forbidden\n');
    }
    const tools = pulumiTools({ projectDir: project, env });
    t.like(tools[0], { tool: 'pulumi', version: `v${v}`, source: 'Go build' });
    t.like(tools[1], { tool: 'pulumi-language-nodejs', source: 'stand-in' });
    t.regex(tools[1]!.detail, /language-host\.ts.*403 Forbidden/);
    t.like(tools[2], { tool: 'pulumi-resource-command', version: `v${pins.COMMAND_VERSION}`, source: 'stand-in' });
    t.regex(tools[2]!.detail, /command:local:Command only.*not served by the Go module proxy/, 'no .why file: the default reason');
    t.is(engineMissing({ projectDir: project, env }), null);
    t.regex(tools[3]!.detail, /only proxy\.writer pulumi needs it/);
    // The kubernetes provider, built by the script and installed into PULUMI_HOME.
    const kv = pins.KUBERNETES_PROVIDER_VERSION!;
    exe(join(cache, `pulumi-resource-kubernetes-${kv}`, 'bin', 'pulumi-resource-kubernetes'), 'exit 0');
    exe(join(project, '.pulumi', 'plugins', `resource-kubernetes-v${kv}`, 'pulumi-resource-kubernetes'), 'exit 0');
    t.like(pulumiTools({ projectDir: project, env })[3], { tool: 'pulumi-resource-kubernetes', version: `v${kv}`, source: 'Go build' });
    // A pulumi of another version on PATH (no cache): found, from PATH, and named as not the pin.
    rmSync(cache, { recursive: true });
    exe(join(dir, 'path', 'pulumi'), 'echo v3.1.0');
    const other = pulumiTools({ projectDir: project, env: { ...env, PATH: join(dir, 'path') } })[0]!;
    t.like(other, { source: 'PATH', version: 'v3.1.0' });
    t.regex(other.detail, new RegExp(`NOT the pinned v${v.replace(/\./g, '\\.')}`));
    t.regex(engineMissing({ projectDir: project, env: { ...env, PATH: join(dir, 'path') } })!, /is v3\.1\.0, not v/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("passphraseProblem: the CLI's wrong and missing passphrase errors named with what to do; other errors left alone", (t) => {
  t.regex(
    passphraseProblem('error: getting stack configuration: get stack secrets manager: incorrect passphrase', 's', 'file:///b')!,
    /passphrase is wrong for stack s.*PULUMI_CONFIG_PASSPHRASE.*Nothing was changed/,
  );
  t.regex(
    passphraseProblem('passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables', 's', 'b')!,
    /needs its passphrase/,
  );
  t.is(passphraseProblem('error: update failed', 's', 'b'), null);
});

test('checkSweep: local stacks need root and the Pulumi tools, named before anything runs', (t) => {
  const local = loadStack('local-host');
  const base = { env: {}, pulumiVersion: () => null, exists: () => false, home: '/h' };
  t.notThrows(() => checkSweep([local], { ...base, isRoot: () => true, engineMissing: () => null }), 'no aws prerequisites for a local stack');
  const e = t.throws(() => checkSweep([local], { ...base, isRoot: () => false, engineMissing: () => 'no pulumi CLI: run scripts/install-tools.sh' }));
  t.true(e instanceof PrereqError);
  t.regex(e!.message, /the local target through the Pulumi engine cannot run here:\n {2}- root: .*run as root\n {2}- Pulumi tools: no pulumi CLI/);
});

test('the sweep summary: cost "-" for local stacks, destroyed "-" when nothing was created, the error under a result', (t) => {
  const out = renderSweepTable([
    { stack: 'local-a', target: 'local', status: 'ok', minutes: 0.4, usdPerHour: 0, resultDir: '/r/local-a/1', destroyed: true },
    { stack: 'local-b', target: 'local', status: 'failed', minutes: 0.1, usdPerHour: 0, resultDir: null, destroyed: null, error: 'the passphrase is wrong' },
    { stack: 'aws-x', target: 'aws', status: 'ok', minutes: 30, usdPerHour: 3.4, resultDir: '/r/aws-x/1', destroyed: false, error: 'DESTROY FAILED' },
  ]);
  t.regex(out, /│ local-a\s+│ local\s+│ ok\s+│ 0\.4\s+│ -\s+│ -\s+│ yes\s+│ \/r\/local-a\/1/);
  t.regex(out, /│ local-b\s+│ local\s+│ failed\s+│ 0\.1\s+│ -\s+│ -\s+│ -\s+│ the passphrase is wrong/);
  t.regex(out, /│ aws-x\s+│ aws\s+│ ok\s+│ 30\.0\s+│ 3\.40\s+│ 1\.70\s+│ NO\s+│ \/r\/aws-x\/1/);
  t.regex(out, /│ DESTROY FAILED/);
});

test("command stand-in: stopping runs SIGTERM to the command's process group (its children too) and waits for it", async (t) => {
  const marker = join(tmpdir(), `netlab-stop-${process.pid}`);
  rmSync(marker, { force: true });
  // A child of the shell that traps SIGTERM (as netlab up tears down on it) and leaves a mark.
  const p = runCommand(`sh -c 'trap "echo torn-down > ${marker}; exit 143" TERM; while :; do sleep 0.1; done'; true`, { logging: 'none' });
  await new Promise((r) => setTimeout(r, 500));
  t.is(runningCommands(), 1);
  await stopCommands();
  await t.throwsAsync(p);
  t.is(runningCommands(), 0);
  t.is(readFileSync(marker, 'utf8'), 'torn-down\n');
  rmSync(marker, { force: true });
});
