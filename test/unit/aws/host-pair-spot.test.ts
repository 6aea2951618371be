// HostPair under pulumi.runtime.setMocks (no Pulumi CLI, no AWS): on-demand hosts launch into the
// pair's capacity reservation; spot hosts (aws.spot) launch as one-time spot instances that
// terminate when reclaimed, with no reservation (reservations hold on-demand instances only).
import test from 'ava';
import * as pulumi from '@pulumi/pulumi';
import { awsPlan } from '../../../lib/aws/plan.ts';
import type { AwsSpec } from '../../../lib/spec/schema.ts';
import { loadStack } from '../../../lib/spec/stackfile.ts';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const registered: Registered[] = [];

await pulumi.runtime.setMocks(
  {
    newResource: (a) => {
      registered.push({ type: a.type, name: a.name, inputs: a.inputs });
      const extra: Record<string, unknown> = {};
      if (a.type === 'aws:ec2/instance:Instance') Object.assign(extra, { publicIp: '198.51.100.10', primaryNetworkInterfaceId: `eni-${a.name}` });
      if (a.type === 'tls:index/privateKey:PrivateKey') Object.assign(extra, { privateKeyOpenssh: 'key', publicKeyOpenssh: 'ssh-ed25519 AAAA netlab' });
      return { id: `${a.name}-id`, state: { ...a.inputs, ...extra } };
    },
    call: (a) => {
      if (a.token === 'aws:ssm/getParameter:getParameter') return { ...a.inputs, value: 'ami-0123456789abcdef0' };
      if (a.token === 'aws:ec2/getAmi:getAmi') return { id: 'ami-0123456789abcdef0', enaSupport: true, sriovNetSupport: 'simple' };
      return a.inputs;
    },
  },
  'netlab',
  'host-pair-mocked',
  false,
);
const { HostPair, marketArgs } = await import('../../../components/aws/host-pair.ts');

const out = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply(r));
const specOf = (spot: boolean): AwsSpec => {
  const s = loadStack('aws-e2-vxlan') as AwsSpec;
  return { ...s, aws: { ...s.aws, sshCidr: '198.18.0.0/24', spot } };
};

/** Build a HostPair under the mocks; the resources it registered. */
async function build(name: string, spot: boolean): Promise<{ pair: InstanceType<typeof HostPair>; rs: Registered[] }> {
  const from = registered.length;
  const pair = new HostPair(name, {
    plan: awsPlan(specOf(spot)),
    subnetId: 'subnet-1',
    securityGroupId: 'sg-1',
    placementGroupName: 'pg-1',
    placementGroupArn: 'arn:aws:ec2:us-east-1:123456789012:placement-group/pg-1',
    availabilityZone: 'us-east-1a',
    ttlMinutes: 180,
    rootVolumeGb: 30,
  });
  await out(pulumi.all([pair.instanceIds.server, pair.instanceIds.client, pair.publicIps.client]));
  await new Promise((r) => setTimeout(r, 20));
  return { pair, rs: registered.slice(from).filter((r) => r.name.startsWith(name)) };
}

test('on-demand: one capacity reservation, both instances target it, no market options', async (t) => {
  const { pair, rs } = await build('od', false);
  const instances = rs.filter((r) => r.type === 'aws:ec2/instance:Instance');
  t.deepEqual(
    rs.filter((r) => r.type === 'aws:ec2/capacityReservation:CapacityReservation').map((r) => r.name),
    ['od-capacity'],
  );
  t.is(instances.length, 2);
  for (const i of instances) {
    t.deepEqual(i.inputs.capacityReservationSpecification, { capacityReservationTarget: { capacityReservationId: 'od-capacity-id' } });
    t.is(i.inputs.instanceMarketOptions, undefined);
  }
  t.is(await out(pair.capacityReservationId!), 'od-capacity-id');
});

test('spot: both instances one-time spot, terminate when reclaimed, no reservation; placement, TTL and shutdown behaviour as on-demand', async (t) => {
  const { pair, rs } = await build('sp', true);
  t.deepEqual(
    rs.filter((r) => r.type === 'aws:ec2/capacityReservation:CapacityReservation'),
    [],
  );
  t.is(pair.capacityReservationId, undefined);
  const instances = rs.filter((r) => r.type === 'aws:ec2/instance:Instance');
  t.deepEqual(
    instances.map((i) => i.name),
    ['sp-server', 'sp-client'],
  );
  for (const i of instances) {
    t.deepEqual(i.inputs.instanceMarketOptions, {
      marketType: 'spot',
      spotOptions: { spotInstanceType: 'one-time', instanceInterruptionBehavior: 'terminate' },
    });
    t.is(i.inputs.capacityReservationSpecification, undefined);
    t.like(i.inputs, {
      instanceType: 'c4.8xlarge',
      placementGroup: 'pg-1',
      availabilityZone: 'us-east-1a',
      instanceInitiatedShutdownBehavior: 'terminate',
      metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled' },
    });
    t.true(String(i.inputs.userData).includes('+ 180 * 60'));
  }
});

test('marketArgs: spot has no maximum price (never above on-demand); on-demand without a reservation is a programming error', (t) => {
  t.deepEqual(marketArgs('spot', undefined), {
    instanceMarketOptions: { marketType: 'spot', spotOptions: { spotInstanceType: 'one-time', instanceInterruptionBehavior: 'terminate' } },
  });
  t.deepEqual(marketArgs('on-demand', 'cr-1'), { capacityReservationSpecification: { capacityReservationTarget: { capacityReservationId: 'cr-1' } } });
  t.throws(() => marketArgs('on-demand', undefined), { message: "on-demand hosts launch into the pair's capacity reservation, and none was given" });
});
