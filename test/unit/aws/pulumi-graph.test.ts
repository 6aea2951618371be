// The aws program under pulumi.runtime.setMocks (no Pulumi CLI, no AWS): for every shipped aws
// stack, the resource graph it declares — instances, placement, image, security group, TTL, the
// remote steps and their scripts — and the policy pack run over it.
import test from 'ava';
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { awsPlan } from '../../../lib/aws/plan.ts';
import { listStackNames, loadStack, PROJECT_DIR } from '../../../lib/spec/stackfile.ts';
import type { AwsSpec } from '../../../lib/spec/schema.ts';
import { maxHourlyCost, noPlaceholderSsh, noWorldSsh, ttlRequired } from '../../../policy/policies.ts';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const registered: Registered[] = [];
/** The vCPU quota codes the program asked Service Quotas for, in order. */
const quotaCodes: string[] = [];
const FIX = join(PROJECT_DIR, 'test', 'fixtures');
const C4_FACTS = `== kernel\n4.14.355-277.647.amzn2.x86_64\n== nic eth0\nrx 8\ntx 8\nirqs 60 61 62 63 64 65 66 67 \n== lscpu\n${readFileSync(join(FIX, 'tuning', 'c4.8xlarge.lscpu-p.txt'), 'utf8')}`;
let amiAttrs = { enaSupport: true, sriovNetSupport: 'simple' };

