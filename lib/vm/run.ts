// netlab:vm: one `netlab up` of a local stack inside a microVM of the stack's kernel. This side
// starts three virtiofsd (the netlab cache, the project and the results folder), then qemu, all in
// the stack's cgroup, so the one teardown (lib/local/state.ts) stops them after a success, a failure,
// Ctrl-C, or `netlab down` after a crash; the guest (lib/vm/guest-init.sh) runs the stack and
// powers off. With netlab:vm.hosts: 2 there are two VMs, one per lab host, each with its own three
// virtiofsd, and their NICs are taps on bridges inside a lab namespace (`netlab.<stack>.vm`).
// Nothing is created in the root namespace.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cgroupBase, nsPrefix, runDirOf } from '../core/names.ts';
import { inCgroup, inNs } from '../core/netns.ts';
import { AGENT } from './agent.ts';
import { makeDir, writeFileAtomic } from '../core/files.ts';
import { run, SYSTEM_PATH } from '../core/exec.ts';
import { BUNDLE_DIR, guestBundle } from './bundle.ts';
import { toolsCache, PROJECT_DIR } from '../core/project.ts';
import { RESULT_SCHEMA_ID, type RunResult } from '../results/result.ts';
import { type Spec, VM_KERNELS, type VmKernel } from '../spec/schema.ts';
import { loadStack, STACKS_DIR } from '../spec/stackfile.ts';
import { acquireLock, cgroupRoot, listNamespaces, teardownStack, type TeardownReport, writeState } from '../local/state.ts';
import { environment, newRunId, PreflightError, type UpOptions, type UpOutcome } from '../local/run.ts';
import { hostTscKhz, probeAccel } from './accel.ts';
import {
  type Accel,
  type VmLaunch,
  GUEST_LINES,
  type PairNet,
  pairNet,
  pairNetSetup,
  qemuArgv,
  vmCache,
  vmShares,
  virtiofsdArgv,
  type VmRole,
} from './qemu.ts';

export type VmSpec = Spec & { vm: NonNullable<Spec['vm']> };
export const isVmSpec = (s: Spec): s is VmSpec => s.target === 'local' && !!s.vm && !process.env.NETLAB_VM_GUEST;

/** The netlab cache the guest sees: the parent of the tools cache (~/.cache/netlab). */
export const vmCacheRoot = (env: NodeJS.ProcessEnv = process.env) => join(toolsCache(env), '..');

const QEMU = 'qemu-system-x86_64';
/** Where Debian's qemu puts virtiofsd (the C one, in qemu-system-common) and where the Rust one goes. */
const VIRTIOFSD = ['/usr/lib/qemu/virtiofsd', '/usr/libexec/virtiofsd'];

const onPath = (name: string) => SYSTEM_PATH.split(':').find((d) => existsSync(join(d, name)));

/** What a vm stack needs on this machine, each missing piece named with the command that adds it. */
export function vmMissing(spec: VmSpec, cacheRoot = vmCacheRoot()): string[] {
  const c = vmCache(cacheRoot);
  const k = spec.vm.kernel;
  const install = `run: bash scripts/install-vm.sh ${k}`;
  const out: string[] = [];
  if (!onPath(QEMU)) out.push(`netlab:vm: ${QEMU} missing (Debian package qemu-system-x86); ${install}`);
  if (!VIRTIOFSD.some((p) => existsSync(p))) out.push(`netlab:vm: virtiofsd missing (${VIRTIOFSD.join(' or ')}); ${install}`);
  for (const f of ['vmlinuz', 'initrd.img', 'package', 'release'])
    if (!existsSync(join(c.kernelDir(k), f))) out.push(`netlab:vm.kernel = ${k}: ${join(c.kernelDir(k), f)} missing; ${install}`);
  if (!existsSync(join(cacheRoot, c.rootfs, 'usr/sbin/ipvsadm')))
    out.push(`netlab:vm: the guests' Debian root (${join(cacheRoot, c.rootfs)}) missing; ${install}`);
  if (!existsSync(c.node)) out.push(`netlab:vm: the guests' copy of Node (${c.node}) missing; ${install}`);
  return out;
}

/**
 * The guest runs the stack by name from the project's stacks folder, the only one it sees (the
 * project share). A stack given as a file elsewhere, or one that differs from the project's file of
 * that name, would run as something else there: refused before anything boots.
 */
