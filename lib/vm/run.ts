// netlab:vm: one `netlab up` of a local stack inside a microVM of the stack's kernel. This side
// starts three virtiofsd (the netlab cache, the project and the results folder), then qemu, all in
// the stack's cgroup, so the one teardown (lib/local/state.ts) stops them after a success, a failure,
// Ctrl-C, or `netlab down` after a crash; the guest (lib/vm/guest-init.sh) runs the stack and
// powers off. Nothing is created in the root namespace: the guest has no network device at all.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cgroupBase, nsPrefix, runDirOf } from '../core/names.ts';
import { inCgroup } from '../core/netns.ts';
import { makeDir, writeFileAtomic } from '../core/files.ts';
import { SYSTEM_PATH } from '../core/exec.ts';
import { BUNDLE_DIR, guestBundle } from './bundle.ts';
import { toolsCache, PROJECT_DIR } from '../core/project.ts';
import { RESULT_SCHEMA_ID, type RunResult } from '../results/result.ts';
import { type Spec, VM_KERNELS, type VmKernel } from '../spec/schema.ts';
import { acquireLock, cgroupRoot, listNamespaces, teardownStack, type TeardownReport, writeState } from '../local/state.ts';
import { environment, newRunId, PreflightError, type UpOptions, type UpOutcome } from '../local/run.ts';
import { hostTscKhz, probeAccel } from './accel.ts';
import { type Accel, GUEST_LINES, qemuArgv, vmCache, vmShares, virtiofsdArgv } from './qemu.ts';

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
    writeState({ stack, pid: process.pid, runId, startedAt, runDir, namespaces: [], cgroups: [cg], kept: false, resultFile: file });
    mkdirSync(cg);
    const shares = vmShares(sockDir, { cache: cacheRoot, project: PROJECT_DIR, results: resultsRoot });
    const lines: string[] = [];
    let td: TeardownReport | null = null;
    let ready: { release: string; seconds: number; clocksource: string } | null = null;
    let exitStatus: number | null = null;
    let guestError: string | null = null;
    let hostError: string | null = null;
    let qemuStderr = '';
    let qemuCommand: string[] | null = null;
    const t0 = Date.now();
    type Outcome = 'ended' | 'timeout' | 'no-boot' | 'interrupted';
    let outcome = 'ended' as Outcome;
    try {
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
      qemuCommand = qemuArgv({
        qemu: QEMU,
        accel,
        kernel: k,
        kernelDir: c.kernelDir(k),
        rootfs: c.rootfs,
        memoryMiB: spec.vm.memoryMiB,
        cpus: spec.vm.cpus,
        shares,
        args: { stack, runid: runId, entry },
        tscKhz: hostTscKhz(),
      });
      const argv = inCgroup(cg, qemuCommand);
      progress({ stack, phase: 'setup', text: `booting kernel ${k} (${accel}, ${spec.vm.cpus} vCPU, ${spec.vm.memoryMiB} MiB)` });
      const qemu = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { PATH: SYSTEM_PATH } });
      qemu.stderr.setEncoding('utf8').on('data', (d: string) => (qemuStderr += d));
      createInterface({ input: qemu.stdout }).on('line', (raw) => {
        const line = raw.replace(/\r$/, '');
        lines.push(line);
        let m: RegExpExecArray | null;
        if ((m = GUEST_LINES.ready.exec(line))) {
          ready = { release: m[1]!, seconds: (Date.now() - t0) / 1000, clocksource: m[3]! };
          progress({ stack, phase: 'setup', text: `guest up: ${m[1]} in ${ready.seconds.toFixed(1)} s (${accel}, clock source ${m[3]})` });
        } else if ((m = GUEST_LINES.exit.exec(line))) exitStatus = Number(m[1]);
        else if ((m = GUEST_LINES.error.exec(line))) guestError = m[1]!;
        else if ((m = PROGRESS.exec(line)) && m[1] === `${stack}`)
          progress({ stack, phase: /^removing/.test(m[2]!) ? 'teardown' : 'load', text: `[vm ${k} ${accel}] ${m[2]}` });
      });
      const limitMs = spec.vm.timeoutMinutes * 60_000;
      outcome = await new Promise<Outcome>((resolve) => {
        let why: Outcome = 'ended';
        const stop = (w: Outcome) => {
          why = w;
          qemu.kill('SIGTERM');
          setTimeout(() => qemu.kill('SIGKILL'), 3000).unref();
        };
        const timer = setTimeout(() => stop('timeout'), limitMs);
        // The guest's init reports within seconds (about 8 s under TCG here); one that has not
        // after BOOT_SECONDS hangs, and waiting the whole run's limit would say nothing more.
        const bootTimer = setTimeout(() => ready === null && stop('no-boot'), BOOT_SECONDS * 1000);
        const onAbort = () => stop('interrupted');
        signal?.addEventListener('abort', onAbort, { once: true });
        qemu.on('close', () => {
          clearTimeout(timer);
          clearTimeout(bootTimer);
          signal?.removeEventListener('abort', onAbort);
          resolve(why);
        });
        qemu.on('error', () => resolve('ended'));
      });
    } catch (e) {
      // qemu or virtiofsd could not be started: recorded as the run's failure, after the teardown.
      hostError = (e as Error).message;
    } finally {
      progress({ stack, phase: 'teardown', text: 'stopping qemu and virtiofsd, removing the cgroup and sockets' });
      td = await teardownStack(stack, { cgroups: [cg] });
    }
    const guestSeconds = (Date.now() - t0) / 1000;
    const written = existsSync(file);
    makeDir(dir);
    writeFileSync(join(dir, 'vm-console.log'), `${lines.join('\n')}\n${qemuStderr ? `--- qemu stderr ---\n${qemuStderr}` : ''}`);
    const host = await environment();
    const booted = ready as { release: string; seconds: number; clocksource: string } | null;
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
      ...(qemuCommand ? { qemu: qemuCommand } : {}),
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