function stdoutFor(name: string): string {
  if (name.endsWith('-facts')) return C4_FACTS;
  if (name.endsWith('-join-command')) return 'kubeadm join 10.20.1.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00\n';
  if (name.endsWith('-kubeconfig')) return 'apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-key-data: S3CR3TKEYDATA\n';
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
      if (a.type === 'aws:ec2/instance:Instance')
        Object.assign(extra, {
          publicIp: a.name.endsWith('server') ? '198.51.100.10' : '198.51.100.11',
          primaryNetworkInterfaceId: `eni-${a.name.endsWith('server') ? 'server' : 'client'}`,
        });
      if (a.type === 'tls:index/privateKey:PrivateKey')
        Object.assign(extra, { privateKeyOpenssh: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n', publicKeyOpenssh: 'ssh-ed25519 AAAA netlab' });
      if (a.type === 'aws:ec2/placementGroup:PlacementGroup')
        Object.assign(extra, { name: `${a.name}-pg`, arn: `arn:aws:ec2:us-east-1:123456789012:placement-group/${a.name}-pg` });
      return { id: `${a.name}-id`, state: { ...a.inputs, ...extra } };
    },
    call: (a) => {
      if (a.token === 'aws:ssm/getParameter:getParameter') return { ...a.inputs, value: 'ami-0123456789abcdef0' };
      if (a.token === 'aws:ec2/getAmi:getAmi') return { id: 'ami-0123456789abcdef0', ...amiAttrs };
      if (a.token === 'aws:servicequotas/getServiceQuota:getServiceQuota') {
        quotaCodes.push(String(a.inputs.quotaCode));
        return { ...a.inputs, value: 96 };
      }
      if (a.token === 'aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings')
        return { ...a.inputs, locations: ['us-east-1d', 'us-east-1a', 'us-east-1b'], locationTypes: [], instanceTypes: [] };
      return a.inputs;
    },
  },
  'netlab',
  'aws-mocked',
  false,
);
const { AwsExperiment } = await import('../../../components/aws/experiment.ts');
const { checkAmiNetworking, reservationEnd } = await import('../../../components/aws/host-pair.ts');
const { checkVcpuQuota, pickZone } = await import('../../../components/aws/experiment.ts');

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
    built.set(
      n,
      registered.slice(from).filter((r) => r.name.startsWith(n)),
    );
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
    // #10: the pair's capacity in one request (a targeted, time-limited reservation in the cluster group), both instances in it.
    const cr = of('aws:ec2/capacityReservation:CapacityReservation');
    t.is(cr.length, 1);
    t.like(cr[0]!.inputs, {
      instanceType: 'c4.8xlarge',
      instanceCount: 2,
      availabilityZone: 'us-east-1a',
      instanceMatchCriteria: 'targeted',
      endDateType: 'limited',
      placementGroupArn: `arn:aws:ec2:us-east-1:123456789012:placement-group/${n}-net-pg-pg`,
    });
    for (const i of instances)
      t.deepEqual(i.inputs.capacityReservationSpecification, { capacityReservationTarget: { capacityReservationId: `${n}-hosts-capacity-id` } });
    if (spec.datapath === 'ipvlan') t.deepEqual(instances.find((i) => i.name.endsWith('server'))!.inputs.secondaryPrivateIps, plan.hosts.server.secondaryIps);
    t.like(of('aws:ec2/placementGroup:PlacementGroup')[0]?.inputs, { strategy: 'cluster' });
    const sg = of('aws:ec2/securityGroup:SecurityGroup')[0]!.inputs as {
      ingress: { fromPort: number; toPort: number; cidrBlocks?: string[]; self?: boolean }[];
    };
    // #11: `self` matches host addresses only; routed pod traffic carries pod addresses.
    t.deepEqual(
      sg.ingress.map((r) => [r.fromPort, r.toPort, r.cidrBlocks ?? [], !!r.self]),
      [
        [22, 22, ['198.18.0.0/24'], false],
        [0, 0, [], true],
        [0, 0, [spec.network.podCidr], false],
      ],
    );
    t.is(of('aws:iam/role:Role').length, 0);
    // #10: the zone comes from the offerings (first that offers the type), the subnet is in it.
    t.is(of('aws:ec2/subnet:Subnet')[0]!.inputs.availabilityZone, 'us-east-1a');
    // #3: aws-vpc = one VPC route per host's pod range to that host's interface, source/dest check off.
    const routes = of('aws:ec2/route:Route').map((r) => [r.inputs.destinationCidrBlock, r.inputs.networkInterfaceId, r.inputs.routeTableId]);
    if (spec.datapath === 'aws-vpc') {
      t.deepEqual(routes, [
        ['10.244.0.0/24', 'eni-server', `${n}-net-rt-id`],
        ['10.244.1.0/24', 'eni-client', `${n}-net-rt-id`],
      ]);
      for (const i of instances) t.is(i.inputs.sourceDestCheck, false);
    } else t.deepEqual(routes, []);
    // The remote steps, per host, exactly the plan's.
    const remote = of('command:remote:Command').map((r) => r.name.slice(n.length + 1));
    const expected = plan.steps.map((s) => {
      if (['wait', 'verify', 'packages', 'facts', 'tuning', 'kube-packages'].includes(s.name)) return `prep-${s.host}-${s.name}`;
      if (['workload', 'run'].includes(s.name)) return `workload-${s.name}`;
      if (s.name === 'check') return `check-${s.host}`;
      return s.name === 'ipvlan-conf' || s.name === 'aws-vpc-conf' ? `cluster-${s.name}-${s.host}` : `cluster-${s.name}`;
    });
    t.deepEqual([...remote].sort(), [...expected].sort());
    // Secret inputs reach the mocks wrapped ({ <secret signature>, value }).
    const unwrap = (v: unknown) => (v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v);
    const stdin = (suffix: string) => String(unwrap(rs.find((r) => r.name === `${n}-${suffix}`)?.inputs.stdin) ?? '');
    // The check runs as the login user (it checks sudo); every other step as root through sudo, with no undo (the host is terminated).
    for (const r of of('command:remote:Command')) {
      t.is(r.inputs.create, /-check-(server|client)$/.test(r.name) ? 'sh -s' : 'sudo -n bash -s', r.name);
      t.is(r.inputs.delete, undefined, r.name);
    }
    t.regex(stdin('check-server'), plan.image.os.startsWith('debian') ? /^ {2}'debian 1[123]'\) ;;$/m : /^ {2}'amzn 20?2?3?'\) ;;$/m);
    t.regex(stdin('prep-server-verify'), /want_kernel=4\.14\.|want_kernel=6\.1\./);
    t.regex(stdin('prep-server-verify'), /ixgbevf\) ;;/);
    if (spec.tuning.profile === 'study') t.regex(stdin('prep-server-tuning'), /^put rps \/sys\/class\/net\/eth0\/queues\/rx-7\/rps_cpus 00000000,0003fdfe 0 /m);
    else t.notRegex(stdin('prep-server-tuning'), /^put /m);
    t.regex(stdin('cluster-kubeadm-init'), new RegExp(`podSubnet: ${spec.network.podCidr.replace(/\./g, '\\.')}`));
    t.regex(stdin('cluster-join'), /^NETLAB_JOIN='kubeadm join 10\.20\.1\.10:6443 --token abcdef/m);
    t.regex(stdin('workload-run'), new RegExp(`^ID=${plan.points[0]!.id}; `, 'm'));
    t.is(stdin('workload-run').match(/^point /gm)?.length, plan.points.length);
    const collect = rs.find((r) => r.name === `${n}-workload-collect`)!;
    t.regex(
      String(collect.inputs.create),
      new RegExp(`^node /srv/netlab/bin/netlab\\.js collect ${n} --host 198\\.51\\.100\\.11 --user ${plan.image.user} --port 22 `),
    );
    // #6: no secret in a log. Secret steps log stderr only; no other step's script carries or prints one.
    const secretSteps = ['cluster-join-command', 'cluster-kubeconfig', 'cluster-join'];
    const secrets = ['abcdef.0123456789abcdef', 'S3CR3TKEYDATA', 'BEGIN OPENSSH PRIVATE KEY'];
    for (const r of of('command:remote:Command')) {
      const short = r.name.slice(n.length + 1);
      if (secretSteps.includes(short)) {
        t.is(r.inputs.logging, 'stderr', short);
        t.true(typeof r.inputs.stdin === 'object', `${short}: stdin is a secret`);
      } else {
        t.is(r.inputs.logging, 'stdoutAndStderr', short);
        const text = String(r.inputs.stdin);
        for (const x of secrets) t.false(text.includes(x), `${short} carries ${x}`);
        t.notRegex(text, /cat \/etc\/kubernetes\/admin\.conf|--print-join-command/, short);
      }
    }
    t.regex(stdin('cluster-kubeadm-init'), /kubeadm init --config \/etc\/netlab-kubeadm\.yaml > \/var\/lib\/netlab\/kubeadm-init\.log 2>&1/);
    // The policy pack passes the stack as built.
    const violations: string[] = [];
    const report = (m: string) => void violations.push(`${m}`);
    for (const r of rs) {
      const args = { type: r.type, props: r.inputs, urn: r.name, name: r.name } as never;
      (ttlRequired.validateResource as (a: never, rep: (m: string) => void) => void)(args, report);
      (noWorldSsh.validateResource as (a: never, rep: (m: string) => void) => void)(args, report);
      (noPlaceholderSsh.validateResource as (a: never, rep: (m: string) => void) => void)(args, report);
    }
    maxHourlyCost.validateStack!(
      { resources: rs.map((r) => ({ type: r.type, props: r.inputs })), getConfig: () => ({ maxHourlyUsd: spec.aws.maxHourlyUsd }) } as never,
      report,
    );
    t.deepEqual(violations, []);
  });

