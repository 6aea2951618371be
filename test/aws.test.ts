// The aws target without AWS: catalogue, validation, every generated host script (bash -n,
// shellcheck, and a real run of what can run here), result collection and the policy pack.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enhancedNetworking, hourlyCost, IMAGES, KERNELS } from '../lib/aws/catalogue.ts';
import { cniScript, ipvlanConflist, ipvlanHostScript, joinCommandScript, joinScript, kubeadmConfig, kubeadmInitScript } from '../lib/aws/cluster.ts';
import { readRunDir } from '../lib/aws/collect.ts';
import { awsPlan, isAwsSpec, renderAwsPlan } from '../lib/aws/plan.ts';
import { factsScript, kubePackagesScript, packagesScript, parseFacts, ttlHelper, ttlUserData, verifyScript, waitScript } from '../lib/aws/scripts.ts';
import { awsPrereqs, checkSweep, isPlaceholderCidr, PrereqError } from '../lib/aws/sweep.ts';
import { runScript, tuningScript, workloadManifest, workloadScript } from '../lib/aws/workload.ts';
import { parseTcpkali } from '../lib/parsers.ts';
import { specFromStackDoc, SpecError, type AwsSpec } from '../lib/spec.ts';
import { listStackNames, loadStack, PROJECT_DIR } from '../lib/stackfile.ts';
import { hostTuningScript } from '../components/aws/host-prep.ts';
import { maxHourlyCost, noWorldSsh, stackHourlyCost, ttlRequired } from '../policy/policies.ts';
import { assertGolden } from './helpers/golden.ts';

const FIX = join(PROJECT_DIR, 'test', 'fixtures');
const awsStacks = listStackNames().filter((n) => n.startsWith('aws-'));
const specOf = (n: string) => loadStack(n) as AwsSpec;
const doc = (config: Record<string, unknown>) => ({ config: Object.fromEntries(Object.entries(config).map(([k, v]) => [`netlab:${k}`, v])) });
const awsBase = { target: 'aws', datapath: 'vxlan', aws: { sshCidr: '198.18.0.0/24' } };
const problems = (config: Record<string, unknown>) => {
  try {
    specFromStackDoc('t', doc(config));
    return [];
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    return e.problems;
  }
};

/** A c4.8xlarge as its facts step would print it: the real lscpu -p of that type, 8 queues, IRQs 60-67. */
const C4_FACTS = `== kernel\n4.14.355-277.647.amzn2.x86_64\n== nic eth0\nrx 8\ntx 8\nirqs 60 61 62 63 64 65 66 67 \n== lscpu\n${readFileSync(join(FIX, 'tuning', 'c4.8xlarge.lscpu-p.txt'), 'utf8')}`;

test('catalogue: one public image line per kernel, its parameter naming the kernel; AL2 lines carry their end of support', (t) => {
  t.deepEqual([...KERNELS], ['4.14', '5.10', '6.1', '6.12']);
  for (const k of KERNELS) {
    const i = IMAGES[k];
    t.true(i.ssmParameter.startsWith('/aws/service/ami-amazon-linux-latest/'));
    t.is(i.unamePrefix, `${k}.`);
    if (k !== '4.14') t.true(i.ssmParameter.includes(`kernel-${k}-`), i.ssmParameter);
    if (i.os === 'amazon-linux-2') t.regex(i.note, /2026-06-30/);
  }
  t.is(IMAGES['4.14'].ssmParameter, '/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2');
});

