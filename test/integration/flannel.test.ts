// The real flannel (issue 16, `datapathImplementation: flannel`): for hostgw and vxlan a run starts
// the lab's control plane, flanneld (kube subnet manager) in each host namespace and wires the pods
// through cnitool and the real CNI plugins, measures through them and leaves nothing. Then the
// model is held to it: a model run of the same datapath must leave the same devices, addresses,
// routes, neighbours and fdb entries in every lab namespace, after normalising only what is
// run-specific (lib/datapath/flannel/compare.ts). Needs root and the built components
// (bash scripts/install-k8s.sh; `npm test` runs it).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { compareDatapaths, datapathDiffText, datapathsEqual } from '../../lib/datapath/flannel/compare.ts';
import { FLANNEL_PROGRAMS } from '../../lib/datapath/flannel/index.ts';
import type { DatapathState } from '../../lib/datapath/state.ts';
import { cgroupBase } from '../../lib/core/names.ts';
import { k8sMissing, k8sVersions } from '../../lib/k8s/tools.ts';
import { upLocal } from '../../lib/local/run.ts';
import { cgroupRoot, downStack } from '../../lib/local/state.ts';
import { RunResult } from '../../lib/results/result.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import { BIN } from '../helpers/paths.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';

const root = process.getuid?.() === 0;
const gone = k8sMissing(FLANNEL_PROGRAMS);
const why = !root ? 'needs root' : gone.length ? `not installed: ${gone.join(', ')} (bash scripts/install-k8s.sh)` : '';
const tmp = mkdtempSync(join(tmpdir(), 'netlab-fl-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const spec = (name: string, datapath: string, implementation: string, seconds = 2) =>
  specFromStackDoc(name, {
    config: {
      'netlab:datapath': datapath,
      'netlab:datapathImplementation': implementation,
      'netlab:workload': { tool: 'wrk', durationSeconds: seconds, connections: 4, threads: 1 },
      'netlab:warmupSeconds': 0,
    },
  });

/** What the root mount namespace must keep: no CNI or flannel state written there, no mount left. */
const rootFiles = () => ({
  cni: sh('ls -la /var/lib/cni 2>&1 || true'),
  flannel: sh('ls -la /run/flannel 2>&1 || true'),
  mounts: sh("awk '{ print $2, $3 }' /proc/self/mounts | sort"),
});

/** The pids of a stack's flanneld processes (its cgroup). */
const flanneldPids = (stack: string) =>
  sh(`cat ${cgroupBase(cgroupRoot()!, stack)}/flanneld/cgroup.procs 2>/dev/null || true`)
    .split('\n')
    .filter(Boolean)
    .filter((p) => sh(`cat /proc/${p}/comm 2>/dev/null || true`).trim() === 'flanneld');

const state = (dir: string, rel: string): DatapathState => JSON.parse(readFileSync(join(dir, rel), 'utf8'));

async function realAgainstModel(t: ExecutionContext, datapath: 'hostgw' | 'vxlan'): Promise<void> {
  const before = rootState();
  const files = rootFiles();
  const stack = `it-fl-${datapath}`;
  const real = await upLocal(spec(stack, datapath, 'flannel'), { resultsRoot: tmp });
  const r = real.result;
  t.is(r.status, 'ok', r.error);
  t.true(RunResult.safeParse(JSON.parse(readFileSync(join(real.dir, 'result.json'), 'utf8'))).success);
  t.is(r.setup!.pathMtu, datapath === 'vxlan' ? 1450 : 1500);
  t.true(
    r.setup!.checks.every((c) => c.ok),
    JSON.stringify(r.setup!.checks),
  );
  for (const p of r.points) {
    t.is(p.status, 'ok', `${p.id}: ${p.reason}`);
    t.true(typeof p.cpu?.flanneldCores === 'number' && typeof p.cpu?.controlPlaneCores === 'number', JSON.stringify(p.cpu));
  }
  const d = r.datapath!;
  t.is(d.implementation, 'flannel');
  const pins = k8sVersions();
  t.like(d.versions, { flannel: pins.flannel, flannelCni: pins.flannelCni, cni: pins.cni, cniPlugins: pins.cniPlugins, flanneldReports: pins.flannel });
  t.true(d.flanneldSeconds! > 0 && d.controlPlaneSeconds! > 0);
  t.deepEqual(
    d.cniDel!.map((c) => [c.host, c.network, c.ok]),
    [
      ['client', 'cbr0', true],
      ['client', 'lo', true],
      ['server', 'cbr0', true],
      ['server', 'lo', true],
    ],
  );
  await assertNothingLeft(t, stack);

  const model = await upLocal(spec(`it-flm-${datapath}`, datapath, 'model'), { resultsRoot: tmp });
  t.is(model.result.status, 'ok', model.result.error);
  t.is(model.result.datapath!.implementation, 'model');
  const diff = compareDatapaths(state(model.dir, model.result.datapath!.state!), state(real.dir, d.state!));
  t.true(datapathsEqual(diff), `the model differs from the real flannel (- model, + flannel):\n${datapathDiffText(diff)}`);
  await assertNothingLeft(t, `it-flm-${datapath}`);
  t.deepEqual(rootState(), before, 'root namespace changed');
  t.deepEqual(rootFiles(), files, 'CNI or flannel state written, or a mount left, in the root mount namespace');
}

for (const datapath of ['hostgw', 'vxlan'] as const) {
  const title = `real flannel (${datapath}): flanneld and the CNI plugins build it, it measures, the model equals it, nothing is left`;
  (why ? test.skip : test.serial)(why ? `${title} — skipped: ${why}` : title, (t) => realAgainstModel(t, datapath));
}

const killTitle = 'real flannel: kill -9 mid-run, then `netlab down` stops flanneld and the control plane and removes the namespaces, cgroups and CNI state';
(why ? test.skip : test.serial)(why ? `${killTitle} — skipped: ${why}` : killTitle, async (t) => {
  const stack = 'it-fl-kill';
  const before = rootState();
  const files = rootFiles();
  const doc = join(tmp, `Pulumi.${stack}.yaml`);
  writeFileSync(
    doc,
    'config:\n  netlab:datapath: vxlan\n  netlab:datapathImplementation: flannel\n  netlab:workload: { tool: wrk, durationSeconds: 30, connections: 2 }\n  netlab:warmupSeconds: 0\n',
  );
  const child = spawn(process.execPath, [BIN, 'up', doc, '--results', tmp], { stdio: 'ignore' });
  let done = false;
  const exited = new Promise((r) => child.once('exit', () => r((done = true))));
  // Until the point's load runs through the pods the plugins wired, or the run ended early. Bounded.
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline && !done && !sh(`pgrep -f '[n]etlab/${stack}/wrk-report' || true`).trim()) await sleep(200);
  t.false(done, 'the run ended before its load started');
  t.is(flanneldPids(stack).length, 2, 'one flanneld per host during the load');
  child.kill('SIGKILL');
  await exited;
  t.is(flanneldPids(stack).length, 2, 'a crashed run leaves flanneld running (so down must stop it)');
  await downStack(stack);
  await assertNothingLeft(t, stack);
  t.deepEqual(rootState(), before, 'root namespace changed');
  t.deepEqual(rootFiles(), files, 'CNI or flannel state written, or a mount left, in the root mount namespace');
});

const deathTitle = 'real flannel: a flanneld dying mid-run makes the point invalid and the run failed, naming flanneld; nothing is left';
(why ? test.skip : test.serial)(why ? `${deathTitle} — skipped: ${why}` : deathTitle, async (t) => {
  const stack = 'it-fl-death';
  const running = upLocal(spec(stack, 'hostgw', 'flannel', 8), { resultsRoot: tmp });
  // Once the point's 8 s load runs, kill the server's flanneld (its route stays in the kernel).
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline && !sh(`pgrep -f '[n]etlab/${stack}/wrk-report' || true`).trim()) await sleep(200);
  const pids = flanneldPids(stack);
  t.is(pids.length, 2);
  process.kill(Number(pids[0]), 'SIGKILL');
  const { result } = await running;
  t.is(result.status, 'failed');
  t.regex(result.error ?? '', /flanneld no longer running on both hosts/);
  t.is(result.points.at(-1)!.status, 'invalid');
  await assertNothingLeft(t, stack);
});
