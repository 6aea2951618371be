// Builds every datapath for real in network namespaces, runs a short load, and checks that nothing
// is left behind and that the root namespace's links, routes and firewall are untouched.
// Needs root; a datapath whose kernel feature is missing is skipped with the reason.
import test from 'ava';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeFeatures, requirements } from '../../lib/local/features.ts';
import { PreflightError, upLocal } from '../../lib/local/run.ts';
import { DATAPATHS, type Datapath, type Spec } from '../../lib/spec/schema.ts';
import { downStack, LockError, listNamespaces } from '../../lib/local/state.ts';
import { RunResult } from '../../lib/results/result.ts';
import { serialIf } from '../helpers/needs.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';
import { assertNothingLeft, processesOf } from '../helpers/nothing-left.ts';
import { BIN } from '../helpers/paths.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';

const root = process.getuid?.() === 0;
const features = root ? await probeFeatures() : null;
const tmp = mkdtempSync(join(tmpdir(), 'netlab-it-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

function spec(name: string, datapath: Datapath, workload: Record<string, unknown> = { tool: 'wrk', durationSeconds: 1, connections: 2, threads: 1 }): Spec {
  return specFromStackDoc(name, { config: { 'netlab:datapath': datapath, 'netlab:workload': workload, 'netlab:warmupSeconds': 0 } });
}

// `[n]etlab` keeps pgrep from matching the shell that runs it.
const loadRunning = (stack: string) => sh(`pgrep -f '[n]etlab/${stack}/wrk-report' || true`).trim() !== '';

for (const dp of DATAPATHS) {
  const lacking = features ? requirements(spec('x', dp)).features.filter((f) => !features[f].ok) : [];
  const why = !root ? 'needs root' : lacking.length ? `this kernel lacks ${lacking.map((f) => `${f} (${features![f].detail})`).join(', ')}` : '';
  const title = `${dp}: builds, passes its checks, measures, and leaves nothing behind`;
  (why ? test.skip : test.serial)(why ? `${title} — skipped: ${why}` : title, async (t) => {
    const before = rootState();
    const stack = `it-${dp}`;
    const { result, dir } = await upLocal(spec(stack, dp), { resultsRoot: tmp });
    t.is(result.status, 'ok', result.error);
    t.true(RunResult.safeParse(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))).success);
    t.is(result.setup!.pathMtu, dp === 'vxlan' ? 1450 : 1500);
    t.true(
      result.setup!.checks.every((c) => c.ok),
      JSON.stringify(result.setup!.checks),
    );
    t.true(result.setup!.checks.some((c) => c.name === `path MTU ${result.setup!.pathMtu}`));
    const [p] = result.points;
    t.is(p!.status, 'ok', p!.reason);
    t.true(p!.requests! > 100, `only ${p!.requests} requests`);
    // nginx closes every 100th connection (keepalive_requests) with a 5-byte shorter reply.
    t.true(Math.abs(p!.bytesPerResponse! - (350 - 5 / 100)) < 0.01, `bytes per response ${p!.bytesPerResponse}`);
    t.true(existsSync(join(dir, 'raw', `${p!.id}.txt`)));
    t.truthy(result.teardown);
    await assertNothingLeft(t, stack);
    t.deepEqual(rootState(), before, 'root namespace changed');
  });
}

const absent = features ? DATAPATHS.find((dp) => requirements(spec('x', dp)).features.some((f) => !features[f].ok)) : undefined;
serialIf(
  (!root && 'needs root') || (!absent && 'this kernel has every datapath feature; nothing to refuse'),
  'a missing kernel feature is refused before anything changes',
  async (t) => {
    const before = rootState();
    const err = await t.throwsAsync(upLocal(spec('it-refused', absent!), { resultsRoot: tmp }), { instanceOf: PreflightError });
    t.regex(err!.message, new RegExp(`datapath ${absent!} needs the kernel feature`));
    t.regex(err!.message, /nothing was changed/);
    await assertNothingLeft(t, 'it-refused');
    t.false(existsSync(join(tmp, 'it-refused')), 'no result dir for a refused run');
    t.deepEqual(rootState(), before);
  },
);