test("an AMI without the family's enhanced networking stops the preview with the reason", (t) => {
  const plan = awsPlan(withMySsh('aws-e2-vxlan'));
  t.is(checkAmiNetworking(plan, { id: 'ami-1', enaSupport: false, sriovNetSupport: 'simple' }), 'ami-1');
  t.throws(() => checkAmiNetworking(plan, { id: 'ami-1', enaSupport: true, sriovNetSupport: '' }), {
    message: /AMI ami-1 \(\/aws\/service\/debian\/release\/12\/latest\/amd64\) has sriovNetSupport "", not "simple": c4.8xlarge would run without ixgbevf/,
  });
  const ena = { ...plan, instanceType: 'c5n.9xlarge', networking: { kind: 'ena', driver: 'ena', why: '' } };
  t.throws(() => checkAmiNetworking(ena, { id: 'ami-2', enaSupport: false, sriovNetSupport: 'simple' }), {
    message: /lacks ENA support, which c5n.9xlarge needs/,
  });
  amiAttrs = { enaSupport: true, sriovNetSupport: 'simple' };
});

test('#5 plain `pulumi up` refuses the placeholder SSH range in the program itself', (t) => {
  const spec = loadStack('aws-e2-vxlan') as AwsSpec;
  const before = registered.length;
  t.throws(() => new AwsExperiment('placeholder', { spec, projectDir: '/srv/netlab' }), {
    message:
      /^netlab:aws.sshCidr is still the documentation placeholder in aws-e2-vxlan \(203\.0\.113\.7\/32\).*pulumi config set --path 'netlab:aws.sshCidr'/s,
  });
  t.is(registered.slice(before).filter((r) => r.name.startsWith('placeholder')).length, 0);
});

