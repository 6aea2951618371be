// The experiment's own network: VPC, one subnet, internet gateway and default route, a security
// group (SSH only from the stack's CIDR; everything between the two hosts) and a cluster placement
// group, so the pair shares one low-latency network segment as in the study.
import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

/**
 * NetworkArgs: the addresses and names of one experiment's own VPC. Every value comes from the
 * validated spec (lib/spec/schema.ts checks the ranges); this component checks nothing itself.
 */
export interface NetworkArgs {
  /**
   * The VPC's IPv4 range (CIDR). Prefix /16 to /24 (AWS's limits), not overlapping the pod range or
   * the Service range. The experiment passes `aws.vpcCidr`. Required.
   */
  vpcCidr: string;
  /**
   * The one subnet's IPv4 range (CIDR), inside vpcCidr, /26 or shorter (AWS keeps 5 addresses; the
   * hosts and ipvlan pods need the rest). Public IPv4 addresses are assigned on launch. The
   * experiment passes `aws.subnetCidr`. Required.
   */
  subnetCidr: string;
  /**
   * The availability zone of the subnet, e.g. us-east-1a; the instance type must be offered there
   * (the experiment passes the zone its preflight picked). Required.
   */
  availabilityZone: pulumi.Input<string>;
  /**
   * The pod range (CIDR; the spec's `network.podCidr`): routed pod traffic (host-gw, aws-vpc,
   * calico-direct, Cilium native routing) carries these addresses between the hosts, so the
   * security group admits all traffic from it. Required.
   */
  podCidr: string;
  /**
   * Who may SSH in (CIDR; `aws.sshCidr`). Never /0: validation and the policy pack refuse it, and
   * the experiment refuses the documentation placeholder. Required (there is no default).
   */
  sshCidr: string;
  /**
   * Tags put on every resource (the plan's `netlab:*` tags), each with its own `Name` added:
   * `<name>-vpc`, `-subnet`, `-igw`, `-rt`, `-sg`, `-pg`. Required.
   */
  tags: Record<string, string>;
}

/**
 * Network is a component that creates one experiment's network: a VPC (DNS support and hostnames
 * on), one subnet in the given zone, an internet gateway with a route table holding the default
 * route, a security group (SSH from sshCidr only, all traffic between members of the group and
 * from the pod range, all egress) and a cluster placement group.
 *
 * It has no inputs from other components and outputs ids only. `pulumi destroy` deletes all of
 * these resources; none of them bills while it exists.
 */
export class Network extends pulumi.ComponentResource {
  /** The VPC's id. */
  readonly vpcId: pulumi.Output<string>;
  /** The subnet's id, where both hosts are launched. */
  readonly subnetId: pulumi.Output<string>;
  /** The route table's id (default route to the internet gateway; aws-vpc adds its pod routes to it). */
  readonly routeTableId: pulumi.Output<string>;
  /** The security group's id, for both hosts. */
  readonly securityGroupId: pulumi.Output<string>;
  /** The cluster placement group's name, which the instances are launched into. */
  readonly placementGroupName: pulumi.Output<string>;
  /** The cluster placement group's ARN, which the capacity reservation names. */
  readonly placementGroupArn: pulumi.Output<string>;

  /**
   * @param name The unique name of the component; its resources are named `<name>-vpc`, `<name>-subnet`, ….
   * @param args The network's ranges, zone and tags.
   * @param opts Options of the component; the experiment passes its aws provider here.
   */
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
    this.registerOutputs({
      vpcId: this.vpcId,
      subnetId: this.subnetId,
      routeTableId: this.routeTableId,
      securityGroupId: this.securityGroupId,
      placementGroupName: this.placementGroupName,
    });
  }
}