serialIf(!root && 'needs root', 'ab without and with keep-alive, two response sizes', async (t) => {
  const s = specFromStackDoc('it-ab', {
    config: {
      'netlab:datapath': 'hostgw',
      'netlab:server': { responseBytes: [350, 4096] },
      'netlab:workload': { tool: 'ab', requests: 500, concurrency: 2, keepalive: [false, true] },
    },
  });
  const { result } = await upLocal(s, { resultsRoot: tmp });
  t.is(result.status, 'ok', result.error);
  t.is(result.points.length, 4);
  for (const p of result.points) {
    t.is(p.status, 'ok', p.reason);
    t.is(p.requests, 500);
    // `Connection: close` replies are 5 bytes shorter; with keep-alive only the last reply on each
    // connection is, so the mean sits just under the asked size.
    const want = p.params.responseBytes;
    if (p.params.keepalive) t.true(p.bytesPerResponse! > want - 1 && p.bytesPerResponse! <= want);
    else t.is(p.bytesPerResponse, want - 5);
  }
  await assertNothingLeft(t, 'it-ab');
});

serialIf(!root && 'needs root', '--keep leaves the lab up; a second run is refused as already up; down removes it', async (t) => {
  const s = spec('it-keep', 'host');
  const { result } = await upLocal(s, { resultsRoot: tmp, keep: true });
  t.is(result.status, 'ok', result.error);
  t.is(result.teardown, null);
  t.is((await listNamespaces('netlab.it-keep.')).length, 2);
  t.not(processesOf('it-keep'), '', 'nginx keeps running for inspection');
  await t.throwsAsync(upLocal(s, { resultsRoot: tmp }), { instanceOf: PreflightError, message: /already up .* netlab down it-keep/ });
  const r = await downStack('it-keep');
  t.is(r.namespaces.length, 2);
  t.true(r.processes >= 2);
  await assertNothingLeft(t, 'it-keep');
});

function stackFile(name: string, seconds: number): string {
  const path = join(tmp, `Pulumi.${name}.yaml`);
  writeFileSync(
    path,
    `config:\n  netlab:datapath: vxlan\n  netlab:workload:\n    tool: wrk\n    durationSeconds: ${seconds}\n    connections: 4\n  netlab:warmupSeconds: 0\n`,
  );
  return path;
}

async function startUp(name: string) {
  const child = spawn(process.execPath, [BIN, 'up', '--results', tmp, stackFile(name, 30)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // Wait (bounded) until the load is running inside the lab.
  for (let i = 0; i < 200 && !loadRunning(name); i++) await new Promise((r) => setTimeout(r, 100));
  return { child, exited, output: () => out };
}

serialIf(!root && 'needs root', 'kill -9 half-way leaves the lab up; `netlab down` then removes everything', async (t) => {
  const name = 'it-kill';
  const before = rootState();
  const run = await startUp(name);
  t.true(loadRunning(name), `load never started: ${run.output()}`);
  run.child.kill('SIGKILL');
  await run.exited;
  t.is((await listNamespaces(`netlab.${name}.`)).length, 4, 'a killed run cannot clean up: its namespaces are still there');
  t.not(processesOf(name), '');
  const down = execFileSync(process.execPath, [BIN, 'down', name], { encoding: 'utf8' });
  t.regex(down, /removed 4 namespaces and 1 cgroups \(with any BPF program attached\), stopped [2-9] processes/);
  await assertNothingLeft(t, name);
  t.deepEqual(rootState(), before);
});

serialIf(!root && 'needs root', 'Ctrl-C tears down and records the run as interrupted; a second run of the stack is locked out meanwhile', async (t) => {
  const name = 'it-sigint';
  const run = await startUp(name);
  t.true(loadRunning(name), `load never started: ${run.output()}`);
  await t.throwsAsync(upLocal(specFromStackDoc(name, { config: {} }), { resultsRoot: tmp }), {
    instanceOf: LockError,
    message: /already being run by process/,
  });
  run.child.kill('SIGINT');
  const code = await run.exited;
  t.is(code, 1, run.output());
  await assertNothingLeft(t, name);
  const dir = sh(`ls -d ${tmp}/${name}/*`).trim();
  const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
  t.is(result.status, 'interrupted');
  t.truthy(result.teardown);
});
