// netlab:vm without booting anything: validation (each refusal names its key), qemu's and
// virtiofsd's exact command lines, what a missing cache is called, and how the guest's console is
// read. The guests boot for real in test/integration/vm.test.ts.
import test from 'ava';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_LINES, pairNet, pairNetSetup, qemuArgv, tscKhzOf, vmCache, virtiofsdArgv } from '../../../lib/vm/qemu.ts';
import { guestSaid, guestStackProblem, isVmSpec, launchOf, vmMissing, type VmSpec } from '../../../lib/vm/run.ts';
import { loadStack } from '../../../lib/spec/stackfile.ts';
import { problemsOf, specOfConfig } from '../../helpers/spec.ts';
import { tempDir } from '../../helpers/tmp.ts';

const base = { target: 'local', datapath: 'hostgw', vm: { kernel: '6.1' } };

test('validation: vm is for target local, its kernel is one of three, and what the guest cannot do is refused naming the key', (t) => {
  t.deepEqual(problemsOf(base), []);
  t.deepEqual(problemsOf({ ...base, vm: { kernel: '4.14' } }), ['netlab:vm.kernel = "4.14": expected one of: 5.10, 6.1, 6.12 (a quoted string in YAML)']);
  t.deepEqual(problemsOf({ ...base, vm: { kernel: '6.1', accel: 'hvf' } }), ['netlab:vm.accel = "hvf": expected one of: auto, kvm, tcg']);
  t.deepEqual(problemsOf({ ...base, vm: {} }), ['netlab:vm.kernel = (missing): expected one of: 5.10, 6.1, 6.12 (a quoted string in YAML)']);
  // kube-proxy's nftables mode needs 5.13: refused on 5.10 before anything boots.
  t.deepEqual(problemsOf({ ...base, vm: { kernel: '5.10' }, proxy: { mode: 'nftables', services: 1 } }), [
    'netlab:vm.kernel = "5.10": kube-proxy nftables mode needs Linux 5.13 or newer: use kernel 6.1 or 6.12',
  ]);
  t.deepEqual(problemsOf({ ...base, vm: { kernel: '6.1' }, proxy: { mode: 'nftables', services: 1 } }), []);
  t.deepEqual(problemsOf({ ...base, proxy: { mode: 'ebpf', services: 1 } }), [
    `netlab:proxy.mode = "ebpf": the vm hosts' Debian root has no clang or bpftool to build the eBPF proxy: run mode ebpf on this machine (remove netlab:vm)`,
  ]);
  t.deepEqual(problemsOf({ ...base, tuning: { profile: 'study' } }), [
    `netlab:tuning = "study": host tuning pins IRQs and CPUs of this machine's NICs and cores; a VM's virtual ones would measure qemu: remove netlab:tuning or netlab:vm`,
  ]);
  const ssh = problemsOf({
    target: 'ssh',
    datapath: 'hostgw',
    vm: { kernel: '6.1' },
    ssh: { hosts: { server: { address: '10.0.0.10' }, client: { address: '10.0.0.11' } } },
  });
  t.true(
    ssh.includes(
      `netlab:vm = {"kernel":"6.1","accel":"auto","memoryMiB":2048,"cpus":2,"timeoutMinutes":30,...: only with target local (the embedded lab inside a microVM); this stack's target is ssh`,
    ),
    ssh.join('\n'),
  );
});

test('the shipped vm stacks validate, and a stack with vm is run by the vm runner except inside the guest', (t) => {
  for (const name of ['vm-host', 'vm-ipvlan', 'vm-proxy-ipvs', 'vm-conn-reuse-5-10', 'vm-conn-reuse-6-1']) {
    const spec = loadStack(name);
    t.truthy(spec.vm, name);
    const guest = process.env.NETLAB_VM_GUEST;
    delete process.env.NETLAB_VM_GUEST;
    t.true(isVmSpec(spec), name);
    process.env.NETLAB_VM_GUEST = '1';
    t.false(isVmSpec(spec), `${name} inside the guest runs as the embedded lab`);
    if (guest === undefined) delete process.env.NETLAB_VM_GUEST;
    else process.env.NETLAB_VM_GUEST = guest;
  }
  t.false(isVmSpec(loadStack('local-hostgw')));
});