test('catalogue: enhanced networking by family, unknown and arm64 refused', (t) => {
  t.like(enhancedNetworking('c4.8xlarge'), { kind: 'ixgbevf', driver: 'ixgbevf' });
  t.like(enhancedNetworking('m4.large'), { kind: 'ixgbevf' });
  t.like(enhancedNetworking('m4.16xlarge'), { kind: 'ena', driver: 'ena' });
  t.like(enhancedNetworking('c5n.9xlarge'), { kind: 'ena' });
  t.like(enhancedNetworking('r4.large'), { kind: 'ena' });
  t.like(enhancedNetworking('t2.micro'), { kind: 'none', driver: null });
  t.regex((enhancedNetworking('c6g.large') as { error: string }).error, /arm64/);
  t.regex((enhancedNetworking('q9.large') as { error: string }).error, /not in netlab's table/);
});

test('catalogue: hourly cost computed from the table (2 × instance + gp3 + public IPv4), overrides, and refusals', (t) => {
  const c = hourlyCost({ instanceType: 'c4.8xlarge', region: 'us-east-1', rootVolumeGb: 30, hosts: 2 });
  if ('error' in c) return t.fail(c.error);
  t.is(c.usdPerHour, Math.round((2 * (1.591 + (30 * 0.08) / 730 + 0.005)) * 10000) / 10000);
  t.is(c.usdPerHour, 3.1986);
  t.like(hourlyCost({ instanceType: 'z9.huge', region: 'us-east-1', rootVolumeGb: 30, hosts: 2, overrideUsdPerHour: 2 }), { usdPerHour: 4.0166 });
  t.regex((hourlyCost({ instanceType: 'z9.huge', region: 'us-east-1', rootVolumeGb: 30, hosts: 2 }) as { error: string }).error, /no price for z9.huge/);
  t.regex((hourlyCost({ instanceType: 'c4.8xlarge', region: 'eu-west-1', rootVolumeGb: 30, hosts: 2 }) as { error: string }).error, /for eu-west-1 set aws.hourlyPriceUsd/);
});

test('spec: target rules name the key, the value and what is allowed', (t) => {
  t.deepEqual(problems(awsBase), []);
  // The private key is a config secret the program reads itself, not a spec key.
  t.deepEqual(problems({ ...awsBase, sshPrivateKey: { secure: 'v1:abc' } }), []);
  t.false('sshPrivateKey' in specFromStackDoc('t', doc({ ...awsBase, sshPrivateKey: { secure: 'v1:abc' } })));
  t.regex(problems({ target: 'aws' }).join(), /netlab:aws = \(missing\): target aws needs netlab:aws with at least sshCidr/);
  t.regex(problems({ ...awsBase, aws: {} }).join(), /netlab:aws.sshCidr = \(missing\)/);
  t.regex(problems({ ...awsBase, aws: { sshCidr: '0.0.0.0/0' } }).join(), /netlab:aws.sshCidr = "0.0.0.0\/0": SSH open to the whole internet is refused/);
  t.regex(problems({ ...awsBase, datapath: 'macvlan' }).join(), /netlab:datapath = "macvlan": macvlan is an embedded-lab datapath; on aws expected one of: host, hostgw/);
  t.regex(problems({ datapath: 'cilium' }).join(), /netlab:datapath = "cilium": cilium needs a real cluster \(target aws\)/);
  t.regex(problems({ aws: { sshCidr: '198.18.0.0/24' } }).join(), /netlab:aws = .*only with target aws/);
  t.regex(problems({ workload: { tool: 'tcpkali' } }).join(), /netlab:workload.tool = "tcpkali": tcpkali is not packaged for Debian/);
  t.regex(problems({ ...awsBase, workload: { tool: 'rps' } }).join(), /netlab:workload.tool = "rps": rps is netlab's own Node client/);
  t.regex(problems({ ...awsBase, datapath: 'cilium', aws: { sshCidr: '198.18.0.0/24', kernel: '4.14' } }).join(), /netlab:aws.kernel = "4.14": Cilium 1.16 needs Linux 5.4/);
  t.regex(problems({ ...awsBase, proxy: { mode: 'ebpf' } }).join(), /netlab:proxy.mode = "ebpf": ebpf on aws is Cilium's kube-proxy replacement: set datapath: cilium/);
  t.regex(problems({ ...awsBase, proxy: { mode: 'nftables' }, aws: { sshCidr: '198.18.0.0/24', kernel: '5.10' } }).join(), /netlab:aws.kernel = "5.10": kube-proxy nftables mode needs Linux 5.13/);
  t.regex(problems({ ...awsBase, aws: { sshCidr: '198.18.0.0/24', maxHourlyUsd: 1 } }).join(), /netlab:aws.maxHourlyUsd = 1: the stack would cost about 3.20 USD per hour/);
  t.regex(problems({ ...awsBase, datapath: 'ipvlan', aws: { sshCidr: '198.18.0.0/24', serverPods: 40 } }).join(), /netlab:aws.serverPods = 40: ipvlan gives every server pod a secondary address.*30 addresses per interface/);
  t.regex(problems({ ...awsBase, aws: { sshCidr: '198.18.0.0/24', instanceType: 'c7g.large' } }).join(), /netlab:aws.instanceType = "c7g.large": .*arm64/);
  t.regex(problems({ ...awsBase, aws: { sshCidr: '198.18.0.0/24', kernel: 6.1 } }).join(), /netlab:aws.kernel = 6.1: expected one of: 4.14, 5.10, 6.1, 6.12 \(a quoted string in YAML\)/);
  t.regex(problems({ ...awsBase, aws: { sshCidr: '198.18.0.0/24', subnetCidr: '10.30.0.0/24' } }).join(), /netlab:aws.subnetCidr = "10.30.0.0\/24": must lie inside aws.vpcCidr/);
});

test('shipped aws stacks: E1, E2, E3, E4 all there and valid; the SSH range is a placeholder sweep refuses', (t) => {
  t.deepEqual(awsStacks, [
    'aws-e1-iptables', 'aws-e1-ipvs', 'aws-e1-nftables', 'aws-e2-aws-vpc', 'aws-e2-host', 'aws-e2-hostgw', 'aws-e2-ipvlan', 'aws-e2-vxlan',
    'aws-e3-ipvs-4-14', 'aws-e3-ipvs-6-1', 'aws-e4-cilium-ebpf', 'aws-e4-cilium-iptables',
  ]);
  for (const n of awsStacks) {
    const s = loadStack(n);
    t.true(isAwsSpec(s), n);
    t.true(isPlaceholderCidr(s.aws!.sshCidr), n);
    t.is(s.aws!.instanceType, 'c4.8xlarge');
  }
  t.deepEqual(specOf('aws-e2-vxlan').workload, { tool: 'tcpkali', rate: [50000, 150000, 250000, 350000, 450000], connections: 1000, threads: 0, durationSeconds: 60 });
  t.deepEqual(specOf('aws-e3-ipvs-4-14').proxy?.ipvs.connReuseMode, [0, 1]);
  t.is(specOf('aws-e3-ipvs-4-14').aws.kernel, '4.14');
  t.is(specOf('aws-e3-ipvs-6-1').aws.kernel, '6.1');
  t.false(isPlaceholderCidr('198.18.0.0/24'));
  t.true(isPlaceholderCidr('203.0.113.7/32'));
  const env = { env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', PULUMI_CONFIG_PASSPHRASE: '' }, pulumiVersion: () => 'v3.200.0', exists: () => false, home: '/nonexistent' };
  t.throws(() => checkSweep([loadStack('aws-e2-vxlan')], env), { message: /still the documentation placeholder in aws-e2-vxlan \(203.0.113.7\/32\)[\s\S]*pulumi config set --path 'netlab:aws.sshCidr'/ });
  t.throws(() => checkSweep([loadStack('local-host')], env), { message: /local-host is local \(use netlab up\)/ });
  const own = { ...specOf('aws-e2-vxlan'), aws: { ...specOf('aws-e2-vxlan').aws, sshCidr: '198.18.0.0/24' } };
  t.notThrows(() => checkSweep([own], env));
});

test('prerequisites: a missing Pulumi CLI, AWS credentials or passphrase is named with what to do', (t) => {
  const none = awsPrereqs({ env: {}, pulumiVersion: () => null, exists: () => false, home: '/h' });
  t.deepEqual(none.map((p) => [p.name, p.ok]), [['Pulumi CLI', false], ['AWS credentials', false], ['state passphrase', false]]);
  t.regex(none[0]!.detail, /no `pulumi` on PATH/);
  t.regex(none[1]!.detail, /AWS_ACCESS_KEY_ID/);
  t.regex(none[2]!.detail, /file:\/\/\/h\/.netlab\/pulumi-state.*PULUMI_CONFIG_PASSPHRASE/);
  const profile = awsPrereqs({ env: { AWS_PROFILE: 'lab', PULUMI_BACKEND_URL: 's3://b' }, pulumiVersion: () => 'v3', exists: (f) => f === '/h/.aws/credentials', home: '/h' });
  t.deepEqual(profile.map((p) => [p.name, p.ok, p.detail]), [['Pulumi CLI', true, 'v3'], ['AWS credentials', true, 'profile lab from /h/.aws/credentials'], ['state backend', true, 's3://b']]);
  const err = t.throws(() => checkSweep([{ ...specOf('aws-e2-vxlan'), aws: { ...specOf('aws-e2-vxlan').aws, sshCidr: '198.18.0.0/24' } }], { env: {}, pulumiVersion: () => null, exists: () => false, home: '/h' }));
  t.true(err instanceof PrereqError);
  t.regex(err!.message, /the aws target cannot run here:\n {2}- Pulumi CLI: no `pulumi` on PATH/);
});

test('netlab sweep and netlab up refuse here before anything: placeholder SSH range, then the missing CLI', (t) => {
  const r = spawnSync('node', [join(PROJECT_DIR, 'bin', 'netlab.js'), 'sweep', 'aws-e2-vxlan'], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.regex(r.stderr, /^netlab: netlab:aws.sshCidr is still the documentation placeholder/);
  const dir = mkdtempSync(join(tmpdir(), 'netlab-aws-'));
  const file = join(dir, 'Pulumi.mine.yaml');
  writeFileSync(file, readFileSync(join(PROJECT_DIR, 'stacks', 'Pulumi.aws-e2-vxlan.yaml'), 'utf8').replace('203.0.113.7/32', '198.18.0.0/24'));
  const u = spawnSync('node', [join(PROJECT_DIR, 'bin', 'netlab.js'), 'up', file], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: dir } });
  t.is(u.status, 2);
  t.regex(u.stderr, /the aws target cannot run here:\n {2}- Pulumi CLI: no `pulumi` on PATH[\s\S]*AWS credentials: none found/);
});

/** Every script an aws stack sends to its hosts, by name (the tuning script from c4.8xlarge facts). */
function scriptsOf(spec: AwsSpec): Record<string, string> {
  const plan = awsPlan(spec);
  const out: Record<string, string> = {
    'ttl-user-data': ttlUserData(spec.aws.ttlMinutes),
    'ttl-helper': ttlHelper(),
    wait: waitScript(),
    verify: verifyScript({ unamePrefix: plan.image.unamePrefix, driver: plan.networking.driver }),
    'packages-server': packagesScript({ image: plan.image, role: 'server', tools: ['ab'] }),
    'packages-client': packagesScript({ image: plan.image, role: 'client', tools: spec.workload.tool === 'tcpkali' ? ['tcpkali'] : ['ab'] }),
    facts: factsScript(),
    tuning: hostTuningScript(spec, C4_FACTS),
    'kube-packages': kubePackagesScript({ image: plan.image, kubernetesVersion: spec.aws.kubernetesVersion, ipvs: spec.proxy?.mode === 'ipvs' }),
    'kubeadm-init': kubeadmInitScript(plan.cluster),
    'join-command': joinCommandScript(),
    join: joinScript(),
    cni: cniScript(plan.cluster, { routeTableId: 'rtb-0123456789abcdef0' }),
    workload: workloadScript(workloadManifest(spec, { cpuAffinity: spec.tuning.pinning ? '10 100' : undefined })),
    run: runScript(spec, plan.points, { clientCpus: '0-8,18-26' }),
  };
  if (spec.datapath === 'ipvlan') {
    const ips = plan.hosts.server.secondaryIps;
    out['ipvlan-conf'] = ipvlanHostScript(ipvlanConflist({ subnetCidr: spec.aws.subnetCidr, gateway: plan.subnetGateway, first: ips[0]!, last: ips[ips.length - 1]! }));
  }
  return out;
}

test('every generated host script of every aws stack passes bash -n and shellcheck', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-scripts-'));
  const files: string[] = [];
  for (const n of awsStacks)
    for (const [name, text] of Object.entries(scriptsOf(specOf(n)))) {
      const f = join(dir, `${n}.${name}.sh`);
      writeFileSync(f, text);
      files.push(f);
      const syn = spawnSync('bash', ['-n', f], { encoding: 'utf8' });
      t.is(syn.status, 0, `${n} ${name}: ${syn.stderr}`);
    }
  const sc = spawnSync('shellcheck', ['--shell=bash', '--severity=warning', ...files], { encoding: 'utf8' });
  t.is(sc.status, 0, sc.stdout);
  t.log(`${files.length} scripts checked`);
});

test('aws-e2-vxlan: the plan and the whole script set, exactly (golden files)', (t) => {
  const spec = specOf('aws-e2-vxlan');
  assertGolden(t, join(FIX, 'aws', 'aws-e2-vxlan.plan.txt'), renderAwsPlan(awsPlan(spec)));
  const all = Object.entries(scriptsOf(spec)).map(([k, v]) => `######## ${k}\n${v}`).join('\n');
  assertGolden(t, join(FIX, 'aws', 'aws-e2-vxlan.scripts.txt'), all);
});

test('kubeadm configuration per proxy mode: kube-proxy mode and scheduler, or no kube-proxy for Cilium replacement', (t) => {
  const ipvs = kubeadmConfig(awsPlan(specOf('aws-e1-ipvs')).cluster);
  t.regex(ipvs, /kind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n {2}scheduler: rr\n/);
  t.regex(kubeadmConfig(awsPlan(specOf('aws-e1-nftables')).cluster), /mode: nftables\n/);
  const cilium = kubeadmConfig(awsPlan(specOf('aws-e4-cilium-ebpf')).cluster);
  t.regex(cilium, /skipPhases:\n {2}- addon\/kube-proxy\n/);
  t.notRegex(cilium, /KubeProxyConfiguration/);
  t.regex(cniScript(awsPlan(specOf('aws-e4-cilium-ebpf')).cluster, { routeTableId: 'r' }), /--set kubeProxyReplacement=true --set k8sServiceHost=10.20.1.10/);
  t.regex(cniScript(awsPlan(specOf('aws-e4-cilium-iptables')).cluster, { routeTableId: 'r' }), /--set kubeProxyReplacement=false/);
  t.regex(cniScript(awsPlan(specOf('aws-e2-aws-vpc')).cluster, { routeTableId: 'rtb-9' }), /"Backend":\{"Type":"aws-vpc","RouteTableID":"rtb-9"\}/);
  t.regex(cniScript(awsPlan(specOf('aws-e2-hostgw')).cluster, { routeTableId: 'r' }), /"Backend":\{"Type":"host-gw"\}/);
  // Source/dest check: off where pod addresses are routed as they are, on for encapsulation and ipvlan.
  t.deepEqual(Object.fromEntries(['aws-e2-host', 'aws-e2-hostgw', 'aws-e2-vxlan', 'aws-e2-aws-vpc', 'aws-e2-ipvlan', 'aws-e4-cilium-ebpf'].map((n) => [n, awsPlan(specOf(n)).sourceDestCheck])), {
    'aws-e2-host': false, 'aws-e2-hostgw': false, 'aws-e2-vxlan': true, 'aws-e2-aws-vpc': false, 'aws-e2-ipvlan': true, 'aws-e4-cilium-ebpf': false,
  });
  t.deepEqual(awsPlan(specOf('aws-e2-ipvlan')).hosts.server.secondaryIps, ['10.20.1.32', '10.20.1.33', '10.20.1.34']);
});

test('TTL helper, run for real with a stand-in shutdown: minutes left rounded up, past deadline = now, no deadline = error', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-ttl-'));
  const helper = join(dir, 'netlab-ttl');
  writeFileSync(helper, ttlHelper(), { mode: 0o755 });
  const fake = join(dir, 'shutdown');
  writeFileSync(fake, '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
  const runWith = (deadline: string) => {
    writeFileSync(join(dir, 'deadline'), deadline);
    return spawnSync(helper, { encoding: 'utf8', env: { PATH: process.env.PATH, NETLAB_TTL_FILE: join(dir, 'deadline'), NETLAB_SHUTDOWN: fake } });
  };
  const now = Math.floor(Date.now() / 1000);
  t.is(runWith(String(now + 170 * 60 + 5)).stdout, '-P +171 netlab: time-to-live reached\n');
  t.is(runWith(String(now - 10)).stdout, '-P now netlab: time-to-live reached\n');
  const bad = runWith('');
  t.is(bad.status, 1);
  t.regex(bad.stderr, /no deadline/);
  const ud = ttlUserData(180);
  t.regex(ud, /echo \$\(\( \$\(date \+%s\) \+ 180 \* 60 \)\) > \/etc\/netlab\/deadline/);
  t.regex(ud, /systemctl enable --now netlab-ttl.service/);
});

test('kernel and NIC check, run for real on this machine: passes as it is, fails naming both values otherwise', (t) => {
  const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  const dev = execFileSync('sh', ['-c', "ip -o route show default | awk '{print $5; exit}'"], { encoding: 'utf8' }).trim();
  if (!dev) return t.pass('no default route here: nothing to check against');
  let driver = 'none';
  try {
    driver = execFileSync('sh', ['-c', `basename "$(readlink -f /sys/class/net/${dev}/device/driver)"`], { encoding: 'utf8' }).trim();
  } catch {
    /* a virtual NIC without a driver link */
  }
  const run = (unamePrefix: string, drv: string | null) => spawnSync('bash', ['-c', verifyScript({ unamePrefix, driver: drv })], { encoding: 'utf8' });
  const ok = run(kernel.split('.').slice(0, 2).join('.') + '.', driver);
  t.is(ok.status, 0, ok.stderr);
  t.is(ok.stdout, `kernel ${kernel}; ${dev} driver ${driver}\n`);
  const k = run('4.14.', driver);
  t.is(k.status, 1);
  t.is(k.stderr, `netlab: running kernel ${kernel}, the spec asks for 4.14.x\n`);
  const d = run(kernel.split('.')[0] + '.', 'ixgbevf');
  t.is(d.status, 1);
  t.is(d.stderr, `netlab: ${dev} uses driver '${driver}', expected ixgbevf (enhanced networking of this instance type)\n`);
});

test('host facts, run for real here, parse into a tuning plan; c4.8xlarge facts give the study tuning script', (t) => {
  const text = execFileSync('bash', ['-c', factsScript()], { encoding: 'utf8' });
  const f = parseFacts(text);
  t.is(f.kernel, execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
  t.true(f.nic.rxQueues >= 1);
  t.regex(f.lscpu, /^0,0,0,0$/m);
  const c4 = parseFacts(C4_FACTS);
  t.deepEqual(c4.nic, { name: 'eth0', rxQueues: 8, txQueues: 8, irqs: [60, 61, 62, 63, 64, 65, 66, 67] });
  const script = hostTuningScript(specOf('aws-e2-vxlan'), C4_FACTS);
  t.regex(script, /^cmd irqAffinity 0 'irqbalance would move the pinned interrupts again' systemctl stop irqbalance$/m);
  t.regex(script, /^put irqAffinity \/proc\/irq\/60\/smp_affinity_list 0 0 /m);
  t.regex(script, /^put rps \/sys\/class\/net\/eth0\/queues\/rx-0\/rps_cpus 00000000,0003fdfe 0 /m);
  t.regex(script, /^skip net.ipv4.tcp_tw_recycle 'removed in Linux 4.12/m);
  t.regex(script, /^put kernel.sched_migration_cost_ns \/proc\/sys\/kernel\/sched_migration_cost_ns 10000000 1 /m);
  t.throws(() => parseFacts('== kernel\n6.1\n'), { message: /section "nic" missing/ });
});

test('tuning script, run for real against scratch files: writes read back, a failed step stops unless optional', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-tune-'));
  const ok = join(dir, 'ok');
  writeFileSync(ok, '0');
  const script = tuningScript([
    { kind: 'write', setting: 'rps', path: ok, value: '0003fdfe', optional: false, why: 'w' },
    { kind: 'write', setting: 'x', path: join(dir, 'no', 'such'), value: '1', optional: true, why: 'opt' },
    { kind: 'skip', setting: 'tuned', why: 'because' },
    { kind: 'write', setting: 'y', path: join(dir, 'no', 'such2'), value: '1', optional: false, why: 'hard' },
    { kind: 'write', setting: 'z', path: ok, value: 'never', optional: false, why: 'after the failure' },
  ]).replace('out=/var/lib/netlab/tuning.tsv\ninstall -d /var/lib/netlab', `out=${dir}/tuning.tsv`);
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  t.is(r.status, 1);
  t.regex(r.stderr, /netlab: tuning step y failed: .*no\/such2 \(make it optional with netlab:tuning.optional: \[y\]\)/);
  const rows = readFileSync(join(dir, 'tuning.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
  t.deepEqual(rows.map((x) => [x[0], x[1]]), [['applied', 'rps'], ['failed', 'x'], ['skipped', 'tuned'], ['failed', 'y']]);
  t.is(rows[0]![4], '0003fdfe');
  t.is(readFileSync(ok, 'utf8'), '0003fdfe');
});

test('tcpkali summary: bytes, duration and the asked percentiles', (t) => {
  const r = parseTcpkali(readFileSync(join(FIX, 'aws', 'tcpkali-q150000.txt'), 'utf8'));
  t.deepEqual(r, {
    sentBytes: 404_000_000,
    receivedBytes: 3_150_000_000,
    seconds: 60.0021,
    latencyMs: { 50: 0.4, 90: 0.5, 99: 0.7, 99.9: 1.6, 99.99: 4.2, 99.999: 9.8, 100: 21.3 },
  });
  t.throws(() => parseTcpkali('Total data sent: 1 bytes (1 bytes)\n'), { message: /Total data received/ });
});

test('collect: a run directory as the client leaves it becomes a valid result.json (kept-up rule, ab points, tuning steps)', (t) => {
  const spec = specOf('aws-e2-vxlan');
  const dir = mkdtempSync(join(tmpdir(), 'netlab-run-'));
  mkdirSync(join(dir, 'raw'));
  copyFileSync(join(FIX, 'aws', 'tcpkali-q150000.txt'), join(dir, 'raw', 'tcpkali-q150000-b350-r1.txt'));
  copyFileSync(join(FIX, 'aws', 'tcpkali-q150000.txt'), join(dir, 'raw', 'tcpkali-q250000-b350-r1.txt'));
  writeFileSync(join(dir, 'raw', 'tcpkali-q350000-b350-r1.txt'), 'tcpkali: connection refused\n');
  for (const f of ['tcpkali-q150000-b350-r1', 'tcpkali-q250000-b350-r1', 'tcpkali-q350000-b350-r1']) writeFileSync(join(dir, 'raw', `${f}.err`), '');
  const params = (rate: number) => JSON.stringify({ responseBytes: 350, keepalive: true, rate, connections: 1000, durationSeconds: 60 });
  writeFileSync(
    join(dir, 'points.tsv'),
    'id\ttool\trepetition\tparams\texit\twall_seconds\tservices_seconds\n' +
      `tcpkali-q150000-b350-r1\ttcpkali\t1\t${params(150000)}\t0\t61.2\t0\n` +
      `tcpkali-q250000-b350-r1\ttcpkali\t1\t${params(250000)}\t0\t61.3\t0\n` +
      `tcpkali-q350000-b350-r1\ttcpkali\t1\t${params(350000)}\t1\t0.2\t0\n`,
  );
  writeFileSync(join(dir, 'env.json'), JSON.stringify({ hostname: 'ip-10-20-1-11', kernel: '4.14.355-277.647.amzn2.x86_64', os: 'Amazon Linux 2', arch: 'x86_64', cpuModel: 'Intel(R) Xeon(R) CPU E5-2666 v3 @ 2.90GHz', cpus: 36, memoryBytes: 63_000_000_000, tools: { tcpkali: 'tcpkali version 1.1.1', ab: '', wrk: '', kubectl: 'v1.31.4' } }));
  writeFileSync(join(dir, 'tuning.tsv'), 'applied\trps\t/sys/class/net/eth0/queues/rx-0/rps_cpus\t0003fdfe\t0003fdfe\tRPS\nskipped\tnet.ipv4.tcp_tw_recycle\t\t\t\tremoved\n');
  const r = readRunDir(dir, spec, { runId: '20261121T101500Z', startedAt: '2026-11-21T10:15:00Z', finishedAt: '2026-11-21T10:40:00Z' });
  t.is(r.target, 'aws');
  t.is(r.status, 'ok');
  const [a, b, c] = r.points;
  // 3,150,000,000 B / 350 B = 9,000,000 responses in 60.0021 s = 149,995 req/s: held at 150k, not at 250k.
  t.like(a, { status: 'ok', requests: 9_000_000, latencyMs: { mean: null, p50: 0.4, p90: 0.5, p99: 0.7, p999: 1.6, max: 21.3 } });
  t.is(Math.round(a!.reqPerSec!), 149_995);
  t.like(b, { status: 'invalid', reason: 'did not keep up: 149995 of 250000 req/s' });
  t.like(c, { status: 'failed' });
  t.is(c!.reason!, 'tcpkali "Total data sent" not found in the tool\'s output; exit 1');
  t.deepEqual(r.tuning?.steps.map((s) => [s.status, s.kind, s.setting, s.got]), [['applied', 'write', 'rps', '0003fdfe'], ['skipped', 'skip', 'net.ipv4.tcp_tw_recycle', null]]);
  t.is(r.environment.tools.ab, null);
  t.deepEqual(a!.command.slice(0, 2), ['bash', '-c']);
  t.regex(a!.command[2]!, /^taskset -ac "\$CPUS" tcpkali --workers "\$NCPUS" --connections 1000 .*--message-rate 150 /);
});

test('policy pack: TTL, world SSH and hourly cost, each refused with the reason and passed when right', (t) => {
  const violations: string[] = [];
  const vr = (p: typeof ttlRequired) => p.validateResource as (a: never, r: (m: string) => void) => void;
  const report = (m: string) => void violations.push(m);
  const res = (type: string, props: Record<string, unknown>) => ({ type, props, urn: 'u', name: 'n', opts: {}, isType: () => false, asType: () => undefined, getConfig: () => ({}), notApplicable: () => {} }) as never;
  const good = { instanceType: 'c4.8xlarge', instanceInitiatedShutdownBehavior: 'terminate', userData: ttlUserData(60), tags: { 'netlab:ttl-minutes': '60' }, rootBlockDevice: { volumeSize: 30 }, associatePublicIpAddress: true };
  vr(ttlRequired)(res('aws:ec2/instance:Instance', good), report);
  t.deepEqual(violations, []);
  vr(ttlRequired)(res('aws:ec2/instance:Instance', { ...good, instanceInitiatedShutdownBehavior: 'stop', userData: '', tags: {} }), report);
  t.is(violations.length, 3);
  t.regex(violations[0]!, /not "terminate"/);
  violations.length = 0;
  vr(noWorldSsh)(res('aws:ec2/securityGroup:SecurityGroup', { ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: ['198.18.0.0/24'] }, { protocol: '-1', fromPort: 0, toPort: 0, self: true }] }), report);
  t.deepEqual(violations, []);
  vr(noWorldSsh)(res('aws:ec2/securityGroup:SecurityGroup', { ingress: [{ protocol: 'tcp', fromPort: 0, toPort: 1024, cidrBlocks: ['0.0.0.0/0'] }] }), report);
  vr(noWorldSsh)(res('aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule', { ipProtocol: '-1', cidrIpv6: '::/0' }), report);
  vr(noWorldSsh)(res('aws:ec2/securityGroup:SecurityGroup', { ingress: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'] }] }), report);
  t.is(violations.length, 2);
  t.regex(violations[0]!, /opens SSH to the whole internet/);
  violations.length = 0;
  const two = [res('aws:ec2/instance:Instance', good), res('aws:ec2/instance:Instance', good)] as never[];
  t.is(Math.round(stackHourlyCost(two).usd * 10000) / 10000, 3.1986);
  const stack = (config: Record<string, unknown>, resources: never[]) => ({ resources, getConfig: () => config }) as never;
  maxHourlyCost.validateStack!(stack({ maxHourlyUsd: 4 }, two), report);
  t.deepEqual(violations, []);
  maxHourlyCost.validateStack!(stack({ maxHourlyUsd: 3 }, two), report);
  maxHourlyCost.validateStack!(stack({}, [res('aws:ec2/instance:Instance', { ...good, instanceType: 'z9.huge' })] as never[]), report);
  t.deepEqual(violations, ['estimated 3.20 USD per hour is above the limit of 3.00 (pack config maxHourlyUsd)', "no price for z9.huge in netlab's table: set the pack's hourlyPriceUsd so the cost can be checked"]);
});
