// The experiment's own network: VPC, one subnet, internet gateway and default route, a security
// group (SSH only from the stack's CIDR; everything between the two hosts) and a cluster placement
// group, so the pair shares one low-latency network segment as in the study.
import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export interface NetworkArgs {
  vpcCidr: string;
  subnetCidr: string;
  availabilityZone: pulumi.Input<string>;
  /** The pod range: routed pod traffic (host-gw, aws-vpc, calico-direct, Cilium native routing) carries these addresses between the hosts. */
  podCidr: string;
  /** Who may SSH in (never 0.0.0.0/0: validation and the policy pack refuse it). */
  sshCidr: string;
  tags: Record<string, string>;
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly subnetId: pulumi.Output<string>;
  readonly routeTableId: pulumi.Output<string>;
  readonly securityGroupId: pulumi.Output<string>;
  readonly placementGroupName: pulumi.Output<string>;
  readonly placementGroupArn: pulumi.Output<string>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:Network', name, {}, opts);
    const p = { parent: this };
    const tags = (suffix: string) => ({ ...args.tags, Name: `${name}-${suffix}` });
    const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: args.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags('vpc') }, p);
    const subnet = new aws.ec2.Subnet(
      `${name}-subnet`,
      { vpcId: vpc.id, cidrBlock: args.subnetCidr, availabilityZone: args.availabilityZone, mapPublicIpOnLaunch: true, tags: tags('subnet') },
      p,
    );
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags('igw') }, p);
    const rt = new aws.ec2.RouteTable(`${name}-rt`, { vpcId: vpc.id, routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: igw.id }], tags: tags('rt') }, p);
    new aws.ec2.RouteTableAssociation(`${name}-rta`, { subnetId: subnet.id, routeTableId: rt.id }, p);
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: vpc.id,
        description: 'netlab: SSH from the stack sshCidr, all traffic between the two hosts',
        ingress: [
          { description: 'SSH from aws.sshCidr', protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: [args.sshCidr] },
          { description: 'everything between the experiment hosts', protocol: '-1', fromPort: 0, toPort: 0, self: true },
          // `self` matches the hosts' own (primary and secondary) addresses only; routed pod packets carry pod addresses.
          { description: 'routed pod traffic between the hosts (network.podCidr)', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: [args.podCidr] },
        ],
        egress: [{ description: 'packages, images, manifests', protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
        tags: tags('sg'),
      },
      p,
    );
    const pg = new aws.ec2.PlacementGroup(`${name}-pg`, { strategy: 'cluster', tags: tags('pg') }, p);
    this.vpcId = vpc.id;
    this.subnetId = subnet.id;
    this.routeTableId = rt.id;
    this.securityGroupId = sg.id;
    this.placementGroupName = pg.name;
    this.placementGroupArn = pg.arn;
    this.registerOutputs({ vpcId: this.vpcId, subnetId: this.subnetId, routeTableId: this.routeTableId, securityGroupId: this.securityGroupId, placementGroupName: this.placementGroupName });
  }
}
