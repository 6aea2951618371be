// The real kube-proxy (issue 16): a lab run with `proxy.implementation: kube-proxy` starts etcd and
// kube-apiserver in the stack's control-plane namespace and kube-proxy in the client host, writes
// each Service count through the API, measures through the rules kube-proxy wrote, and leaves
// nothing. Then the model is held to it: the nat table (iptables) and the kube-proxy table
// (nftables) the model writes for the same Services must equal what kube-proxy programmed.
// Needs root and the built components (bash scripts/install-k8s.sh; `npm test` runs it).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { k8sMissing } from '../../lib/k8s/tools.ts';
import { compareWithModel } from '../../lib/local/compare-model.ts';
import { upLocal } from '../../lib/local/run.ts';
import { downStack, listNamespaces } from '../../lib/local/state.ts';
import { apiServerService, diffText } from '../../lib/proxy/kube-proxy/compare.ts';
import { KUBE_PROXY_PROGRAMS } from '../../lib/proxy/kube-proxy/index.ts';
import { nftablesRuleset } from '../../lib/proxy/nftables/ruleset.ts';
import { fleetOf } from '../../lib/proxy/target.ts';
import { RunResult } from '../../lib/results/result.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import { BIN } from '../helpers/paths.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';

const root = process.getuid?.() === 0;
const gone = k8sMissing(KUBE_PROXY_PROGRAMS);
const why = !root ? 'needs root' : gone.length ? `not installed: ${gone.join(', ')} (bash scripts/install-k8s.sh)` : '';
const tmp = mkdtempSync(join(tmpdir(), 'netlab-kp-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const spec = (name: string, proxy: Record<string, unknown>, repetitions = 1) =>
  specFromStackDoc(name, {
    config: {
      'netlab:datapath': 'hostgw',
      'netlab:proxy': { backendsPerService: 10, target: 'last', implementation: 'kube-proxy', ...proxy },
      'netlab:workload': { tool: 'rps', rate: 200, durationSeconds: 2, floorSeconds: 1, keepalive: [false] },
      'netlab:warmupSeconds': 0,
      'netlab:repetitions': repetitions,
    },
  });

const title = 'real kube-proxy (iptables-nft): programs 1 and 100 Services through the API, both ways; measured through its rules; nothing left';
(why ? test.skip : test.serial)(why ? `${title} — skipped: ${why}` : title, async (t) => {
  const before = rootState();
  const stack = 'it-kp-iptables';
  // Two repetitions in the alternating order: 1, 100 | 100, 1, so the fleet also shrinks.
  const s = spec(stack, { mode: 'iptables', iptablesBackend: 'nft', services: [1, 100] }, 2);
  const { result, dir } = await upLocal(s, { resultsRoot: tmp });
  t.is(result.status, 'ok', result.error);
  t.true(RunResult.safeParse(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))).success);
  t.is(result.proxy!.implementation, 'kube-proxy');
  t.is(result.proxy!.versions!.kubernetes, 'v1.37.2');
  t.deepEqual(
    result.proxy!.programs.map((p) => [p.services, p.check.ok]),
    [
      [1, true],
      [100, true],
      [1, true],
    ],
  );
  // Counted from what the kernel held: 100 Services × 10 endpoints means at least 100 + 1000 chains.
  t.true(result.proxy!.programs[1]!.chains >= 1100, `chains ${result.proxy!.programs[1]!.chains}`);
  for (const p of result.points) {
    t.is(p.status, 'ok', `${p.id}: ${p.reason}`);
    t.true((p.rulesWalked?.perConnection ?? 0) > 0, `${p.id}: rules walked`);
    t.true(typeof p.cpu?.kubeProxyCores === 'number' && typeof p.cpu?.controlPlaneCores === 'number', JSON.stringify(p.cpu));
  }
  // The model against the real thing, from the kernel's state kept after each programming.
  const cmp = await compareWithModel(s, result, dir);
  t.deepEqual(
    cmp.map((c) => c.services),
    [1, 100],
  );
  for (const c of cmp) t.true(c.onlyModel.length === 0 && c.onlyReal.length === 0, `${c.services} Services:\n${diffText(c)}`);
  t.deepEqual(await listNamespaces(`netlab.${stack}.`), []);
  await assertNothingLeft(t, stack);
  // etcd, kube-apiserver and kube-proxy ran from the tools cache: none may outlive the run.
  t.is(sh("pgrep -af '[t]ools/k8s/' || true").trim(), '', 'an upstream component left running');
  t.deepEqual(rootState(), before, 'root namespace changed');
});

// 200 Services × 10 endpoints = 2000 endpoints: past kube-proxy's large-cluster threshold (1000
// endpoints, counted over all Services), where its iptables mode drops the per-endpoint comments.
// A run of its own, on a fresh kube-proxy. (2000 Services took 2 min here for the same regime.)
const bigTitle = "real kube-proxy (iptables-nft): 200 Services × 10 endpoints (past the large-cluster threshold), the nat table equal to the model's";
(why ? test.skip : test.serial)(why ? `${bigTitle} — skipped: ${why}` : bigTitle, async (t) => {
  const stack = 'it-kp-iptables-200';
  const s = spec(stack, { mode: 'iptables', iptablesBackend: 'nft', services: [200] });
  const { result, dir } = await upLocal(s, { resultsRoot: tmp });
  t.is(result.status, 'ok', result.error);
  t.deepEqual(
    result.proxy!.programs.map((p) => [p.services, p.check.ok]),
    [[200, true]],
  );
  t.true(result.points.every((p) => p.status === 'ok'));
  const cmp = await compareWithModel(s, result, dir);
  t.deepEqual(
    cmp.map((c) => c.services),
    [200],
  );
  for (const c of cmp) t.true(c.onlyModel.length === 0 && c.onlyReal.length === 0, `${c.services} Services:\n${diffText(c)}`);
  await assertNothingLeft(t, stack);
});

