// One aws experiment, composed from the spec: network, host pair, host preparation, cluster,
// workload and collection. `index.ts` only reads config and creates this.
import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import { createHash } from 'node:crypto';
import { familyOf, TYPES } from '../../lib/aws/catalogue.ts';
import { awsPlan, type AwsPlan } from '../../lib/aws/plan.ts';
import { isPlaceholderCidr } from '../../lib/aws/sweep.ts';
import type { AwsSpec } from '../../lib/spec/schema.ts';
import { RemoteFlow } from '../remote/experiment.ts';
import { HostPair } from './host-pair.ts';
import { Network } from './network.ts';

/** AwsExperimentArgs: one validated aws stack, and where this project lives. */
export interface AwsExperimentArgs {
  /**
   * The validated spec of an aws stack (target aws, with its `aws` block): everything the
   * experiment builds and measures comes from it and the plan made from it. Its defaults are
   * lib/spec/schema.ts's; `aws.sshCidr` has none, and the documentation placeholder ranges are
   * refused here before anything is created. Required.
   */
  spec: AwsSpec;
  /** The netlab project directory on this machine (holds bin/netlab.js; results go to its results/). Required. */
  projectDir: string;
  /**
   * The private half of `aws.sshPublicKey` (the config secret `netlab:sshPrivateKey`), for Pulumi's
   * own SSH sessions. Required when `aws.sshPublicKey` is set (HostPair throws without it); unused
   * otherwise.
   * @default undefined: with no `aws.sshPublicKey`, an ed25519 key pair is generated in the stack state.
   */
  sshPrivateKey?: pulumi.Input<string> | undefined;
}

/** EC2 quota "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", in vCPUs. */
export const STANDARD_VCPU_QUOTA = 'L-1216C47A';
/** EC2 quota "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", in vCPUs (aws.spot). */
export const SPOT_VCPU_QUOTA = 'L-34B43A08';

/** The quota a pair of hosts counts against: spot requests have a quota of their own. */
export const vcpuQuotaOf = (spot: boolean) =>
  spot
    ? { code: SPOT_VCPU_QUOTA, name: 'All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests' }
    : { code: STANDARD_VCPU_QUOTA, name: 'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances' };

/** Refuses before anything is launched when the account's vCPU quota cannot hold the pair. Pure. */
export function checkVcpuQuota(o: { instanceType: string; region: string; quota: number | undefined; spot?: boolean }): void {
  const facts = TYPES[o.instanceType];
  if (!facts || !/^[acdhimrtz]/.test(familyOf(o.instanceType)) || o.quota === undefined) return;
  const need = 2 * facts.vcpus;
  const q = vcpuQuotaOf(!!o.spot);
  if (o.quota < need)
    throw new Error(
      `netlab preflight: two ${o.instanceType} need ${need} vCPUs, but the EC2 quota ${q.code} ("${q.name}") is ${o.quota} in ${o.region}. ` +
        `Raise it (Service Quotas console, or: aws service-quotas request-service-quota-increase --region ${o.region} --service-code ec2 --quota-code ${q.code} --desired-value ${need}) or pick a smaller aws.instanceType`,
    );
}

/** The zone to use: the asked one if it offers the type, else the first zone that does. Pure. */
export function pickZone(o: { asked: string | null; offered: string[]; instanceType: string; region: string }): string {
  const offered = [...o.offered].sort();
  if (!offered.length)
    throw new Error(`netlab preflight: no availability zone of ${o.region} offers ${o.instanceType}; pick another aws.region or aws.instanceType`);
  if (o.asked === null) return offered[0]!;
  if (!offered.includes(o.asked))
    throw new Error(
      `netlab preflight: ${o.asked} does not offer ${o.instanceType}; zones that do: ${offered.join(', ')} (set aws.availabilityZone to one of them, or leave it unset)`,
    );
  return o.asked;
}

/**
 * AwsExperiment is a component that runs one aws stack end to end, with its own aws provider (the
 * spec's region; the plan's tags on every resource). A preflight (the account's vCPU quota holds
 * the pair; a zone offers the type) runs at preview, then: Network, HostPair, the aws-vpc pod
 * routes when that is the datapath, and the remote flow on the pair (RemoteFlow, the ssh target's
 * flow: check, HostPrep per host, Cluster, Workload).
 *
 * Its outputs are the plan, the spec's hash, the hosts' public addresses, the kubeconfig (secret)
 * and the result directory. `pulumi destroy` deletes every AWS resource it created (hosts,
 * capacity reservation, key pair, routes, network); the results on this machine stay.
 */
