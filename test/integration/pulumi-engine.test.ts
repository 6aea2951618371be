// The real Pulumi engine (root): small local stacks go up and are destroyed by the Pulumi CLI and
// the Automation API, with the CLI and plugins from scripts/install-tools.sh (npm test installs
// them), the environment of lib/pulumi/tools.ts and a file backend in a temporary directory.
// Checked against the machine (nothing left) and against result.json: up, no-op up, a changed
// stack file, a failing stack, Ctrl-C during up, a wrong passphrase, a sweep of two stacks.
// Every stack is a temporary copy of local-host (stacks/Pulumi.pe-*.yaml, git-ignored) with one
// 1-second point. Skipped, with the reason, only when not root; missing tools fail the tests.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { probeFeatures } from '../../lib/local/features.ts';
import { engineMissing, pulumiBinary, pulumiEnv, toolsCache } from '../../lib/pulumi/tools.ts';
import { PROJECT_DIR as root } from '../../lib/spec/stackfile.ts';
import { cgroupRoot, listNamespaces } from '../../lib/local/state.ts';
import { processesOf } from '../helpers/nothing-left.ts';
import { cgroupBase, stateDir } from '../../lib/core/names.ts';

const notRoot = process.getuid?.() !== 0 ? 'needs root (the local target builds network namespaces)' : null;
const maybe = notRoot ? test.skip : test.serial;
const title = (s: string) => `${s}${notRoot ? ` (skipped: ${notRoot})` : ''}`;
const PASSPHRASE = 'netlab-engine-test';
const stackFileOf = (name: string) => join(root, 'stacks', `Pulumi.${name}.yaml`);
let serial = 0;

/** A temporary stack: local-host cut down to one 1-second point (the engine is under test, not the datapath). */
function writeStack(tag: string, over: Record<string, unknown> = {}): string {
  const name = `pe-${process.pid}-${tag}-${serial++}`;
  const doc = YAML.parse(readFileSync(stackFileOf('local-host'), 'utf8'));
  doc.config['netlab:description'] = `real-engine test ${tag} (test/pulumi-engine.test.ts)`;
  doc.config['netlab:workload'] = { ...doc.config['netlab:workload'], durationSeconds: 1, connections: [1] };
  doc.config['netlab:repetitions'] = 1;
  doc.config['netlab:warmupSeconds'] = 0;
  Object.assign(doc.config, over);
  writeFileSync(stackFileOf(name), YAML.stringify(doc));
  return name;
}

/** The environment of a Pulumi call: lib/pulumi/tools.ts's, with a temporary backend and the test's passphrase. */
function envFor(backend: string, passphrase = PASSPHRASE): NodeJS.ProcessEnv {
  const base = { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: passphrase };
  return { ...base, ...pulumiEnv({ env: base }) };
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr as they came. */
  out: string;
  stdout: string;
}