/** `netlab plan` of a vm stack: the VM's commands on this machine, before the plan the guest runs. */
export function renderVmPlan(spec: VmSpec, cacheRoot = vmCacheRoot()): string {
  const c = vmCache(cacheRoot);
  const sock = join(runDirOf(spec.name), 'vm');
  const shares = vmShares(sock, { cache: cacheRoot, project: PROJECT_DIR, results: '<results>' });
  const accel = spec.vm.accel === 'auto' ? 'kvm|tcg' : spec.vm.accel;
  const qemu = qemuArgv({
    qemu: QEMU,
    accel: (spec.vm.accel === 'auto' ? 'tcg' : spec.vm.accel) as Accel,
    kernel: spec.vm.kernel,
    kernelDir: c.kernelDir(spec.vm.kernel),
    rootfs: c.rootfs,
    memoryMiB: spec.vm.memoryMiB,
    cpus: spec.vm.cpus,
    shares,
    args: { stack: spec.name, entry: `${BUNDLE_DIR}/<hash>/netlab.js` },
  });
  const lines = [
    `# netlab:vm: the plan below runs inside a microVM of Debian's ${spec.vm.kernel} kernel (accelerator ${accel}${spec.vm.accel === 'auto' ? ': kvm when a probe guest boots with it' : ''})`,
    '## this machine: in cgroup ' + cgroupBase(cgroupRoot() ?? '/sys/fs/cgroup', spec.name),
    ...shares.map((s) => `  ${virtiofsdArgv(VIRTIOFSD[0]!, s).join(' ')} &`),
    `  ${qemu.join(' ')}`,
    `## the guest (lib/vm/guest-init.sh): netlab up ${spec.name} --results /netlab/results, then power-off; netlab.entry is the bundle of lib/vm/bundle.ts, made before boot`,
    '',
  ];
  return lines.join('\n');
}