export function guestStackProblem(spec: VmSpec, stacksDir = STACKS_DIR): string | null {
  const there = join(stacksDir, `Pulumi.${spec.name}.yaml`);
  const copy = `copy the stack file to ${there}`;
  let inGuest: Spec;
  try {
    inGuest = loadStack(there, stacksDir);
  } catch (e) {
    return `netlab:vm: the guest runs ${there} (the project's stacks are the only ones it sees), and ${existsSync(there) ? `that file is refused: ${(e as Error).message.split('\n')[0]}` : 'there is none'}: ${copy}`;
  }
  return JSON.stringify(inGuest) === JSON.stringify(spec)
    ? null
    : `netlab:vm: the guest runs ${there} (the project's stacks are the only ones it sees), which differs from the stack given: ${copy}`;
}

/** The accelerator a stack gets: kvm only where a probe guest boots under it; auto falls back to tcg. */
export async function chooseAccel(spec: VmSpec, cacheRoot = vmCacheRoot()): Promise<{ accel: Accel; why: string }> {
  if (spec.vm.accel === 'tcg') return { accel: 'tcg', why: 'netlab:vm.accel = tcg' };
  const kvm = await probeAccel('kvm', { qemu: QEMU, kernel: spec.vm.kernel, kernelDir: vmCache(cacheRoot).kernelDir(spec.vm.kernel) });
  if (kvm.ok) return { accel: 'kvm', why: kvm.detail };
  if (spec.vm.accel === 'kvm') throw new PreflightError(spec.name, [`netlab:vm.accel = kvm, but KVM does not work here: ${kvm.detail}`]);
  return { accel: 'tcg', why: `KVM does not work here (${kvm.detail}); emulating with TCG` };
}

/** What netlab printed in the guest after its last progress line (a refusal, an error), in one line. */
export function guestSaid(lines: string[]): string {
  const own = lines.filter((l) => !/^\[\s*\d+\.\d+\]/.test(l) && !/^netlab-vm-/.test(l));
  const last = own.map((l) => PROGRESS.test(l)).lastIndexOf(true);
  const tail = own
    .slice(last + 1)
    .map((l) => l.trim())
    .filter(Boolean);
  return tail.length ? tail.join(' ').slice(0, 2000) : '(it printed nothing more; see vm-console.log)';
}

/** A stack's VMs: with hosts 2, a client and a server VM and the taps between them in `netlab.<stack>.vm`; else one VM (role null). */
export function layoutOf(spec: VmSpec): { net: PairNet | null; roles: (VmRole | null)[] } {
  const net = spec.vm.hosts === 2 ? pairNet(`${nsPrefix(spec.name)}vm`, spec.network.underlayMtu) : null;
  return { net, roles: net ? ['client', 'server'] : [null] };
}

/** One VM of a run, as its console reports it. */
interface Guest {
  /** Which lab host it is (two VMs), or null: both hosts are namespaces inside it. */
  role: VmRole | null;
  lines: string[];
  ready: { release: string; seconds: number; clocksource: string } | null;
  exitStatus: number | null;
  error: string | null;
  stderr: string;
  qemu: string[] | null;
}

/** The kernel command-line words that tell a VM of a pair which host it is and where its NICs are (lib/vm/guest-init.sh). */
export function pairArgs(net: PairNet, role: VmRole): Record<string, string> {
  const [wire, ctl] = net.nics[role];
  return {
    role,
    wire: wire!.mac,
    ctl: ctl!.mac,
    ctlip: `${role === 'client' ? AGENT.clientIp : AGENT.serverIp}/${AGENT.prefix}`,
    ...(role === 'client' ? { peer: AGENT.serverIp } : {}),
  };
}

/** Seconds a guest may take to report that its init has its root (lib/vm/guest-init.sh). */
export const BOOT_SECONDS = 120;

/** The guest's progress lines (`hh:mm:ss <stack>: text`) without their clock. */
const PROGRESS = /^\d\d:\d\d:\d\d (\S+): (.*)$/;