const nftTitle = "real kube-proxy (nftables): 1, 100 and 2000 Services, measured through its table, which equals the model's; nothing left";
(why ? test.skip : test.serial)(why ? `${nftTitle} — skipped: ${why}` : nftTitle, async (t) => {
  const stack = 'it-kp-nftables';
  const counts = [1, 100, 2000];
  const s = spec(stack, { mode: 'nftables', services: counts });
  const { result, dir } = await upLocal(s, { resultsRoot: tmp });
  t.is(result.status, 'ok', result.error);
  t.true(result.points.every((p) => p.status === 'ok'));
  // Counted from kube-proxy's table, in the model's units: the model's ruleset for the same fleet
  // (plus the API server's own Service, which kube-proxy also holds) has the same size.
  const model = (n: number) => {
    const r = nftablesRuleset([apiServerService(s.proxy!.serviceCidr), ...fleetOf(s.proxy!, n)], {
      clusterCidr: s.network.podCidr,
      serviceCidr: s.proxy!.serviceCidr,
    });
    return [n, r.rules, r.chains, r.mapElements, true];
  };
  t.deepEqual(
    result.proxy!.programs.map((p) => [p.services, p.rules, p.chains, p.mapElements, p.check.ok]),
    counts.map(model),
  );
  // The model against the real thing, from the kernel's state kept after each programming.
  const cmp = await compareWithModel(s, result, dir);
  t.deepEqual(
    cmp.map((c) => c.services),
    counts,
  );
  for (const c of cmp) t.true(c.onlyModel.length === 0 && c.onlyReal.length === 0, `${c.services} Services:\n${diffText(c)}`);
  await assertNothingLeft(t, stack);
});

const killTitle = 'real kube-proxy: kill -9 mid-run, then `netlab down` stops etcd, kube-apiserver and kube-proxy and removes their namespace, data and keys';
(why ? test.skip : test.serial)(why ? `${killTitle} — skipped: ${why}` : killTitle, async (t) => {
  const stack = 'it-kp-kill';
  const before = rootState();
  const doc = join(tmp, `Pulumi.${stack}.yaml`);
  writeFileSync(
    doc,
    `config:\n  netlab:datapath: hostgw\n  netlab:proxy: { mode: nftables, implementation: kube-proxy, services: [10] }\n  netlab:workload: { tool: rps, rate: 100, durationSeconds: 30, floorSeconds: 1 }\n  netlab:warmupSeconds: 0\n`,
  );
  const child = spawn(process.execPath, [BIN, 'up', doc, '--results', tmp], { stdio: 'ignore' });
  let done = false;
  const exited = new Promise((r) => child.once('exit', () => r((done = true))));
  const upstream = () => sh(`pgrep -f '[t]ools/k8s/.*/(etcd|kube-apiserver|kube-proxy) ' || true`).trim().split('\n').filter(Boolean).length;
  // Until the point's load (30 s; the floor's runs are 1 s) runs through kube-proxy's rules, or the
  // run ended early: a failure. Bounded.
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !done && !sh(`pgrep -f '[n]etlab-rps .*--duration 30 ' || true`).trim()) await sleep(200);
  t.false(done, 'the run ended before its load started');
  t.is(upstream(), 3, 'etcd, kube-apiserver and kube-proxy run during the load');
  child.kill('SIGKILL');
  await exited;
  t.is(upstream(), 3, 'a crashed run leaves them running (so down must stop them)');
  await downStack(stack);
  await assertNothingLeft(t, stack);
  t.is(upstream(), 0, 'an upstream component left running');
  t.deepEqual(rootState(), before);
});

const deathTitle = 'real kube-proxy dying mid-run: the point is invalid, the run failed naming kube-proxy, and nothing is left';
(why ? test.skip : test.serial)(why ? `${deathTitle} — skipped: ${why}` : deathTitle, async (t) => {
  const stack = 'it-kp-death';
  const s = spec(stack, { mode: 'nftables', services: [5] });
  const s8 = { ...s, workload: { ...s.workload, durationSeconds: 8 } } as typeof s;
  const running = upLocal(s8, { resultsRoot: tmp });
  // Once the point's 8 s load runs, kill kube-proxy (only it: the rules it wrote stay in the kernel).
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !sh(`pgrep -f '[n]etlab-rps .*--duration 8 ' || true`).trim()) await sleep(200);
  sh(`pkill -KILL -f '[t]ools/k8s/bin/kube-proxy ' || true`);
  const { result } = await running;
  t.is(result.status, 'failed');
  t.regex(result.error ?? '', /kube-proxy no longer running/);
  t.is(result.points.at(-1)!.status, 'invalid');
  await assertNothingLeft(t, stack);
});
