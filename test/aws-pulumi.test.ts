// The aws program under pulumi.runtime.setMocks (no Pulumi CLI, no AWS): for every shipped aws
// stack, the resource graph it declares — instances, placement, image, security group, TTL, the
// remote steps and their scripts — and the policy pack run over it.
import test from 'ava';
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { awsPlan } from '../lib/aws/plan.ts';
import { listStackNames, loadStack, PROJECT_DIR } from '../lib/stackfile.ts';
import type { AwsSpec } from '../lib/spec.ts';
import { maxHourlyCost, noWorldSsh, ttlRequired } from '../policy/policies.ts';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const registered: Registered[] = [];
const FIX = join(PROJECT_DIR, 'test', 'fixtures');
const C4_FACTS = `== kernel\n4.14.355-277.647.amzn2.x86_64\n== nic eth0\nrx 8\ntx 8\nirqs 60 61 62 63 64 65 66 67 \n== lscpu\n${readFileSync(join(FIX, 'tuning', 'c4.8xlarge.lscpu-p.txt'), 'utf8')}`;
let amiAttrs = { enaSupport: true, sriovNetSupport: 'simple' };

function stdoutFor(name: string): string {
  if (name.endsWith('-facts')) return C4_FACTS;
  if (name.endsWith('-join-command')) return 'kubeadm join 10.20.1.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00\n';
  if (name.endsWith('-kubeconfig')) return 'apiVersion: v1\nkind: Config\n';
  if (name.endsWith('-run')) return 'netlab: point x\nnetlab-run: /var/lib/netlab/runs/20261121T101500Z.tgz\n';
  if (name.endsWith('-collect')) return '/srv/netlab/results/x/20261121T101500Z\n';
  return '';
}

await pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      registered.push({ type: a.type, name: a.name, inputs: a.inputs });
      const extra: Record<string, unknown> = {};
      if (a.type.startsWith('command:')) extra.stdout = stdoutFor(a.name);
      if (a.type === 'aws:ec2/instance:Instance') extra.publicIp = a.name.endsWith('server') ? '198.51.100.10' : '198.51.100.11';
      if (a.type === 'tls:index/privateKey:PrivateKey') Object.assign(extra, { privateKeyOpenssh: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n', publicKeyOpenssh: 'ssh-ed25519 AAAA netlab' });
      if (a.type === 'aws:ec2/placementGroup:PlacementGroup') extra.name = `${a.name}-pg`;
      return { id: `${a.name}-id`, state: { ...a.inputs, ...extra } };
    },
    call: (a) => {
      if (a.token === 'aws:ssm/getParameter:getParameter') return { ...a.inputs, value: 'ami-0123456789abcdef0' };
      if (a.token === 'aws:ec2/getAmi:getAmi') return { id: 'ami-0123456789abcdef0', ...amiAttrs };
      return a.inputs;
    },
  },
  'netlab',
  'aws-mocked',
  false,
);
const { AwsExperiment } = await import('../components/aws/experiment.ts');
const { checkAmiNetworking } = await import('../components/aws/host-pair.ts');

const out = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply(r));
const stacks = listStackNames().filter((n) => n.startsWith('aws-'));
const withMySsh = (n: string): AwsSpec => {
  const s = loadStack(n) as AwsSpec;
  return { ...s, aws: { ...s.aws, sshCidr: '198.18.0.0/24' } };
};

const built = new Map<string, Registered[]>();
let buildMs = 0;
test.before(async () => {
  const t0 = performance.now();
  for (const n of stacks) {
    const from = registered.length;
    const e = new AwsExperiment(n, { spec: withMySsh(n), projectDir: '/srv/netlab' });
    await out(e.resultDir); // the last output: every resource before it has registered
    await new Promise((r) => setTimeout(r, 20));
    built.set(n, registered.slice(from).filter((r) => r.name.startsWith(n)));
  }
  buildMs = performance.now() - t0;
});

test('graphs of all aws stacks build under mocks (time logged, not asserted)', (t) => {
  t.is(built.size, 12);
  t.log(`${stacks.length} aws stacks, ${[...built.values()].reduce((s, r) => s + r.length, 0)} resources, ${buildMs.toFixed(0)} ms`);
});