test.serial("#10 the quota asked for: the on-demand one, or the spot requests' one for aws.spot", async (t) => {
  const from = quotaCodes.length;
  await out(new AwsExperiment('quota-od', { spec: withMySsh('aws-e2-hostgw'), projectDir: '/srv/netlab' }).resultDir);
  const s = withMySsh('aws-e2-hostgw');
  await out(new AwsExperiment('quota-spot', { spec: { ...s, aws: { ...s.aws, spot: true } }, projectDir: '/srv/netlab' }).resultDir);
  t.deepEqual(quotaCodes.slice(from), ['L-1216C47A', 'L-34B43A08']);
});

test('#6 the kubeconfig output is a secret', async (t) => {
  const e = new AwsExperiment('secret-check', { spec: withMySsh('aws-e2-hostgw'), projectDir: '/srv/netlab' });
  t.true(await pulumi.isSecret(e.kubeconfig));
  await out(e.resultDir);
});

test("#10 preflight: vCPU quota and the zone's offering, failing fast with the quota code and how to raise it", (t) => {
  t.notThrows(() => checkVcpuQuota({ instanceType: 'c4.8xlarge', region: 'us-east-1', quota: 72 }));
  t.throws(() => checkVcpuQuota({ instanceType: 'c4.8xlarge', region: 'us-east-1', quota: 32 }), {
    message:
      /two c4.8xlarge need 72 vCPUs, but the EC2 quota L-1216C47A .* is 32 in us-east-1\. Raise it .*request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-1216C47A --desired-value 72/,
  });
  // Spot hosts count against the spot requests' own quota.
  t.throws(() => checkVcpuQuota({ instanceType: 'c4.8xlarge', region: 'us-east-1', quota: 32, spot: true }), {
    message:
      /two c4.8xlarge need 72 vCPUs, but the EC2 quota L-34B43A08 \("All Standard \(A, C, D, H, I, M, R, T, Z\) Spot Instance Requests"\) is 32 in us-east-1\..*--quota-code L-34B43A08 --desired-value 72/,
  });
  t.notThrows(() => checkVcpuQuota({ instanceType: 'c4.8xlarge', region: 'us-east-1', quota: 72, spot: true }));
  t.is(pickZone({ asked: null, offered: ['us-east-1f', 'us-east-1b'], instanceType: 'c4.8xlarge', region: 'us-east-1' }), 'us-east-1b');
  t.is(pickZone({ asked: 'us-east-1f', offered: ['us-east-1f', 'us-east-1b'], instanceType: 'c4.8xlarge', region: 'us-east-1' }), 'us-east-1f');
  t.throws(() => pickZone({ asked: 'us-east-1e', offered: ['us-east-1a', 'us-east-1b'], instanceType: 'c4.8xlarge', region: 'us-east-1' }), {
    message: /us-east-1e does not offer c4.8xlarge; zones that do: us-east-1a, us-east-1b/,
  });
  t.throws(() => pickZone({ asked: null, offered: [], instanceType: 'c4.8xlarge', region: 'eu-north-1' }), {
    message: /no availability zone of eu-north-1 offers c4.8xlarge/,
  });
});

test('#10 the capacity reservation ends after the time-to-live (at least 75 minutes on), and the policy pack refuses one without an end', (t) => {
  const now = Date.parse('2026-11-30T23:00:00Z');
  t.is(reservationEnd(now, 180), '2026-12-01T02:15:00Z');
  t.is(reservationEnd(now, 15), '2026-12-01T00:15:00Z');
  const violations: string[] = [];
  const vr = ttlRequired.validateResource as (a: never, r: (m: string) => void) => void;
  vr({ type: 'aws:ec2/capacityReservation:CapacityReservation', props: { endDateType: 'limited', endDate: '2026-12-01T02:15:00Z' } } as never, (m) =>
    violations.push(m),
  );
  t.deepEqual(violations, []);
  vr({ type: 'aws:ec2/capacityReservation:CapacityReservation', props: { endDateType: 'unlimited' } } as never, (m) => violations.push(m));
  t.deepEqual(violations, ["capacity reservation without an end date: it would bill on after the hosts' time-to-live has ended them"]);
});
