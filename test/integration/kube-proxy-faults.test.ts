// Faults of the real components (issue 16): the API server dying mid-run, and a kube-proxy that
// stops syncing. Either must fail the run with a message naming what died or what was awaited,
// never measure rules nobody keeps, and leave nothing behind.
// Needs root and the built components (bash scripts/install-k8s.sh; `npm test` runs it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { k8sMissing } from '../../lib/k8s/tools.ts';
import { upLocal } from '../../lib/local/run.ts';
import { KUBE_PROXY_PROGRAMS } from '../../lib/proxy/kube-proxy/index.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';

const root = process.getuid?.() === 0;
const gone = k8sMissing(KUBE_PROXY_PROGRAMS);
const why = !root ? 'needs root' : gone.length ? `not installed: ${gone.join(', ')} (bash scripts/install-k8s.sh)` : '';
const tmp = mkdtempSync(join(tmpdir(), 'netlab-kpf-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const spec = (name: string, services: number[], seconds: number, proxy: Record<string, unknown> = {}) =>
  specFromStackDoc(name, {
    config: {
      'netlab:datapath': 'hostgw',
      // The fleet written by server-side apply: these faults are kube-proxy's and the API server's,
      // and the Pulumi writer has its own test (kube-fleet-pulumi.test.ts).
      'netlab:proxy': { mode: 'iptables', implementation: 'kube-proxy', writer: 'server-side-apply', backendsPerService: 2, services, ...proxy },
      'netlab:workload': { tool: 'rps', rate: 100, durationSeconds: seconds, floorSeconds: 1, keepalive: [false] },
      'netlab:warmupSeconds': 0,
    },
  });

/** Wait (bounded) until the point's load runs: the rps client with this duration (the floor's runs
 * are 5 s), or the run ended (then the test fails with the run's error). */
async function untilLoad(seconds: number, running: Promise<{ result: { status: string; error?: string } }>): Promise<string> {
  let ended = '';
  void running.then(({ result }) => (ended = `the run ended before its load: ${result.status} ${result.error ?? ''}`));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !ended && !sh(`pgrep -f '[n]etlab-rps .*--duration ${seconds}( |$)' || true`).trim()) await sleep(200);
  return ended;
}

/** Processes of this stack's upstream components (their command lines name the stack's run dir). */
const upstreamOf = (stack: string, name: string) => sh(`pgrep -f '[t]ools/k8s/bin/${name} .*netlab/${stack}/' || true`).trim();

const apiTitle = 'the API server dying mid-run: the point is invalid, the run failed naming kube-apiserver, and nothing is left';
(why ? test.skip : test.serial)(why ? `${apiTitle} — skipped: ${why}` : apiTitle, async (t) => {
  const stack = 'it-kpf-api';
  const before = rootState();
  const running = upLocal(spec(stack, [3], 7), { resultsRoot: tmp });
  t.is(await untilLoad(7, running), '');
  t.not(upstreamOf(stack, 'kube-apiserver'), '', 'kube-apiserver runs during the load');
  sh(`pkill -KILL -f '[t]ools/k8s/bin/kube-apiserver .*netlab/${stack}/' || true`);
  const { result } = await running;
  t.is(result.status, 'failed');
  t.regex(result.error ?? '', /: kube-apiserver no longer running/);
  t.notRegex(result.error ?? '', /etcd/, 'etcd is still running: only the dead one is named');
  t.is(result.points.at(-1)!.status, 'invalid');
  await assertNothingLeft(t, stack);
  for (const p of KUBE_PROXY_PROGRAMS.filter((p) => p !== 'kubectl')) t.is(upstreamOf(stack, p), '', `${p} left running`);
  t.deepEqual(rootState(), before, 'root namespace changed');
});

/** Run a stack of 1 then 5 Services; once the first count's load runs, `fault(stack)`. */
async function faultAfterFirstCount(stack: string, fault: (stack: string) => void) {
  const running = upLocal(spec(stack, [1, 5], 3, { syncTimeoutSeconds: 10 }), { resultsRoot: tmp });
  const early = await untilLoad(3, running);
  const alive = upstreamOf(stack, 'kube-proxy') !== '';
  fault(stack);
  const t0 = Date.now();
  const { result } = await running;
  return { early, alive, result, seconds: (Date.now() - t0) / 1000 };
}

const failTitle = 'a kube-proxy whose syncs fail: the next programming times out naming what it waited for, its count is never measured, nothing is left';
(why ? test.skip : test.serial)(why ? `${failTitle} — skipped: ${why}` : failTitle, async (t) => {
  const stack = 'it-kpf-syncfail';
  // kube-proxy runs iptables-restore from the PATH folder the lab made for it (the backend's
  // links): replaced by a program that fails, every sync after the first count fails, as on a
  // node whose iptables is broken. kube-proxy keeps running and answering.
  const { early, alive, result, seconds } = await faultAfterFirstCount(stack, (s) =>
    sh(`f=/run/netlab/${s}/proxy/iptables-nft/iptables-restore; rm -f "$f"; printf '#!/bin/sh\\nexit 1\\n' > "$f"; chmod +x "$f"`),
  );
  t.is(early, '');
  t.true(alive);
  t.is(result.status, 'failed');
  t.regex(
    result.error ?? '',
    /programming 5 Services .*kube-proxy programming 5 Services \(the last with its endpoints, none beyond it\) did not happen within 10 s/s,
  );
  // The first count was programmed and measured, with kube-proxy's own account of it; the second never was.
  t.deepEqual(
    result.proxy!.programs.map((p) => p.services),
    [1],
  );
  const syncs = result.proxy!.programs[0]!.kubeProxySyncs!;
  t.true(syncs.syncs >= 1 && syncs.syncSeconds > 0 && syncs.failures === 0, JSON.stringify(syncs));
  t.true(
    result.points.every((p) => p.params.services === 1),
    JSON.stringify(result.points.map((p) => p.params.services)),
  );
  t.true(seconds < 90, `bounded by proxy.syncTimeoutSeconds: ${seconds} s`);
  await assertNothingLeft(t, stack);
  t.is(upstreamOf(stack, 'kube-proxy'), '');
});

const hungTitle = 'a hung kube-proxy (SIGSTOP): the next programming fails at once naming it, nothing is left';
(why ? test.skip : test.serial)(why ? `${hungTitle} — skipped: ${why}` : hungTitle, async (t) => {
  const stack = 'it-kpf-hung';
  // Frozen, kube-proxy is still in its cgroup (the per-point check passes) but answers nothing.
  const { early, alive, result } = await faultAfterFirstCount(stack, (s) => sh(`pkill -STOP -f '[t]ools/k8s/bin/kube-proxy .*netlab/${s}/'`));
  t.is(early, '');
  t.true(alive);
  t.is(result.status, 'failed');
  t.regex(result.error ?? '', /programming 5 Services: kube-proxy did not answer on its metrics endpoint \(hung or gone\)/);
  t.deepEqual(
    result.proxy!.programs.map((p) => p.services),
    [1],
  );
  // The frozen process is killed with its cgroup.
  await assertNothingLeft(t, stack);
  t.is(upstreamOf(stack, 'kube-proxy'), '');
});
