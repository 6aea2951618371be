// netlab:vm for real: the shipped vm stacks boot Debian's kernels under qemu (TCG here: this
// machine cannot run KVM guests) and run the experiments this machine's kernel cannot: kube-proxy's
// IPVS mode, E3 (conn_reuse_mode) on 5.10 and 6.1, and the ipvlan datapath. After each: the result
// tells which kernel and accelerator ran it, and nothing is left on this machine (no qemu, no
// virtiofsd, no taps, no cgroup, no sockets, the root namespace unchanged). Each lab host is a VM
// of its own, the two joined by taps on a bridge in a lab namespace. Ctrl-C mid-run stops the guest
// and leaves nothing; kill -9 of netlab mid-run leaves qemu running until `netlab down` stops it. Needs root and `bash scripts/install-vm.sh` (npm test's
// pretest runs it); skipped with the reason otherwise.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunResult } from '../../lib/results/result.ts';
import { loadStack } from '../../lib/spec/stackfile.ts';
import { vmMissing, type VmSpec } from '../../lib/vm/run.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import { serialIf } from '../helpers/needs.ts';
import { BIN, PROJECT } from '../helpers/paths.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';

const results = mkdtempSync(join(tmpdir(), 'netlab-vm-'));
test.after.always(() => rmSync(results, { recursive: true, force: true }));
const why = (stack: string) =>
  process.getuid?.() !== 0 ? 'needs root (network namespaces, cgroups, qemu)' : vmMissing(loadStack(stack) as VmSpec).join('; ') || null;

/** qemu or virtiofsd processes of this stack (their command lines name its run dir). */
const vmProcesses = (stack: string) => sh(`pgrep -af '[/]run/netlab/${stack}/vm/' || true`).trim();

function up(stack: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, 'up', stack, '--results', results], { cwd: PROJECT, encoding: 'utf8', timeout: 20 * 60_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

function lastResult(stack: string): { dir: string; result: RunResult } {
  const dirs = readdirSync(join(results, stack)).sort();
  const dir = join(results, stack, dirs.at(-1)!);
  return { dir, result: RunResult.parse(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))) };
}

async function runClean(t: ExecutionContext, stack: string, release: RegExp): Promise<RunResult> {
  t.timeout(20 * 60_000);
  const before = rootState();
  const r = up(stack);
  const { dir, result } = lastResult(stack);
  t.is(r.code, 0, r.out);
  t.is(result.status, 'ok', result.error);
  // Which kernel ran it, on which accelerator, and the guest's own environment.
  const vm = result.vm!;
  t.regex(vm.release ?? '', release);
  t.is(result.environment.kernel, vm.release ?? '');
  t.regex(vm.package, /^linux-image-.*-cloud-amd64=/);
  t.true(vm.accel === 'tcg' || vm.accel === 'kvm');
  t.is(vm.comparable, vm.accel === 'kvm');
  t.is(vm.exitStatus, 0);
  // The exact command line qemu ran, with the CPU model the figures depend on.
  const qemu = vm.qemu ?? [];
  t.is(qemu[qemu.indexOf('-accel') + 1], vm.accel);
  t.is(qemu[qemu.indexOf('-cpu') + 1], vm.accel === 'kvm' ? 'host' : 'Nehalem');
  t.true(vm.bootSeconds !== null && vm.bootSeconds > 0 && vm.bootSeconds < vm.guestSeconds);
  // A jiffies clock would round every latency the guest measures to 4 ms.
  t.notRegex(vm.clocksource ?? 'none', /jiffies|none/);
  t.true(existsSync(join(dir, 'vm-console.log')));
  // The shipped stacks put each lab host in a VM of its own (netlab:vm.hosts defaults to 2).
  t.is(vm.hosts, 2);
  {
    // Each lab host a VM of its own: the server VM booted the same kernel, the client reached its
    // agent, and both had their NICs on the taps (the wire and the control link).
    t.regex(vm.server?.release ?? '', release);
    t.is(result.serverHost?.kernel, vm.server?.release ?? undefined);
    t.true(existsSync(join(dir, 'vm-server-console.log')));
    for (const argv of [qemu, vm.server?.qemu ?? []]) t.is(argv.filter((a) => a === '-netdev').length, 2);
    // The host namespaces' eth0 are the two VMs' virtio NICs, each with the MAC its VM was given
    // (on one machine they would be the two ends of a veth pair).
    const state = JSON.parse(readFileSync(join(dir, 'raw', 'datapath-state.json'), 'utf8')) as Record<
      string,
      { links: { ifname: string; address: string; linkinfo: unknown; parentbus?: string }[] }
    >;
    const eth0 = (host: string) => state[host]!.links.find((l) => l.ifname === 'eth0')!;
    // (iproute2 names the parent bus, virtio, only on kernels since 5.15.)
    t.like(eth0('client'), { address: '0e:6e:6c:00:02:01' });
    t.like(eth0('server'), { address: '0e:6e:6c:00:02:02' });
    t.falsy(eth0('client').linkinfo ?? eth0('server').linkinfo, 'a veth has linkinfo (its kind); a NIC has none');
  }
  t.deepEqual(result.teardown?.left, []);
  // Nothing left here: the stack's namespaces, cgroup, run dir, state, and qemu and virtiofsd.
  await assertNothingLeft(t, stack);
  t.is(vmProcesses(stack), '');
  t.deepEqual(rootState(), before, 'the root namespace changed');
  return result;
}