export async function upVm(spec: VmSpec, opts: UpOptions = {}): Promise<UpOutcome> {
  const { signal } = opts;
  const progress = opts.progress ?? (() => {});
  const stack = spec.name;
  const cacheRoot = vmCacheRoot();
  const c = vmCache(cacheRoot);
  const k = spec.vm.kernel;
  progress({ stack, phase: 'preflight', text: `checking qemu, virtiofsd and the cached kernel ${k}` });
  const problems = vmMissing(spec, cacheRoot);
  const file = guestStackProblem(spec);
  if (file) problems.push(file);
  if (opts.keep) problems.push('--keep: a vm stack cannot be kept up (the VM powers off when its run ends); inspect it with a stack without netlab:vm');
  if (problems.length) throw new PreflightError(stack, problems);
  const { accel, why } = await chooseAccel(spec, cacheRoot);
  progress({ stack, phase: 'preflight', text: `accelerator ${accel}: ${why}` });

  const root = cgroupRoot();
  if (!root) throw new PreflightError(stack, ['no cgroup2 mount: the vm runner keeps qemu and virtiofsd in a cgroup so every teardown stops them']);
  const releaseLock = acquireLock(stack);
  try {
    const cg = cgroupBase(root, stack);
    const leftovers = [...(await listNamespaces(nsPrefix(stack))), ...(existsSync(cg) ? [cg] : [])];
    if (leftovers.length)
      throw new PreflightError(stack, [
        `it is already up (${leftovers.join('; ')}), or a crashed run left that behind; remove it first with: netlab down ${stack}`,
      ]);
    const resultsRoot = opts.resultsRoot ?? join(PROJECT_DIR, 'results');
    const stackResults = join(resultsRoot, stack);
    makeDir(stackResults);
    // The guest's run writes its result here, under the id chosen now (lib/local/run.ts takes it
    // from the kernel command line), so the state names the file `netlab down` marks failed.
    const runId = newRunId();
    const dir = join(stackResults, runId);
    const file = join(dir, 'result.json');
    const runDir = runDirOf(stack);
    const sockDir = join(runDir, 'vm');
    const startedAt = new Date().toISOString();
    mkdirSync(sockDir, { recursive: true });
    // Two VMs: the taps and bridges between them live in this lab namespace, which every teardown removes.
    const { net, roles } = layoutOf(spec);
    const namespaces = net ? [net.netns] : [];
    writeState({ stack, pid: process.pid, runId, startedAt, runDir, namespaces, cgroups: [cg], kept: false, resultFile: file });
    mkdirSync(cg);
    const dirs = { cache: cacheRoot, project: PROJECT_DIR, results: resultsRoot };
    const guests: Guest[] = roles.map((role) => ({ role, lines: [], ready: null, exitStatus: null, error: null, stderr: '', qemu: null }));
    const client = guests[0]!;
    const server = guests[1] ?? null;
    let td: TeardownReport | null = null;
    let hostError: string | null = null;
    const t0 = Date.now();
    type Outcome = 'ended' | 'timeout' | 'no-boot' | 'interrupted';
    let outcome = 'ended' as Outcome;
    try {
      if (net) {
        progress({ stack, phase: 'setup', text: `the wire between the two VMs: taps on bridges in namespace ${net.netns}` });
        for (const argv of pairNetSetup(net)) await run(argv, { timeoutMs: 20_000 });
      }
      const shares = roles.flatMap((role) => vmShares(sockDir, dirs, role ?? undefined));
      const virtiofsd = VIRTIOFSD.find((p) => existsSync(p))!;
      for (const s of shares) {
        const argv = inCgroup(cg, virtiofsdArgv(virtiofsd, s));
        spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true, env: { PATH: SYSTEM_PATH } }).unref();
      }
      // virtiofsd is ready once its socket exists (bounded).
      for (let i = 0; i < 100 && !shares.every((s) => existsSync(s.socket)); i++) await new Promise((r) => setTimeout(r, 50));
      const absent = shares.filter((s) => !existsSync(s.socket));
      if (absent.length) throw new Error(`virtiofsd did not open ${absent.map((s) => s.socket).join(', ')} within 5 s`);

      progress({ stack, phase: 'setup', text: 'bundling netlab for the guest (esbuild)' });
      const entry = await guestBundle();
      const procs = guests.map((g) => {
        g.qemu = qemuArgv(launchOf(spec, { accel, cacheRoot, sockDir, dirs, role: g.role, net, entry, runId, tscKhz: hostTscKhz() }));
        const argv = inCgroup(cg, net ? inNs(net.netns, ...g.qemu) : g.qemu);
        const name = g.role ? `the ${g.role} VM` : 'kernel';
        progress({
          stack,
          phase: 'setup',
          text: `booting ${name === 'kernel' ? `kernel ${k}` : `${name} (kernel ${k})`} (${accel}, ${spec.vm.cpus} vCPU, ${spec.vm.memoryMiB} MiB)`,
        });
        const qemu = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { PATH: SYSTEM_PATH } });
        qemu.stderr.setEncoding('utf8').on('data', (d: string) => (g.stderr += d));
        createInterface({ input: qemu.stdout }).on('line', (raw) => {
          const line = raw.replace(/\r$/, '');
          g.lines.push(line);
          let m: RegExpExecArray | null;
          if ((m = GUEST_LINES.ready.exec(line))) {
            g.ready = { release: m[1]!, seconds: (Date.now() - t0) / 1000, clocksource: m[3]! };
            progress({
              stack,
              phase: 'setup',
              text: `${g.role ? `${g.role} VM` : 'guest'} up: ${m[1]} in ${g.ready.seconds.toFixed(1)} s (${accel}, clock source ${m[3]})`,
            });
          } else if ((m = GUEST_LINES.exit.exec(line))) g.exitStatus = Number(m[1]);
          else if ((m = GUEST_LINES.error.exec(line))) g.error = m[1]!;
          else if (g !== server && (m = PROGRESS.exec(line)) && m[1] === `${stack}`)
            progress({ stack, phase: /^removing/.test(m[2]!) ? 'teardown' : 'load', text: `[vm ${k} ${accel}] ${m[2]}` });
        });
        return qemu;
      });
      const limitMs = spec.vm.timeoutMinutes * 60_000;
      // The run ends with the client's (or the one) VM; a server VM is then powered off from here.
      const main = procs[0]!;
      outcome = await new Promise<Outcome>((resolve) => {
        let why: Outcome = 'ended';
        const kill = (q: (typeof procs)[number]) => {
          q.kill('SIGTERM');
          setTimeout(() => q.kill('SIGKILL'), 3000).unref();
        };
        const stop = (w: Outcome) => {
          why = w;
          procs.forEach(kill);
        };
        const timer = setTimeout(() => stop('timeout'), limitMs);
        // The guest's init reports within seconds (about 8 s under TCG here); one that has not
        // after BOOT_SECONDS hangs, and waiting the whole run's limit would say nothing more.
        const bootTimer = setTimeout(() => guests.some((g) => g.ready === null) && stop('no-boot'), BOOT_SECONDS * 1000);
        const onAbort = () => stop('interrupted');
        signal?.addEventListener('abort', onAbort, { once: true });
        main.on('close', () => {
          clearTimeout(timer);
          clearTimeout(bootTimer);
          signal?.removeEventListener('abort', onAbort);
          procs.slice(1).forEach(kill);
          resolve(why);
        });
        main.on('error', () => resolve('ended'));
      });
    } catch (e) {
      // qemu, virtiofsd or the wire could not be started: recorded as the run's failure, after the teardown.
      hostError = (e as Error).message;
    } finally {
      progress({ stack, phase: 'teardown', text: `stopping qemu and virtiofsd, removing the cgroup and sockets${net ? ` and ${net.netns}` : ''}` });
      td = await teardownStack(stack, { cgroups: [cg], namespaces });
    }
    const guestSeconds = (Date.now() - t0) / 1000;
    const written = existsSync(file);
    makeDir(dir);
    for (const g of guests)
      writeFileSync(
        join(dir, g === server ? 'vm-server-console.log' : 'vm-console.log'),
        `${g.lines.join('\n')}\n${g.stderr ? `--- qemu stderr ---\n${g.stderr}` : ''}`,
      );
    const { lines, exitStatus, stderr: qemuStderr } = client;
    const guestError = [client.error, server?.error ? `the server VM: ${server.error}` : null].filter(Boolean).join('; ') || null;
    const host = await environment();
    const booted = client.ready;
    const vm: NonNullable<RunResult['vm']> = {
      kernel: k,
      release: booted?.release ?? null,
      package: readFileSync(join(c.kernelDir(k), 'package'), 'utf8').trim(),
      accel,
      comparable: accel === 'kvm',
      host: { hostname: host.hostname, kernel: host.kernel, cpuModel: host.cpuModel, cpus: host.cpus },
      bootSeconds: booted?.seconds ?? null,
      clocksource: booted?.clocksource ?? null,
      guestSeconds,
      exitStatus,
      memoryMiB: spec.vm.memoryMiB,
      cpus: spec.vm.cpus,
      ...(client.qemu ? { qemu: client.qemu } : {}),
      hosts: net ? 2 : 1,
      ...(net && server
        ? {
            wire: `taps ${net.nics.client[0]!.tap} and ${net.nics.server[0]!.tap} on bridge wire (MTU ${net.mtu}); control link on bridge ctl; in namespace ${net.netns}`,
            server: {
              release: server.ready?.release ?? null,
              bootSeconds: server.ready?.seconds ?? null,
              exitStatus: server.exitStatus,
              ...(server.qemu ? { qemu: server.qemu } : {}),
            },
          }
        : {}),
    };
    // The guest's own result, with what only this side knows; or, when the guest never wrote one,
    // a failed result that says why.
    let result: RunResult;
    if (written) result = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
    else
      result = {
        schema: RESULT_SCHEMA_ID,
        runId,
        stack,
        target: spec.target,
        status: 'failed',
        startedAt,
        finishedAt: null,
        spec: { ...spec },
        environment: host,
        setup: null,
        teardown: null,
        datapath: { name: spec.datapath, implementation: 'model' },
        proxy: null,
        points: [],
      };
    result.vm = vm;
    // The guest's teardown (its namespaces) stays; this side's (qemu, virtiofsd, the cgroup, the
    // sockets) is added to it.
    if (td) {
      vm.teardownSeconds = td.seconds;
      result.teardown = {
        seconds: (result.teardown?.seconds ?? 0) + td.seconds,
        by: 'run',
        left: [...(result.teardown?.left ?? []), ...td.left],
      };
    }
    const problems: string[] = [];
    if (outcome === 'timeout') problems.push(`the VM ran longer than netlab:vm.timeoutMinutes (${spec.vm.timeoutMinutes}) and was stopped`);
    if (outcome === 'no-boot') problems.push(`the guest did not come up within ${BOOT_SECONDS} s (see vm-console.log)`);
    if (outcome === 'interrupted') {
      result.status = 'interrupted';
      problems.push('interrupted');
    }
    if (hostError) problems.push(`the VM could not be started: ${hostError}`);
    if (guestError) problems.push(`the guest failed: ${guestError}`);
    if (server && !server.ready && outcome === 'ended' && !hostError)
      problems.push(`the server VM never came up${server.stderr.trim() ? `: ${server.stderr.trim().split('\n').at(-1)}` : ''} (see vm-server-console.log)`);
    if (!booted && outcome === 'ended' && !hostError)
      problems.push(`the guest never came up${qemuStderr.trim() ? `: ${qemuStderr.trim().split('\n').at(-1)}` : ''} (see vm-console.log)`);
    // netlab up refused or failed in the guest before it wrote a result: its own words say why.
    if (!written && exitStatus !== null && exitStatus !== 0) problems.push(`netlab up in the guest ended with status ${exitStatus}: ${guestSaid(lines)}`);
    if (booted && exitStatus === null && outcome === 'ended') problems.push('the guest powered off without reporting how netlab up ended (see vm-console.log)');
    if (td?.left.length) problems.push(`teardown left something on this machine (netlab down ${stack} retries): ${td.left.join('; ')}`);
    if (problems.length) {
      if (result.status !== 'interrupted') result.status = 'failed';
      result.error = [result.error, ...problems].filter(Boolean).join('; ');
    } else if (result.status === 'running') {
      result.status = 'failed';
      result.error = 'the guest left its result running (it stopped before finishing; see vm-console.log)';
    }
    result.finishedAt ??= new Date().toISOString();
    writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n');
    progress({ stack, phase: 'done', text: `${result.status}: ${dir}` });
    return { result, dir };
  } finally {
    releaseLock();
  }
}