test("qemu's and virtiofsd's command lines", (t) => {
  const c = vmCache('/c');
  const argv = qemuArgv({
    qemu: 'qemu-system-x86_64',
    accel: 'tcg',
    kernel: '5.10',
    kernelDir: c.kernelDir('5.10'),
    rootfs: c.rootfs,
    memoryMiB: 2048,
    cpus: 2,
    shares: [
      { tag: 'cache', dir: '/c', socket: '/run/netlab/s/vm/cache.sock' },
      { tag: 'results', dir: '/r', socket: '/run/netlab/s/vm/results.sock' },
    ],
    args: { stack: 's' },
  });
  t.deepEqual(argv, [
    'qemu-system-x86_64',
    '-M',
    'microvm,pit=on,pic=on,rtc=on,memory-backend=mem',
    '-global',
    'virtio-mmio.force-legacy=false',
    '-accel',
    'tcg',
    '-cpu',
    'Nehalem',
    '-smp',
    '2',
    '-m',
    '2048M',
    '-object',
    'memory-backend-memfd,id=mem,size=2048M,share=on',
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-serial',
    'stdio',
    '-kernel',
    '/c/vm/kernel-5.10/vmlinuz',
    '-initrd',
    '/c/vm/kernel-5.10/initrd.img',
    '-append',
    'console=ttyS0 quiet panic=-1 netlab.stack=s netlab.kernel=5.10 netlab.root=vm/rootfs nopti',
    '-chardev',
    'socket,id=fs0,path=/run/netlab/s/vm/cache.sock',
    '-device',
    'vhost-user-fs-device,chardev=fs0,tag=cache',
    '-chardev',
    'socket,id=fs1,path=/run/netlab/s/vm/results.sock',
    '-device',
    'vhost-user-fs-device,chardev=fs1,tag=results',
  ]);
  // KVM takes the host's CPU model.
  t.is(qemuArgv({ qemu: 'q', accel: 'kvm', kernel: '6.1', kernelDir: '/k', rootfs: '-', memoryMiB: 256, cpus: 1, shares: [], args: {} })[8], 'host');
  t.deepEqual(virtiofsdArgv('/usr/lib/qemu/virtiofsd', { tag: 'project', dir: '/p', socket: '/s.sock' }), [
    '/usr/lib/qemu/virtiofsd',
    '--socket-path=/s.sock',
    '-o',
    'source=/p',
    '-o',
    'cache=auto',
  ]);
});