for (const n of stacks)
  test(`${n}: instances, placement, image, security group, TTL, steps and policies`, async (t) => {
    const rs = built.get(n)!;
    const spec = withMySsh(n);
    const plan = awsPlan(spec);
    const of = (type: string) => rs.filter((r) => r.type === type);
    const instances = of('aws:ec2/instance:Instance');
    t.is(instances.length, 2);
    for (const i of instances) {
      t.like(i.inputs, {
        instanceType: 'c4.8xlarge',
        ami: 'ami-0123456789abcdef0',
        instanceInitiatedShutdownBehavior: 'terminate',
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled' },
        sourceDestCheck: plan.sourceDestCheck,
        placementGroup: `${n}-net-pg-pg`,
        availabilityZone: 'us-east-1a',
        rootBlockDevice: { volumeType: 'gp3', encrypted: true, deleteOnTermination: true },
      });
      t.true(String(i.inputs.userData).includes(`+ ${spec.aws.ttlMinutes} * 60`));
      t.is((i.inputs.tags as Record<string, string>)['netlab:stack'], n);
    }
    t.deepEqual(instances.map((i) => i.inputs.privateIp).sort(), ['10.20.1.10', '10.20.1.11']);
    if (spec.datapath === 'ipvlan') t.deepEqual(instances.find((i) => i.name.endsWith('server'))!.inputs.secondaryPrivateIps, plan.hosts.server.secondaryIps);
    t.like(of('aws:ec2/placementGroup:PlacementGroup')[0]?.inputs, { strategy: 'cluster' });
    const sg = of('aws:ec2/securityGroup:SecurityGroup')[0]!.inputs as { ingress: { fromPort: number; toPort: number; cidrBlocks?: string[]; self?: boolean }[] };
    t.deepEqual(sg.ingress.map((r) => [r.fromPort, r.toPort, r.cidrBlocks ?? [], !!r.self]), [[22, 22, ['198.18.0.0/24'], false], [0, 0, [], true]]);
    t.is(of('aws:iam/role:Role').length, spec.datapath === 'aws-vpc' ? 1 : 0);
    // The remote steps, per host, exactly the plan's.
    const remote = of('command:remote:Command').map((r) => r.name.slice(n.length + 1));
    const expected = plan.steps.map((s) => {
      if (['wait', 'verify', 'packages', 'facts', 'tuning', 'kube-packages'].includes(s.name)) return `prep-${s.host}-${s.name}`;
      if (['workload', 'run'].includes(s.name)) return `workload-${s.name}`;
      return s.name === 'ipvlan-conf' ? `cluster-ipvlan-conf-${s.host}` : `cluster-${s.name}`;
    });
    t.deepEqual([...remote].sort(), [...expected].sort());
    // Secret inputs reach the mocks wrapped ({ <secret signature>, value }).
    const unwrap = (v: unknown) => (v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v);
    const stdin = (suffix: string) => String(unwrap(rs.find((r) => r.name === `${n}-${suffix}`)?.inputs.stdin) ?? '');
    for (const r of of('command:remote:Command')) t.is(r.inputs.create, 'sudo bash -s');
    t.regex(stdin('prep-server-verify'), /want_kernel=4\.14\.|want_kernel=6\.1\./);
    t.regex(stdin('prep-server-verify'), /ixgbevf\) ;;/);
    if (spec.tuning.profile === 'study') t.regex(stdin('prep-server-tuning'), /^put rps \/sys\/class\/net\/eth0\/queues\/rx-7\/rps_cpus 00000000,0003fdfe 0 /m);
    else t.notRegex(stdin('prep-server-tuning'), /^put /m);
    t.regex(stdin('cluster-kubeadm-init'), new RegExp(`podSubnet: ${spec.network.podCidr.replace(/\./g, '\\.')}`));
    t.regex(stdin('cluster-join'), /^NETLAB_JOIN='kubeadm join 10\.20\.1\.10:6443 --token abcdef/m);
    t.regex(stdin('workload-run'), new RegExp(`^ID=${plan.points[0]!.id}; `, 'm'));
    t.is(stdin('workload-run').match(/^point /gm)?.length, plan.points.length);
    const collect = rs.find((r) => r.name === `${n}-workload-collect`)!;
    t.regex(String(collect.inputs.create), new RegExp(`^node /srv/netlab/bin/netlab\\.js collect ${n} --host 198\\.51\\.100\\.11 --user ec2-user `));
    // The policy pack passes the stack as built.
    const violations: string[] = [];
    const report = (m: string) => void violations.push(`${m}`);
    for (const r of rs) {
      const args = { type: r.type, props: r.inputs, urn: r.name, name: r.name } as never;
      (ttlRequired.validateResource as (a: never, rep: (m: string) => void) => void)(args, report);
      (noWorldSsh.validateResource as (a: never, rep: (m: string) => void) => void)(args, report);
    }
    maxHourlyCost.validateStack!({ resources: rs.map((r) => ({ type: r.type, props: r.inputs })), getConfig: () => ({ maxHourlyUsd: spec.aws.maxHourlyUsd }) } as never, report);
    t.deepEqual(violations, []);
  });

test('an AMI without the family\'s enhanced networking stops the preview with the reason', (t) => {
  const plan = awsPlan(withMySsh('aws-e2-vxlan'));
  t.is(checkAmiNetworking(plan, { id: 'ami-1', enaSupport: false, sriovNetSupport: 'simple' }), 'ami-1');
  t.throws(() => checkAmiNetworking(plan, { id: 'ami-1', enaSupport: true, sriovNetSupport: '' }), { message: /AMI ami-1 \(\/aws\/service\/ami-amazon-linux-latest\/amzn2-ami-hvm-x86_64-gp2\) has sriovNetSupport "", not "simple": c4.8xlarge would run without ixgbevf/ });
  const ena = { ...plan, instanceType: 'c5n.9xlarge', networking: { kind: 'ena', driver: 'ena', why: '' } };
  t.throws(() => checkAmiNetworking(ena, { id: 'ami-2', enaSupport: false, sriovNetSupport: 'simple' }), { message: /lacks ENA support, which c5n.9xlarge needs/ });
  amiAttrs = { enaSupport: true, sriovNetSupport: 'simple' };
});
