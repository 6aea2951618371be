// One aws experiment, composed from the spec: network, host pair, host preparation, cluster,
// workload and collection. `index.ts` only reads config and creates this.
import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import { createHash } from 'node:crypto';
import { awsPlan, type AwsPlan } from '../../lib/aws/plan.ts';
import type { AwsSpec } from '../../lib/spec.ts';
import { Cluster } from './cluster.ts';
import { HostPair } from './host-pair.ts';
import { HostPrep } from './host-prep.ts';
import { Network } from './network.ts';
import { Workload } from './workload.ts';

export interface AwsExperimentArgs {
  spec: AwsSpec;
  projectDir: string;
  /** Private half of aws.sshPublicKey (config secret netlab:sshPrivateKey), when a key is given. */
  sshPrivateKey?: pulumi.Input<string> | undefined;
}

/** What flannel's aws-vpc backend calls: its own route entries and instance lookups. */
export const ROUTE_POLICY = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['ec2:CreateRoute', 'ec2:DeleteRoute', 'ec2:ReplaceRoute', 'ec2:DescribeRouteTables', 'ec2:DescribeInstances', 'ec2:ModifyInstanceAttribute'], Resource: '*' }],
};

export class AwsExperiment extends pulumi.ComponentResource {
  readonly plan: AwsPlan;
  readonly specHash: string;
  readonly publicIps: Record<'client' | 'server', pulumi.Output<string>>;
  readonly kubeconfig: pulumi.Output<string>;
  readonly resultDir: pulumi.Output<string>;

  constructor(name: string, args: AwsExperimentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:Experiment', name, {}, opts);
    const { spec } = args;
    const a = spec.aws;
    const plan = awsPlan(spec);
    this.plan = plan;
    this.specHash = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
    const provider = new aws.Provider(`${name}-aws`, { region: a.region as aws.Region, defaultTags: { tags: plan.tags } }, { parent: this });
    // Components take the provider map (their children inherit it); plain resources take `provider`.
    const p = { parent: this, providers: { aws: provider } };
    const own = { parent: this, provider };
    const net = new Network(`${name}-net`, { vpcCidr: a.vpcCidr, subnetCidr: a.subnetCidr, availabilityZone: plan.availabilityZone, sshCidr: a.sshCidr, tags: plan.tags }, p);
    let instanceProfile: pulumi.Output<string> | undefined;
    if (plan.needsRouteRole) {
      const role = new aws.iam.Role(
        `${name}-routes`,
        { assumeRolePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }), tags: plan.tags },
        own,
      );
      new aws.iam.RolePolicy(`${name}-routes`, { role: role.name, policy: JSON.stringify(ROUTE_POLICY) }, own);
      instanceProfile = new aws.iam.InstanceProfile(`${name}-routes`, { role: role.name, tags: plan.tags }, own).name;
    }
    const hosts = new HostPair(
      `${name}-hosts`,
      {
        plan,
        subnetId: net.subnetId,
        securityGroupId: net.securityGroupId,
        placementGroupName: net.placementGroupName,
        ttlMinutes: a.ttlMinutes,
        rootVolumeGb: a.rootVolumeGb,
        sshPublicKey: a.sshPublicKey,
        sshPrivateKey: args.sshPrivateKey,
        instanceProfile,
      },
      p,
    );
    const conn = (role: 'client' | 'server') => ({ host: hosts.publicIps[role], user: hosts.user, privateKey: hosts.privateKey });
    const conns = { server: conn('server'), client: conn('client') };
    const prep = {
      server: new HostPrep(`${name}-prep-server`, { spec, plan, role: 'server', conn: conns.server, triggers: [hosts.instanceIds.server] }, p),
      client: new HostPrep(`${name}-prep-client`, { spec, plan, role: 'client', conn: conns.client, triggers: [hosts.instanceIds.client] }, p),
    };
    const triggers = [hosts.instanceIds.server, hosts.instanceIds.client];
    const cluster = new Cluster(
      `${name}-cluster`,
      { plan, subnetCidr: a.subnetCidr, conns, ready: { server: prep.server.ready, client: prep.client.ready }, routeTableId: net.routeTableId, triggers },
      p,
    );
    const workload = new Workload(
      `${name}-workload`,
      { spec, plan, conns, facts: { server: prep.server.facts, client: prep.client.facts }, clusterReady: cluster.ready, projectDir: args.projectDir, triggers: [...triggers, this.specHash] },
      p,
    );
    this.publicIps = hosts.publicIps;
    this.kubeconfig = cluster.kubeconfig;
    this.resultDir = workload.resultDir;
    this.registerOutputs({ publicIps: this.publicIps, kubeconfig: this.kubeconfig, resultDir: this.resultDir });
  }
}