test('two VMs: the wire and the control link are taps on bridges in a lab namespace, and each VM is told its role and NICs', (t) => {
  t.deepEqual(problemsOf({ ...base, vm: { kernel: '6.1', hosts: 3 } }), ['netlab:vm.hosts = 3: expected 1 (both hosts in one VM) or 2 (a VM per host)']);
  t.deepEqual(problemsOf({ ...base, datapathImplementation: 'flannel', vm: { kernel: '6.1', hosts: 2 } }), [
    "netlab:vm.hosts = 2: the real flannel's control plane runs in a namespace of the client host, which the server host's flanneld cannot reach from a VM of its own: use netlab:vm.hosts: 1, or datapathImplementation: model",
  ]);
  t.deepEqual(problemsOf({ ...base, datapathImplementation: 'flannel', vm: { kernel: '6.1', hosts: 1 } }), []);
  const net = pairNet('netlab.s.vm', 1500);
  t.deepEqual(pairNetSetup(net), [
    ['ip', 'netns', 'add', 'netlab.s.vm'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'add', 'wire', 'mtu', '1500', 'type', 'bridge'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'add', 'ctl', 'mtu', '1500', 'type', 'bridge'],
    ['ip', '-n', 'netlab.s.vm', 'tuntap', 'add', 'mode', 'tap', 'name', 'c-wire'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'set', 'c-wire', 'mtu', '1500', 'master', 'wire', 'up'],
    ['ip', '-n', 'netlab.s.vm', 'tuntap', 'add', 'mode', 'tap', 'name', 'c-ctl'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'set', 'c-ctl', 'mtu', '1500', 'master', 'ctl', 'up'],
    ['ip', '-n', 'netlab.s.vm', 'tuntap', 'add', 'mode', 'tap', 'name', 's-wire'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'set', 's-wire', 'mtu', '1500', 'master', 'wire', 'up'],
    ['ip', '-n', 'netlab.s.vm', 'tuntap', 'add', 'mode', 'tap', 'name', 's-ctl'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'set', 's-ctl', 'mtu', '1500', 'master', 'ctl', 'up'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'set', 'wire', 'up'],
    ['ip', '-n', 'netlab.s.vm', 'link', 'set', 'ctl', 'up'],
  ]);
  const spec = specOfConfig({ ...base, vm: { kernel: '6.1' } }) as VmSpec;
  t.is(spec.vm.hosts, 2);
  const dirs = { cache: '/c', project: '/p', results: '/r' };
  const common = { accel: 'tcg' as const, cacheRoot: '/c', sockDir: '/run/netlab/s/vm', dirs, net, entry: '/e.js', runId: 'r1' };
  const server = qemuArgv(launchOf(spec, { ...common, role: 'server' }));
  const client = qemuArgv(launchOf(spec, { ...common, role: 'client' }));
  // The server VM runs the agent (no run id); the client VM is told where the agent is.
  t.regex(
    server[server.indexOf('-append') + 1]!,
    /netlab\.entry=\/e\.js netlab\.role=server netlab\.wire=0e:6e:6c:00:02:02 netlab\.ctl=0e:6e:6c:00:03:02 netlab\.ctlip=169\.254\.77\.2\/30 /,
  );
  t.notRegex(server.join(' '), /runid|netlab\.peer/);
  t.regex(
    client[client.indexOf('-append') + 1]!,
    /netlab\.runid=r1 netlab\.entry=\/e\.js netlab\.role=client netlab\.wire=0e:6e:6c:00:02:01 netlab\.ctl=0e:6e:6c:00:03:01 netlab\.ctlip=169\.254\.77\.1\/30 netlab\.peer=169\.254\.77\.2 /,
  );
  t.deepEqual(client.slice(-8), [
    '-netdev',
    'tap,id=wire,ifname=c-wire,script=no,downscript=no',
    '-device',
    'virtio-net-device,netdev=wire,mac=0e:6e:6c:00:02:01',
    '-netdev',
    'tap,id=ctl,ifname=c-ctl,script=no,downscript=no',
    '-device',
    'virtio-net-device,netdev=ctl,mac=0e:6e:6c:00:03:01',
  ]);
  // Each VM has its own virtiofsd per share.
  t.true(server.includes('socket,id=fs0,path=/run/netlab/s/vm/server-cache.sock'));
  t.true(client.includes('socket,id=fs2,path=/run/netlab/s/vm/client-results.sock'));
  // One VM: no NIC at all, and the shares as before.
  const one = qemuArgv(launchOf(spec, { ...common, role: null, net: null }));
  t.false(one.includes('-netdev'));
  t.true(one.includes('socket,id=fs0,path=/run/netlab/s/vm/cache.sock'));
});

test("a stack whose file is not the project's is refused before anything boots: the guest runs it by name from stacks/", (t) => {
  const spec = loadStack('vm-ipvlan') as VmSpec;
  t.is(guestStackProblem(spec), null);
  const dir = tempDir('netlab-vm-stacks-');
  // No file of that name where the guest looks.
  t.is(
    guestStackProblem(spec, dir),
    `netlab:vm: the guest runs ${dir}/Pulumi.vm-ipvlan.yaml (the project's stacks are the only ones it sees), and there is none: copy the stack file to ${dir}/Pulumi.vm-ipvlan.yaml`,
  );
  // A file of that name that says something else (another stack file given by path).
  writeFileSync(join(dir, 'Pulumi.vm-ipvlan.yaml'), 'config:\n  netlab:vm:\n    kernel: "5.10"\n');
  t.regex(guestStackProblem(spec, dir) ?? '', /which differs from the stack given: copy the stack file to/);
  writeFileSync(join(dir, 'Pulumi.vm-ipvlan.yaml'), 'config:\n  netlab:vm:\n    kernel: "9"\n');
  t.regex(guestStackProblem(spec, dir) ?? '', /and that file is refused: .*: copy the stack file to/);
});