export interface VmDoctor {
  /** Each accelerator, probed by booting a guest under it (KVM first). */
  accels: { accel: Accel; ok: boolean; detail: string }[];
  /** Each kernel series: its cached Debian package, or what is missing. */
  kernels: { kernel: VmKernel; package: string | null; detail: string }[];
}

/** netlab doctor's vm part: whether KVM works (and why not), whether TCG does, and the cached kernels. */
export async function vmDoctor(cacheRoot = vmCacheRoot()): Promise<VmDoctor> {
  const c = vmCache(cacheRoot);
  const kernels = VM_KERNELS.map((k) => {
    const file = join(c.kernelDir(k), 'package');
    return existsSync(file)
      ? { kernel: k, package: readFileSync(file, 'utf8').trim(), detail: `cached in ${c.kernelDir(k)}` }
      : { kernel: k, package: null, detail: `not cached: bash scripts/install-vm.sh ${k}` };
  });
  const probeWith = kernels.find((x) => x.package)?.kernel ?? '6.1';
  const accels: VmDoctor['accels'] = [];
  for (const accel of ['kvm', 'tcg'] as const) {
    if (!onPath(QEMU)) {
      accels.push({ accel, ok: false, detail: `${QEMU} missing: bash scripts/install-vm.sh` });
      continue;
    }
    const r = await probeAccel(accel, { qemu: QEMU, kernel: probeWith, kernelDir: c.kernelDir(probeWith) });
    accels.push({ accel, ok: r.ok, detail: r.detail });
  }
  return { accels, kernels };
}

