// Service proxy modes for real: a short constant-rate run through each mode at two Service
// counts, checking the figures that can be checked exactly (request counts, connections, rules
// walked per connection), and that rules, BPF programs, cgroups and namespaces all go afterwards.
// Needs root; a mode whose kernel feature is missing is skipped (IPVS) or refused with the reason.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeFeatures, requirements } from '../../lib/local/features.ts';
import { PreflightError, upLocal } from '../../lib/local/run.ts';
import { RunResult } from '../../lib/results/result.ts';
import { serialIf } from '../helpers/needs.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import type { Spec } from '../../lib/spec/schema.ts';
import { cgroupRoot, downStack, listNamespaces } from '../../lib/local/state.ts';
import { BIN } from '../helpers/paths.ts';
import { cgroupBase } from '../../lib/core/names.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';

const root = process.getuid?.() === 0;
const features = root ? await probeFeatures() : null;
const tmp = mkdtempSync(join(tmpdir(), 'netlab-proxy-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spec(name: string, mode: string, datapath = 'hostgw', extra: Record<string, unknown> = {}): Spec {
  return specFromStackDoc(name, {
    config: {
      'netlab:datapath': datapath,
      'netlab:proxy': { mode, services: [1, 50], backendsPerService: 10, target: 'last' },
      'netlab:workload': { tool: 'rps', rate: 200, durationSeconds: 2, floorSeconds: 1, keepalive: [false, true], requestsPerConnection: 20 },
      'netlab:warmupSeconds': 0,
      ...extra,
    },
  });
}

for (const [mode, datapath] of [
  ['iptables', 'hostgw'],
  ['nftables', 'hostgw'],
  ['ebpf', 'hostgw'],
  ['iptables', 'host'],
  ['ebpf', 'macvlan'],
  ['none', 'vxlan'],
  ['ipvs', 'hostgw'],
] as const) {
  const s = spec('x', mode, datapath);
  const lacking = features ? requirements(s).features.filter((f) => !features[f].ok) : [];
  const why = !root ? 'needs root' : lacking.length ? `this kernel lacks ${lacking.map((f) => `${f} (${features![f].detail})`).join(', ')}` : '';
  const title = `proxy ${mode} on ${datapath}: programs 1 and 50 Services, holds the rate, counts exactly, leaves nothing`;
  (why ? test.skip : test.serial)(why ? `${title} — skipped: ${why}` : title, async (t) => {
    const before = rootState();
    const stack = `it-px-${mode}-${datapath}`;
    const { result, dir } = await upLocal(spec(stack, mode, datapath), { resultsRoot: tmp });
    t.is(result.status, 'ok', result.error);
    t.true(RunResult.safeParse(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))).success);
    t.deepEqual(
      result.proxy!.programs.map((p) => [p.services, p.check.ok]),
      [
        [1, true],
        [50, true],
      ],
    );
    if (mode === 'iptables')
      t.deepEqual(
        result.proxy!.programs.map((p) => p.rules),
        [40, 32 * 50 + 8],
      );
    t.is(result.points.length, 4);
    for (const p of result.points) {
      t.is(p.status, 'ok', `${p.id}: ${p.reason}`);
      t.is(p.requests, 400, p.id);
      t.true(p.rps!.keptUp, p.rps!.verdict);
      // keepalive off: one connection per request; on: 20 requests per connection, so 20
      // connections, plus one for each response slower than the 5 ms between requests (open loop:
      // a request due while the only connection is busy gets a new one; a busy machine makes a few).
      // The exact count per connection is tested against a counting server in rps-client.test.ts.
      if (p.params.keepalive) t.true(p.rps!.connections >= 20 && p.rps!.connections <= 26, `${p.id}: ${p.rps!.connections} connections`);
      else t.is(p.rps!.connections, 400, p.id);
      // The cgroup's count is exact. /proc/stat is sampled per tick, and a tick the hypervisor
      // took is booked as steal instead, so the machine's figure is checked with steal added.
      t.true(p.cpu!.cores + p.cpu!.steal! > 0 && p.cpu!.clientCores! > 0, JSON.stringify(p.cpu));
      if (mode === 'iptables') {
        // Per new connection: the hook rule, KUBE-SERVICES down to the target (n rules), the
        // Service chain's masquerade rule plus 1..10 probability rules, the endpoint chain's 2.
        const n = p.params.services!;
        t.is(p.rulesWalked!.connections, p.rps!.connections, p.id);
        t.true(p.rulesWalked!.perConnection! >= n + 5 && p.rulesWalked!.perConnection! <= n + 14, `${p.id}: ${p.rulesWalked!.perConnection}`);
      } else t.is(p.rulesWalked, null);
    }
    await assertNothingLeft(t, stack);
    t.deepEqual(rootState(), before, 'root namespace changed');
  });
}

serialIf(
  (!root && 'needs root') || (features!.ipvs.ok && 'this kernel has IPVS; nothing to refuse'),
  'ipvs: refused before anything changes where the kernel has no IPVS, naming it',
  async (t) => {
    const before = rootState();
    const err = await t.throwsAsync(upLocal(spec('it-px-refused', 'ipvs'), { resultsRoot: tmp }), { instanceOf: PreflightError });
    t.regex(err!.message, /proxy mode ipvs needs the kernel feature "ipvs"/);
    t.regex(err!.message, /nothing was changed/);
    t.deepEqual(await listNamespaces('netlab.it-px-refused.'), []);
    t.false(existsSync(cgroupBase(cgroupRoot()!, 'it-px-refused')));
    t.deepEqual(rootState(), before);
  },
);

serialIf(
  (!root && 'needs root') || ((!features!.bpf.ok || !features!.cgroup2.ok) && 'no BPF or cgroup2 here'),
  'ebpf: kill -9 mid-run, then `netlab down` removes the cgroup, the BPF program and the namespaces',
  async (t) => {
    const stack = 'it-px-kill';
    const before = rootState();
    const doc = join(tmp, `Pulumi.${stack}.yaml`);
    writeFileSync(
      doc,
      `config:\n  netlab:datapath: hostgw\n  netlab:proxy: { mode: ebpf, services: [100] }\n  netlab:workload: { tool: rps, rate: 100, durationSeconds: 30, floorSeconds: 1 }\n  netlab:warmupSeconds: 0\n`,
    );
    const child = spawn(process.execPath, [BIN, 'up', doc, '--results', tmp], { stdio: 'ignore' });
    let done = false;
    const exited = new Promise((r) => child.once('exit', () => r((done = true))));
    // Wait until the point's load runs (30 s; the floor's runs before programming are 1 s), so the
    // program is attached (or the run ended early: a failure).
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !done && !sh(`pgrep -f '[n]etlab-rps .*--duration 30 ' || true`).trim()) await sleep(100);
    t.false(done, 'the run ended before its load started');
    t.not(sh('bpftool prog show 2>/dev/null | grep -c netlab_connect || true').trim(), '0', 'program attached during the run');
    child.kill('SIGKILL');
    await exited;
    t.true(existsSync(cgroupBase(cgroupRoot()!, stack)), 'the killed run left its cgroup (as a crash would)');
    const r = await downStack(stack);
    t.deepEqual(r.cgroups, [cgroupBase(cgroupRoot()!, stack)]);
    await assertNothingLeft(t, stack);
    t.is(sh(`pgrep -f '[n]etlab-rps ' || true`).trim(), '', 'load client left running');
    t.deepEqual(rootState(), before);
  },
);