test('a missing cache is named with the command that fills it', (t) => {
  const dir = tempDir('netlab-vm-');
  try {
    const spec = specOfConfig<VmSpec>({ ...base, vm: { kernel: '6.12' } });
    const out = vmMissing(spec, dir);
    t.true(out.includes(`netlab:vm.kernel = 6.12: ${dir}/vm/kernel-6.12/vmlinuz missing; run: bash scripts/install-vm.sh 6.12`), out.join('\n'));
    t.true(out.includes(`netlab:vm: the guests' Debian root (${dir}/vm/rootfs) missing; run: bash scripts/install-vm.sh 6.12`));
    t.true(out.includes(`netlab:vm: the guests' copy of Node (${dir}/vm/node/node) missing; run: bash scripts/install-vm.sh 6.12`));
    // Filled, only the host programs can still be missing.
    const k = join(dir, 'vm', 'kernel-6.12');
    mkdirSync(k, { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img', 'package', 'release']) writeFileSync(join(k, f), 'x');
    mkdirSync(join(dir, 'vm', 'rootfs', 'usr', 'sbin'), { recursive: true });
    writeFileSync(join(dir, 'vm', 'rootfs', 'usr', 'sbin', 'ipvsadm'), '');
    mkdirSync(join(dir, 'vm', 'node'), { recursive: true });
    writeFileSync(join(dir, 'vm', 'node', 'node'), '');
    t.deepEqual(
      vmMissing(spec, dir).filter((m) => !/qemu-system-x86_64 missing|virtiofsd missing/.test(m)),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the guest's console: its status lines, and what netlab said after its last progress line", (t) => {
  t.deepEqual(GUEST_LINES.ready.exec('netlab-vm-ready: 6.1.0-50-cloud-amd64 7.88 tsc')?.slice(1), ['6.1.0-50-cloud-amd64', '7.88', 'tsc']);
  t.is(GUEST_LINES.exit.exec('netlab-vm-exit: 2')?.[1], '2');
  t.is(GUEST_LINES.exit.exec('netlab-vm-exit: '), null);
  const lines = [
    '[    0.509864] PCI: Fatal: No config space access function found',
    'netlab-vm-ready: 6.1.0-50-cloud-amd64 7.79 tsc',
    '09:54:32 vm-ipvlan: checking kernel features and tools',
    '[   43.375882] p0: Device is already in use.',
    'netlab: stack vm-ipvlan cannot run on this machine; nothing was changed:',
    '  - needs the tool "curl" (Debian package curl); run: npm run deps',
    'netlab-vm-exit: 2',
    '[   49.237652] sysrq: Power Off',
  ];
  t.is(
    guestSaid(lines),
    'netlab: stack vm-ipvlan cannot run on this machine; nothing was changed: - needs the tool "curl" (Debian package curl); run: npm run deps',
  );
  t.is(guestSaid(lines.slice(0, 3)), '(it printed nothing more; see vm-console.log)');
});

test("a TCG guest is given this machine's TSC rate only where that rate is fixed and trusted", (t) => {
  const cpuinfo = (flags: string) => `processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2445.424\nflags\t\t: fpu tsc ${flags} rdtsc\n`;
  t.is(tscKhzOf(cpuinfo('constant_tsc nonstop_tsc'), 'tsc\n', false), 2445424);
  t.is(tscKhzOf(cpuinfo('constant_tsc'), 'tsc\n', false), null, 'a TSC that stops in deep idle');
  t.is(tscKhzOf(cpuinfo('constant_tsc nonstop_tsc'), 'hpet\n', false), null, 'a TSC the kernel does not trust');
  t.is(tscKhzOf(cpuinfo('constant_tsc nonstop_tsc'), 'tsc\n', true), null, 'with cpufreq, cpu MHz is the current clock, not the TSC');
  const tcg = (tscKhz: number | null) =>
    qemuArgv({ qemu: 'q', accel: 'tcg', kernel: '6.1', kernelDir: '/k', rootfs: 'r', memoryMiB: 256, cpus: 1, shares: [], args: {}, tscKhz }).at(-1);
  t.is(tcg(2445424), 'console=ttyS0 quiet panic=-1 netlab.kernel=6.1 netlab.root=r tsc_early_khz=2445424 tsc=reliable nopti');
  t.is(tcg(null), 'console=ttyS0 quiet panic=-1 netlab.kernel=6.1 netlab.root=r nopti');
  // KVM guests keep kvm-clock: the rate is never passed.
  t.is(
    qemuArgv({ qemu: 'q', accel: 'kvm', kernel: '6.1', kernelDir: '/k', rootfs: 'r', memoryMiB: 256, cpus: 1, shares: [], args: {}, tscKhz: 2445424 }).at(-1),
    'console=ttyS0 quiet panic=-1 netlab.kernel=6.1 netlab.root=r',
  );
});