export class AwsExperiment extends pulumi.ComponentResource {
  /** The plan made from the spec (`awsPlan(spec)`): addresses, image, cost, points, steps. */
  readonly plan: AwsPlan;
  /** SHA-256 (hex) of the resolved spec's JSON; a change re-runs the workload. */
  readonly specHash: string;
  /** Each host's public IPv4 address. */
  readonly publicIps: Record<'client' | 'server', pulumi.Output<string>>;
  /** The cluster's admin kubeconfig (a secret). */
  readonly kubeconfig: pulumi.Output<string>;
  /** The run's result directory here, `results/<stack>/<run-id>/` (holds result.json). */
  readonly resultDir: pulumi.Output<string>;

  /**
   * @param name The unique name of the component (index.ts passes the stack's name); its children are named `<name>-…`.
   * @param args The spec, the project directory and the private SSH key, if any.
   * @param opts Options of the component.
   */
  constructor(name: string, args: AwsExperimentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:Experiment', name, {}, opts);
    const { spec } = args;
    const a = spec.aws;
    // Plain `pulumi up` must refuse the documentation placeholder too, not only `netlab sweep`/`up`.
    if (isPlaceholderCidr(a.sshCidr))
      throw new Error(
        `netlab:aws.sshCidr is still the documentation placeholder in ${spec.name} (${a.sshCidr}): SSH would be allowed from nowhere you are, every remote step would fail and the pair would bill until its TTL. ` +
          `Set your own range: pulumi config set --path 'netlab:aws.sshCidr' "$(curl -s https://checkip.amazonaws.com)/32"`,
      );
    const plan = awsPlan(spec);
    this.plan = plan;
    this.specHash = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
    const provider = new aws.Provider(`${name}-aws`, { region: a.region as aws.Region, defaultTags: { tags: plan.tags } }, { parent: this });
    // Components take the provider map (their children inherit it); plain resources take `provider`.
    const p = { parent: this, providers: { aws: provider } };
    const own = { parent: this, provider };
    // Preflight, before anything is launched: the vCPU quota holds the pair, the zone offers the type.
    const quota = aws.servicequotas.getServiceQuotaOutput({ serviceCode: 'ec2', quotaCode: vcpuQuotaOf(a.spot).code }, own);
    const offerings = aws.ec2.getInstanceTypeOfferingsOutput(
      { locationType: 'availability-zone', filters: [{ name: 'instance-type', values: [a.instanceType] }] },
      own,
    );
    const zone = pulumi.all([quota.value, offerings.locations]).apply(([q, locations]) => {
      checkVcpuQuota({ instanceType: a.instanceType, region: a.region, quota: q, spot: a.spot });
      return pickZone({ asked: plan.availabilityZone, offered: locations ?? [], instanceType: a.instanceType, region: a.region });
    });
    const net = new Network(
      `${name}-net`,
      { vpcCidr: a.vpcCidr, subnetCidr: a.subnetCidr, availabilityZone: zone, podCidr: spec.network.podCidr, sshCidr: a.sshCidr, tags: plan.tags },
      p,
    );
    const hosts = new HostPair(
      `${name}-hosts`,
      {
        plan,
        subnetId: net.subnetId,
        securityGroupId: net.securityGroupId,
        placementGroupName: net.placementGroupName,
        placementGroupArn: net.placementGroupArn,
        availabilityZone: zone,
        ttlMinutes: a.ttlMinutes,
        rootVolumeGb: a.rootVolumeGb,
        sshPublicKey: a.sshPublicKey,
        sshPrivateKey: args.sshPrivateKey,
      },
      p,
    );
    const conn = (role: 'client' | 'server') => ({ host: hosts.publicIps[role], user: hosts.user, privateKey: hosts.privateKey });
    const conns = { server: conn('server'), client: conn('client') };
    const triggers = [hosts.instanceIds.server, hosts.instanceIds.client];
    // aws-vpc, as flannel's removed backend did: one VPC route per host's pod range to that host's interface.
    const podRoutes = plan.podRoutes
      ? (['server', 'client'] as const).map(
          (role) =>
            new aws.ec2.Route(
              `${name}-pods-${role}`,
              { routeTableId: net.routeTableId, destinationCidrBlock: plan.podRoutes![role], networkInterfaceId: hosts.primaryEnis[role] },
              own,
            ),
        )
      : undefined;
    // The hosts exist: from here on it is the same flow as the ssh target's.
    const flow = new RemoteFlow(
      `${name}-flow`,
      { spec, plan, conns, projectDir: args.projectDir, triggers, specHash: this.specHash, prefix: name, podRoutes, subnetCidr: a.subnetCidr },
      p,
    );
    this.publicIps = hosts.publicIps;
    this.kubeconfig = flow.kubeconfig;
    this.resultDir = flow.resultDir;
    this.registerOutputs({ publicIps: this.publicIps, kubeconfig: this.kubeconfig, resultDir: this.resultDir });
  }
}