/** What one VM of a run boots with: the kernel, the root, its shares and, with two VMs, its role and NICs. */
export function launchOf(
  spec: VmSpec,
  o: {
    accel: Accel;
    cacheRoot: string;
    sockDir: string;
    dirs: { cache: string; project: string; results: string };
    role: VmRole | null;
    net: PairNet | null;
    entry: string;
    runId?: string;
    tscKhz?: number | null;
  },
): VmLaunch {
  const c = vmCache(o.cacheRoot);
  const pair = o.net && o.role ? { role: o.role, net: o.net } : null;
  return {
    qemu: QEMU,
    accel: o.accel,
    kernel: spec.vm.kernel,
    kernelDir: c.kernelDir(spec.vm.kernel),
    rootfs: c.rootfs,
    memoryMiB: spec.vm.memoryMiB,
    cpus: spec.vm.cpus,
    shares: vmShares(o.sockDir, o.dirs, o.role ?? undefined),
    // The server VM runs the agent, not the stack: the run id is the client's.
    args: { stack: spec.name, ...(o.runId && o.role !== 'server' ? { runid: o.runId } : {}), entry: o.entry, ...(pair ? pairArgs(pair.net, pair.role) : {}) },
    ...(pair ? { nics: pair.net.nics[pair.role] } : {}),
    ...(o.tscKhz ? { tscKhz: o.tscKhz } : {}),
  };
}