/** Starts a command in its own process group (as a shell runs a foreground job), output collected. */
function start(cmd: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<Ran>; out: () => string } {
  const child = spawn(cmd, args, { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    stdout += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<Ran>((res) => child.on('close', (code, signal) => res({ code, signal, out, stdout })));
  return { child, done, out: () => out };
}

const pulumi = (args: string[], env: NodeJS.ProcessEnv) => start(pulumiBinary(env)!, [...args, '--non-interactive'], env).done;
const netlab = (args: string[], env: NodeJS.ProcessEnv) => start(process.execPath, [join(root, 'bin', 'netlab.js'), ...args], env).done;

/** The resources of the stack's last checkpoint, by type. */
async function stateTypes(name: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const r = await pulumi(['stack', 'export', '-s', name], env);
  if (r.code !== 0) throw new Error(`pulumi stack export: ${r.out}`);
  const d = JSON.parse(r.out.slice(r.out.indexOf('{'))) as { deployment: { resources?: { type: string }[]; pending_operations?: unknown[] } };
  if (d.deployment.pending_operations?.length) throw new Error(`pending operations left in the state: ${JSON.stringify(d.deployment.pending_operations)}`);
  return (d.deployment.resources ?? []).map((r) => r.type);
}

/** Everything a test made goes, whatever happened: the stack (destroyed, removed), its file, backend and results. */
async function cleanUp(t: ExecutionContext, names: string[], backend: string, env: NodeJS.ProcessEnv) {
  for (const name of names) {
    const d = await pulumi(['destroy', '--yes', '-s', name], env).catch((e: Error) => ({ code: -1, out: e.message }));
    if (d.code !== 0 && !/no stack named/.test(d.out)) t.log(`cleanup destroy ${name}: ${d.out.split('\n').slice(-5).join(' ')}`);
    await pulumi(['stack', 'rm', '--yes', '--force', '-s', name], env).catch(() => {});
    // Only this stack's own leftovers, should the engine have failed to delete them.
    await netlab(['down', name], env).catch(() => {});
    rmSync(stackFileOf(name), { force: true });
    rmSync(join(root, 'results', name), { recursive: true, force: true });
  }
  rmSync(backend, { recursive: true, force: true });
}

/**
 * Nothing of the stack is left: helpers/nothing-left.ts's checks but its BPF one. That one counts
 * netlab's BPF programs machine-wide, which another session's eBPF run may hold at the same time;
 * these stacks have no proxy, so they load none.
 */
async function assertNothingLeft(t: ExecutionContext, stack: string): Promise<void> {
  t.deepEqual(await listNamespaces(`netlab.${stack}.`), [], 'namespaces left behind');
  t.is(processesOf(stack), '', 'processes left behind');
  t.false(existsSync(cgroupBase(cgroupRoot()!, stack)), 'cgroup left behind');
  for (const f of [stack, `${stack}.state.json`, `${stack}.lock`, `${stack}.tuning.json`]) t.false(existsSync(join(stateDir(), f)), `${f} left behind`);
}

const resultOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { stack: string; status: string; description?: string };

maybe(title('the tools are installed (npm test installs them): CLI at the pinned version, language host and command provider'), (t) => {
  t.is(engineMissing(), null);
  t.true(existsSync(join(toolsCache(), 'bin', 'pulumi')));
});

maybe(title('Automation API: up, no-op up, a changed stack file replaces the run, destroy leaves nothing'), async (t) => {
  t.timeout(10 * 60_000);
  const name = writeStack('auto');
  const file = stackFileOf(name);
  const backend = mkdtempSync(join(tmpdir(), 'netlab-pe-'));
  const env = envFor(backend);
  const { LocalWorkspace, PulumiCommand } = await import('@pulumi/pulumi/automation/index.js');
  const pulumiCommand = await PulumiCommand.get({ root: toolsCache() });
  const envVars = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('PULUMI_') || k === 'PATH')) as Record<string, string>;
  const log: string[] = [];
  const onOutput = (s: string) => log.push(s);
  try {
    const stack = await LocalWorkspace.createStack({ stackName: name, workDir: root }, { pulumiCommand, envVars });
    // `pulumi stack init` rewrote the file in Pulumi's form (integers as strings, the salt added):
    // netlab's reader (the command's `netlab up <file>`) takes it as it is.
    const rewritten = readFileSync(file, 'utf8');
    t.regex(rewritten, /netlab:repetitions: "1"/);
    t.regex(rewritten, /^encryptionsalt: /m);
    const up = await stack.up({ onOutput, color: 'never' });
    t.is(up.summary.result, 'succeeded');
    t.is(up.summary.resourceChanges?.create, 3, 'stack, component and command created');
    t.is(up.outputs.target?.value, 'local');
    // Only the local target's outputs: no undefined aws outputs for the engine to warn about.
    t.deepEqual(Object.keys(up.outputs).sort(), ['datapath', 'proxyMode', 'resultDir', 'specHash', 'summary', 'target']);
    t.notRegex(log.join(''), /Undefined value/);
    const summary = JSON.parse(String(up.outputs.summary?.value)) as { runs: { stack: string; status: string; dir: string }[] };
    t.is(summary.runs[0]?.stack, name);
    t.is(summary.runs[0]?.status, 'ok');
    const dir1 = String(up.outputs.resultDir?.value);
    t.is(dir1, summary.runs[0]?.dir ?? '');
    t.like(resultOf(dir1), { stack: name, status: 'ok' });
    await assertNothingLeft(t, name); // the run tears itself down; the resource stands for the result
    // A second up with the same spec changes nothing (the trigger is the spec's hash).
    const again = await stack.up({ onOutput, color: 'never' });
    t.deepEqual(again.summary.resourceChanges, { same: 3 });
    // A changed stack file changes the spec hash: the run is replaced (a new run, a new result).
    writeFileSync(file, rewritten.replace(/(netlab:description: ).*/, '$1changed by the real-engine test'));
    const changed = await stack.up({ onOutput, color: 'never' });
    t.deepEqual(changed.summary.resourceChanges, { replace: 1, same: 2 });
    t.not(changed.outputs.specHash?.value, up.outputs.specHash?.value);
    const dir2 = String(changed.outputs.resultDir?.value);
    t.not(dir2, dir1);
    t.like(resultOf(dir2), { stack: name, status: 'ok' });
    t.regex(JSON.stringify(resultOf(dir2)), /changed by the real-engine test/);
    const down = await stack.destroy({ onOutput, color: 'never' });
    t.is(down.summary.result, 'succeeded');
    t.is(down.summary.resourceChanges?.delete, 3);
    await assertNothingLeft(t, name);
    t.deepEqual(await stateTypes(name, env), []);
  } catch (e) {
    t.log(log.join('').split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    await cleanUp(t, [name], backend, env);
  }
});

maybe(title('CLI: a stack whose experiment fails ends with a failed up showing why, nothing left, and a state that destroy and a new up accept'), async (t) => {
  t.timeout(10 * 60_000);
  // A datapath the kernel lacks (ipvlan on the 6.18 Firecracker kernel; netlab up refuses it
  // before building anything). Where the kernel has both ipvlan and macvlan, the run fails at
  // run time instead: its results directory cannot be created (a file is in the way).
  const features = await probeFeatures();
  const lacking = (['ipvlan', 'macvlan'] as const).find((f) => !features[f].ok);
  const name = writeStack('fail', lacking ? { 'netlab:datapath': lacking } : {});
  const file = stackFileOf(name);
  if (!lacking) writeFileSync(join(root, 'results', name), 'not a directory\n');
  const reason = lacking ? new RegExp(`datapath ${lacking} needs the kernel feature`) : /cannot write .*ENOTDIR/;
  const backend = mkdtempSync(join(tmpdir(), 'netlab-pe-'));
  const env = envFor(backend);
  try {
    t.is((await pulumi(['stack', 'init', name], env)).code, 0);
    const failed = await pulumi(['up', '--yes', '--skip-preview', '-s', name], env);
    t.not(failed.code, 0, failed.out);
    t.regex(failed.out, reason, 'the reason is shown');
    t.regex(failed.out, /netlab\.js up --json/, 'the failed command is named');
    await assertNothingLeft(t, name);
    const types = await stateTypes(name, env);
    t.false(types.includes('command:local:Command'), 'the failed run is not in the state');
    // The state is consistent: destroy works, and a new up (of a stack that can run) works.
    const d = await pulumi(['destroy', '--yes', '-s', name], env);
    t.is(d.code, 0, d.out);
    if (lacking) writeFileSync(file, readFileSync(file, 'utf8').replace(`netlab:datapath: ${lacking}`, 'netlab:datapath: host'));
    else rmSync(join(root, 'results', name));
    const ok = await pulumi(['up', '--yes', '--skip-preview', '-s', name], env);
    t.is(ok.code, 0, ok.out);
    const out = await pulumi(['stack', 'output', 'resultDir', '-s', name], env);
    t.like(resultOf(out.out.trim()), { stack: name, status: 'ok' });
    t.is((await pulumi(['destroy', '--yes', '-s', name], env)).code, 0);
    await assertNothingLeft(t, name);
  } finally {
    await cleanUp(t, [name], backend, env);
  }
});

maybe(title('CLI: Ctrl-C (SIGINT to the process group) during up leaves nothing, and the state takes destroy and a new up'), async (t) => {
  t.timeout(10 * 60_000);
  // A run long enough to be caught in the middle: one 30-second point.
  const name = writeStack('sigint', { 'netlab:workload': { tool: 'wrk', durationSeconds: 30, connections: [1], threads: 1, keepalive: true } });
  const file = stackFileOf(name);
  const backend = mkdtempSync(join(tmpdir(), 'netlab-pe-'));
  const env = envFor(backend);
  try {
    t.is((await pulumi(['stack', 'init', name], env)).code, 0);
    // Through scripts/pulumi.sh, as a user runs it (its tee must not break pulumi's cancellation).
    const run = start('bash', [join(root, 'scripts', 'pulumi.sh'), 'up', '--yes', '--skip-preview', '-s', name], env);
    const t0 = Date.now();
    // Wait until the lab is built (its namespaces exist), then Ctrl-C.
    while ((await listNamespaces(`netlab.${name}.`)).length < 2) {
      if (Date.now() - t0 > 120_000) throw new Error(`the run did not start within 2 min:\n${run.out()}`);
      if (run.child.exitCode !== null) throw new Error(`pulumi up ended before the run started:\n${run.out()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 2000));
    process.kill(-run.child.pid!, 'SIGINT');
    const r = await run.done;
    t.log(`pulumi up ended ${((Date.now() - t0) / 1000).toFixed(1)} s after it started (code ${r.code}, signal ${r.signal})`);
    t.true(Date.now() - t0 < 60_000, 'Ctrl-C stopped the 30-second run early');
    t.not(r.code, 0);
    await assertNothingLeft(t, name);
    t.false((await stateTypes(name, env)).includes('command:local:Command'), 'the interrupted run is not in the state');
    const d = await pulumi(['destroy', '--yes', '-s', name], env);
    t.is(d.code, 0, d.out);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/durationSeconds: 30/, 'durationSeconds: 1'));
    const ok = await pulumi(['up', '--yes', '--skip-preview', '-s', name], env);
    t.is(ok.code, 0, ok.out);
    t.is((await pulumi(['destroy', '--yes', '-s', name], env)).code, 0);
    await assertNothingLeft(t, name);
  } finally {
    await cleanUp(t, [name], backend, env);
  }
});

maybe(title('a wrong passphrase is named before anything changes: pulumi, scripts/pulumi.sh and netlab sweep'), async (t) => {
  t.timeout(5 * 60_000);
  const name = writeStack('pass');
  const file = stackFileOf(name);
  const backend = mkdtempSync(join(tmpdir(), 'netlab-pe-'));
  const env = envFor(backend);
  const wrong = envFor(backend, 'not-the-passphrase');
  try {
    t.is((await pulumi(['stack', 'init', name], env)).code, 0);
    const before = readFileSync(file, 'utf8');
    const r = await pulumi(['up', '--yes', '--skip-preview', '-s', name], wrong);
    t.not(r.code, 0);
    t.regex(r.out, /incorrect passphrase/);
    const sh = await start('bash', [join(root, 'scripts', 'pulumi.sh'), 'up', '--yes', '-s', name], wrong).done;
    t.not(sh.code, 0);
    t.regex(sh.out, /netlab: the passphrase is wrong for this stack[\s\S]*PULUMI_CONFIG_PASSPHRASE[\s\S]*Nothing was changed/);
    const { PULUMI_CONFIG_PASSPHRASE: _drop, ...unset } = env;
    const none = await pulumi(['up', '--yes', '-s', name], { ...unset, PULUMI_CONFIG_PASSPHRASE_FILE: '' });
    t.not(none.code, 0);
    t.regex(none.out, /passphrase must be set/);
    const sw = await netlab(['sweep', '--json', name], wrong);
    t.is(sw.code, 1, sw.out);
    const row = (JSON.parse(sw.stdout) as { runs: { status: string; destroyed: unknown; error: string }[] }).runs[0]!;
    t.is(row.status, 'failed');
    t.is(row.destroyed, null, 'nothing was created, so nothing to destroy');
    t.regex(row.error, /the passphrase is wrong for stack .*PULUMI_CONFIG_PASSPHRASE.*Nothing was changed/);
    // Nothing changed: no run, no resources, the stack file as it was.
    t.false(existsSync(join(root, 'results', name)));
    t.deepEqual(await stateTypes(name, env), []);
    t.is(readFileSync(file, 'utf8'), before);
    await assertNothingLeft(t, name);
  } finally {
    await cleanUp(t, [name], backend, env);
  }
});

maybe(title('netlab sweep of two local stacks through the Automation API: both run, both destroyed, one summary, no trace left'), async (t) => {
  t.timeout(10 * 60_000);
  const a = writeStack('sweep-a');
  const b = writeStack('sweep-b', { 'netlab:datapath': 'hostgw' });
  const texts = [a, b].map((n) => readFileSync(stackFileOf(n), 'utf8'));
  const backend = mkdtempSync(join(tmpdir(), 'netlab-pe-'));
  const env = envFor(backend);
  try {
    // The CLI as a user runs it, with only the backend set: netlab finds its own tools.
    const r = await netlab(['sweep', a, b], { ...process.env, PULUMI_BACKEND_URL: `file://${backend}` });
    t.is(r.code, 0, r.out);
    for (const n of [a, b]) {
      t.regex(r.out, new RegExp(`\\[${n}\\] refresh: reading the stack's resources back`), 'progress line');
      t.regex(r.out, new RegExp(`\\[${n}\\] up: netlab up on this machine`), 'progress line');
      t.regex(r.out, new RegExp(`\\[${n}\\] destroy: removing everything the stack created`), 'progress line');
      // The summary table: local target, ok, no cost, destroyed, the result directory.
      const row = r.out.split('\n').find((l) => l.includes(`│ ${n} `) && l.includes('│ ok'));
      t.truthy(row, `summary row of ${n}`);
      t.regex(row!, /│ local\s+│ ok\s+│ [\d.]+\s+│ -\s+│ -\s+│ yes\s+│ \/.*results\//);
      const dir = row!
        .split('│')
        .map((c) => c.trim())
        .filter(Boolean)
        .pop()!;
      t.like(resultOf(dir), { stack: n, status: 'ok' });
      await assertNothingLeft(t, n);
    }
    t.notRegex(r.out, /Undefined value/);
    // No trace: the stack files as they were (pulumi stack init had rewritten them), no stacks in the backend.
    t.deepEqual(
      [a, b].map((n) => readFileSync(stackFileOf(n), 'utf8')),
      texts,
    );
    const stacksDir = join(backend, '.pulumi', 'stacks', 'netlab');
    t.deepEqual(existsSync(stacksDir) ? readdirSync(stacksDir).filter((f) => f.endsWith('.json')) : [], []);
  } finally {
    await cleanUp(t, [a, b], backend, env);
  }
});