serialIf(why('vm-proxy-ipvs'), 'vm-proxy-ipvs: IPVS mode programmed, checked through a ClusterIP and measured on kernel 6.1', async (t) => {
  const r = await runClean(t, 'vm-proxy-ipvs', /^6\.1\./);
  t.deepEqual(
    r.proxy?.programs.map((p) => [p.services, p.check.ok]),
    [
      [1, true],
      [100, true],
    ],
  );
  t.true(r.points.length > 0 && r.points.every((p) => p.status === 'ok'), JSON.stringify(r.points.map((p) => [p.id, p.status, p.reason])));
});

for (const [stack, release] of [
  ['vm-conn-reuse-5-10', /^5\.10\./],
  ['vm-conn-reuse-6-1', /^6\.1\./],
] as const)
  serialIf(why(stack), `${stack}: conn_reuse_mode 0 and 1 with a draining backend, traffic to it counted`, async (t) => {
    const r = await runClean(t, stack, release);
    const modes = r.points.map((p) => [p.params.connReuseMode, p.status, p.connReuse?.requestsToDrainedAfterRemoval]);
    t.deepEqual(
      r.points.map((p) => p.params.connReuseMode),
      [0, 1],
      JSON.stringify(modes),
    );
    for (const p of r.points) {
      t.truthy(p.connReuse, p.id);
      t.true(p.requests !== null && p.requests > 0, p.id);
    }
    // The kernel's behaviour E3 is about: with conn_reuse_mode 0, a new connection from a reused
    // source port follows IPVS's old entry to the drained (weight 0) backend; with 1, IPVS
    // schedules it afresh, so none reaches it (kernels since 5.9 do this also with conntrack on).
    const [mode0, mode1] = r.points;
    t.true(mode0!.connReuse!.requestsToDrainedAfterWeight0 > 0, JSON.stringify(mode0!.connReuse));
    t.is(mode1!.connReuse!.requestsToDrainedAfterWeight0, 0, JSON.stringify(mode1!.connReuse));
    t.log(JSON.stringify(r.points.map((p) => ({ mode: p.params.connReuseMode, ...p.connReuse, connectP99: p.rps?.connectMs.p99 }))));
  });

serialIf(why('vm-ipvlan'), 'vm-ipvlan: the ipvlan datapath built and measured on kernel 6.1', async (t) => {
  const r = await runClean(t, 'vm-ipvlan', /^6\.1\./);
  t.true(r.points.length === 2 && r.points.every((p) => p.status === 'ok'));
  t.true(r.setup!.checks.every((c) => c.ok));
});

/** `netlab up vm-ipvlan` started, and resolved once the guest has reported that it is up. */
async function startedGuest(t: ExecutionContext, until = /client VM up:/) {
  const child = spawn(process.execPath, [BIN, 'up', 'vm-ipvlan', '--results', results], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  const deadline = Date.now() + 120_000;
  while (!until.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.regex(out, until);
  return { child, exited, output: () => out };
}

serialIf(why('vm-ipvlan'), 'Ctrl-C while the guest runs: qemu and virtiofsd stopped, the result says interrupted, nothing left', async (t) => {
  t.timeout(5 * 60_000);
  const before = rootState();
  const g = await startedGuest(t);
  t.not(vmProcesses('vm-ipvlan'), '');
  g.child.kill('SIGINT');
  const code = await g.exited;
  t.not(code, 0, g.output());
  const { result } = lastResult('vm-ipvlan');
  t.is(result.status, 'interrupted');
  t.deepEqual(result.teardown?.left, []);
  await assertNothingLeft(t, 'vm-ipvlan');
  t.is(vmProcesses('vm-ipvlan'), '');
  t.deepEqual(rootState(), before, 'the root namespace changed');
});

serialIf(why('vm-ipvlan'), 'kill -9 of netlab while the guest runs: qemu goes on until netlab down stops it, then nothing is left', async (t) => {
  t.timeout(5 * 60_000);
  // Once the guest's own netlab has written its result (status running) and is building.
  const g = await startedGuest(t, /\[vm 6\.1 tcg\] building ipvlan datapath|\[vm 6\.1 kvm\] building ipvlan datapath/);
  g.child.kill('SIGKILL');
  await g.exited;
  t.not(vmProcesses('vm-ipvlan'), '', 'qemu and virtiofsd outlive a killed netlab (they are in the stack cgroup)');
  const down = spawnSync(process.execPath, [BIN, 'down', 'vm-ipvlan'], { cwd: PROJECT, encoding: 'utf8' });
  t.is(down.status, 0, down.stderr);
  // The namespace holding the two VMs' taps, and the cgroup holding qemu and virtiofsd.
  t.regex(down.stdout, /vm-ipvlan: removed 1 namespaces and 1 cgroups.*marked the unfinished run failed/);
  const { result } = lastResult('vm-ipvlan');
  t.is(result.status, 'failed');
  t.regex(result.error ?? '', /ended before the run finished/);
  await assertNothingLeft(t, 'vm-ipvlan');
  t.is(vmProcesses('vm-ipvlan'), '');
});