/** `netlab plan` of a vm stack: the VMs' commands on this machine, before the plan the client guest runs. */
export function renderVmPlan(spec: VmSpec, cacheRoot = vmCacheRoot()): string {
  const sockDir = join(runDirOf(spec.name), 'vm');
  const dirs = { cache: cacheRoot, project: PROJECT_DIR, results: '<results>' };
  const accel = spec.vm.accel === 'auto' ? 'kvm|tcg' : spec.vm.accel;
  const { net, roles } = layoutOf(spec);
  const lines = [
    `# netlab:vm: the plan below runs inside ${net ? 'two microVMs, one per lab host,' : 'a microVM'} of Debian's ${spec.vm.kernel} kernel (accelerator ${accel}${spec.vm.accel === 'auto' ? ': kvm when a probe guest boots with it' : ''})`,
    '## this machine: in cgroup ' + cgroupBase(cgroupRoot() ?? '/sys/fs/cgroup', spec.name),
    ...(net ? pairNetSetup(net).map((argv) => `  ${argv.join(' ')}`) : []),
  ];
  for (const role of roles) {
    const l = launchOf(spec, {
      accel: (spec.vm.accel === 'auto' ? 'tcg' : spec.vm.accel) as Accel,
      cacheRoot,
      sockDir,
      dirs,
      role,
      net,
      entry: `${BUNDLE_DIR}/<hash>/netlab.js`,
    });
    if (role) lines.push(`# the ${role} VM`);
    lines.push(...l.shares.map((s) => `  ${virtiofsdArgv(VIRTIOFSD[0]!, s).join(' ')} &`));
    lines.push(`  ${(net ? inNs(net.netns, ...qemuArgv(l)) : qemuArgv(l)).join(' ')}${role === 'server' ? ' &' : ''}`);
  }
  lines.push(
    net
      ? `## the guests (lib/vm/guest-init.sh): the server VM starts netlab's agent on the control link (${AGENT.serverIp}:${AGENT.port}); the client VM runs netlab up ${spec.name} --results /netlab/results, its plan's server steps going to the agent; it then powers off and this side stops the server VM`
      : `## the guest (lib/vm/guest-init.sh): netlab up ${spec.name} --results /netlab/results, then power-off`,
    '# netlab.entry is the bundle of lib/vm/bundle.ts, made before boot',
    '',
  );
  return lines.join('\n');
}
