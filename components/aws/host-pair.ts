// The two EC2 hosts: AMI from the kernel catalogue (via its public SSM parameter), enhanced
// networking checked against the AMI before launch, IMDSv2 only, terminate-on-shutdown plus a
// shutdown armed at boot (the time-to-live), SSH key given or generated, tags naming the experiment.
// On-demand hosts launch into a capacity reservation; spot hosts (`aws.spot`) as one-time spot
// instances that terminate when EC2 reclaims them.
import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import * as tls from '@pulumi/tls';
import type { AwsPlan, Role } from '../../lib/aws/plan.ts';
import { ttlUserData } from '../../lib/aws/scripts.ts';

/**
 * HostPairArgs: what the two hosts are launched from. The experiment passes its plan, the Network's
 * ids, the preflight's zone and the spec's `aws.*` values.
 */
export interface HostPairArgs {
  /**
   * The aws plan (`awsPlan(spec)`): instance type, image (SSM parameter, owner, login user),
   * enhanced-networking kind, each host's private and secondary addresses, source/dest check and
   * the tags. Its `cost.market` says how the hosts are launched: `on-demand` into a capacity
   * reservation, `spot` as one-time spot instances that terminate when reclaimed (no reservation:
   * capacity reservations hold on-demand instances only). Required.
   */
  plan: AwsPlan;
  /** The subnet both instances are launched in (Network.subnetId). Required. */
  subnetId: pulumi.Input<string>;
  /** The security group of both instances (Network.securityGroupId). Required. */
  securityGroupId: pulumi.Input<string>;
  /** The cluster placement group both instances are launched into (Network.placementGroupName). Required. */
  placementGroupName: pulumi.Input<string>;
  /** The same placement group's ARN, named by the capacity reservation (Network.placementGroupArn). Required. */
  placementGroupArn: pulumi.Input<string>;
  /**
   * The zone of the reservation and the instances, e.g. us-east-1a; it must be the subnet's zone
   * and offer the instance type (the experiment passes the zone its preflight checked). Required.
   */
  availabilityZone: pulumi.Input<string>;
  /**
   * Time-to-live in minutes: each host powers off, and so terminates, this long after its first
   * boot, whatever happens to the stack. Also sets when the capacity reservation ends
   * (see reservationEnd). Validation allows 15 to 2880; the experiment passes `aws.ttlMinutes`,
   * whose spec default is 180. Required.
   */
  ttlMinutes: number;
  /**
   * Size of each host's root volume in GiB (gp3, encrypted, deleted on termination). Validation
   * allows 8 to 1000; the experiment passes `aws.rootVolumeGb`, whose spec default is 30. Required.
   */
  rootVolumeGb: number;
  /**
   * An OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp*) for the hosts' key pair;
   * `aws.sshPublicKey`. When given, sshPrivateKey is required.
   * @default undefined: an ed25519 key pair is generated and kept (secret) in the stack state.
   */
  sshPublicKey?: string | undefined;
  /**
   * The private half of sshPublicKey, for Pulumi's own SSH sessions (the config secret
   * `netlab:sshPrivateKey`). Required when sshPublicKey is given (the component throws without it);
   * unused otherwise.
   * @default undefined
   */
  sshPrivateKey?: pulumi.Input<string> | undefined;
  /**
   * Resources the capacity reservation and both instances must wait for.
   * @default undefined: none (the experiment passes none; the preflight already gates the zone input).
   */
  dependsOn?: pulumi.Input<pulumi.Resource>[] | undefined;
}

/** The AMI's attributes must allow the family's enhanced networking; else the run would silently use a slow NIC. */
export function checkAmiNetworking(plan: AwsPlan, ami: { id: string; enaSupport: boolean; sriovNetSupport: string }): string {
  const kind = plan.networking.kind;
  if (kind === 'ena' && !ami.enaSupport)
    throw new Error(`AMI ${ami.id} (${plan.image.ssmParameter}) lacks ENA support, which ${plan.instanceType} needs for enhanced networking`);
  if (kind === 'ixgbevf' && ami.sriovNetSupport !== 'simple')
    throw new Error(
      `AMI ${ami.id} (${plan.image.ssmParameter}) has sriovNetSupport "${ami.sriovNetSupport}", not "simple": ${plan.instanceType} would run without ixgbevf enhanced networking`,
    );
  return ami.id;
}

/**
 * When the pair's capacity reservation ends: after the time-to-live (the hosts are gone by then)
 * plus 15 minutes, and at least 75 minutes from now. Limited, so a reservation never bills on
 * after a forgotten stack's hosts have ended themselves. ISO time without milliseconds. Pure.
 */
export function reservationEnd(nowMs: number, ttlMinutes: number): string {
  return new Date(nowMs + Math.max(ttlMinutes + 15, 75) * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * How each instance is placed in its market: into the pair's capacity reservation (on-demand), or
 * as a one-time spot instance that terminates when EC2 reclaims it (spot; no maximum price, so it
 * never bills above on-demand). Pure.
 */
export function marketArgs(
  market: AwsPlan['cost']['market'],
  reservationId: pulumi.Input<string> | undefined,
): Pick<aws.ec2.InstanceArgs, 'capacityReservationSpecification' | 'instanceMarketOptions'> {
  if (market === 'spot')
    return { instanceMarketOptions: { marketType: 'spot', spotOptions: { spotInstanceType: 'one-time', instanceInterruptionBehavior: 'terminate' } } };
  if (!reservationId) throw new Error("on-demand hosts launch into the pair's capacity reservation, and none was given");
  return { capacityReservationSpecification: { capacityReservationTarget: { capacityReservationId: reservationId } } };
}

/**
 * HostPair is a component that launches the experiment's two EC2 hosts, `server` and `client`:
 * the key pair (from the given public key, or a generated ed25519 pair), for on-demand hosts one
 * capacity reservation for both in the placement group (targeted, ending after the time-to-live),
 * and the two instances from the image's public SSM parameter, whose AMI must allow the family's
 * enhanced networking (checked at preview). The instances have fixed private addresses, IMDSv2
 * only, terminate on shutdown and user data that arms the time-to-live. Spot hosts (`aws.spot`)
 * are one-time spot instances in the same placement group, without a reservation, that terminate
 * when EC2 reclaims them.
 *
 * Its outputs are the addresses, ids and SSH credentials the later components connect with.
 * `pulumi destroy` terminates both instances (their root volumes go with them), cancels the
 * reservation and deletes the key pair; a generated key exists only in the stack state.
 */
export class HostPair extends pulumi.ComponentResource {
  /** Each host's public IPv4 address (SSH and the copy of the results). */
  readonly publicIps: Record<Role, pulumi.Output<string>>;
  /** Each host's EC2 instance id; a new id re-runs every step that prepares it. */
  readonly instanceIds: Record<Role, pulumi.Output<string>>;
  /** Each host's primary network interface (aws-vpc routes point at it). */
  readonly primaryEnis: Record<Role, pulumi.Output<string>>;
  /** The AMI both hosts run, after the enhanced-networking check. */
  readonly amiId: pulumi.Output<string>;
  /** The capacity reservation holding both hosts; undefined for spot hosts (reservations hold on-demand instances only). */
  readonly capacityReservationId: pulumi.Output<string> | undefined;
  /** The OpenSSH private key for the hosts (a secret): sshPrivateKey, or the generated key's. */
  readonly privateKey: pulumi.Output<string>;
  /** The image's login user (e.g. ec2-user on Amazon Linux, admin on Debian). */
  readonly user: string;

  /**
   * @param name The unique name of the component; its resources are named `<name>-key`, `<name>-capacity`, `<name>-server`, `<name>-client`.
   * @param args The plan, the network's ids and the hosts' settings.
   * @param opts Options of the component; the experiment passes its aws provider here.
   */
  constructor(name: string, args: HostPairArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:HostPair', name, {}, opts);
    const p = { parent: this };
    const { plan } = args;
    let publicKey: pulumi.Input<string>;
    if (args.sshPublicKey) {
      if (!args.sshPrivateKey)
        throw new Error('aws.sshPublicKey is set but the config secret netlab:sshPrivateKey is not: Pulumi needs the private half to prepare the hosts');
      publicKey = args.sshPublicKey;
      this.privateKey = pulumi.secret(pulumi.output(args.sshPrivateKey));
    } else {
      const key = new tls.PrivateKey(`${name}-key`, { algorithm: 'ED25519' }, p);
      publicKey = key.publicKeyOpenssh;
      this.privateKey = pulumi.secret(key.privateKeyOpenssh);
    }
    const keyPair = new aws.ec2.KeyPair(`${name}-key`, { publicKey, tags: plan.tags }, p);
    const param = aws.ssm.getParameterOutput({ name: plan.image.ssmParameter }, p);
    const ami = aws.ec2.getAmiOutput({ owners: [plan.image.owner], filters: [{ name: 'image-id', values: [param.value] }], mostRecent: true }, p);
    this.amiId = ami.apply((a) => checkAmiNetworking(plan, { id: a.id, enaSupport: a.enaSupport, sriovNetSupport: a.sriovNetSupport }));
    this.user = plan.image.user;
    // On-demand: both hosts' capacity in one request, in the cluster placement group: all or nothing
    // before any instance launches (two RunInstances calls into a cluster group are what draws
    // capacity errors). Spot: none (a reservation holds on-demand instances only).
    const spot = plan.cost.market === 'spot';
    const reservation = spot
      ? undefined
      : new aws.ec2.CapacityReservation(
          `${name}-capacity`,
          {
            instanceType: plan.instanceType,
            instancePlatform: 'Linux/UNIX',
            availabilityZone: args.availabilityZone,
            instanceCount: 2,
            placementGroupArn: args.placementGroupArn,
            instanceMatchCriteria: 'targeted',
            ebsOptimized: plan.networking.kind !== 'none',
            endDateType: 'limited',
            endDate: reservationEnd(Date.now(), args.ttlMinutes),
            tags: { ...plan.tags, Name: `${plan.stack}-capacity` },
          },
          { ...p, ignoreChanges: ['endDate'], ...(args.dependsOn ? { dependsOn: args.dependsOn } : {}) },
        );
    this.capacityReservationId = reservation?.id;
    const make = (role: Role) =>
      new aws.ec2.Instance(
        `${name}-${role}`,
        {
          ami: this.amiId,
          instanceType: plan.instanceType,
          availabilityZone: args.availabilityZone,
          subnetId: args.subnetId,
          privateIp: plan.hosts[role].privateIp,
          ...(plan.hosts[role].secondaryIps.length ? { secondaryPrivateIps: plan.hosts[role].secondaryIps } : {}),
          vpcSecurityGroupIds: [args.securityGroupId],
          placementGroup: args.placementGroupName,
          ...marketArgs(plan.cost.market, reservation?.id),
          keyName: keyPair.keyName,
          associatePublicIpAddress: true,
          sourceDestCheck: plan.sourceDestCheck,
          ebsOptimized: plan.networking.kind !== 'none',
          instanceInitiatedShutdownBehavior: 'terminate',
          metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 2 },
          rootBlockDevice: { volumeSize: args.rootVolumeGb, volumeType: 'gp3', encrypted: true, deleteOnTermination: true },
          userData: ttlUserData(args.ttlMinutes),
          userDataReplaceOnChange: true,
          tags: { ...plan.tags, 'netlab:role': role, Name: `${plan.stack}-${role}` },
        },
        { ...p, ...(args.dependsOn ? { dependsOn: args.dependsOn } : {}) },
      );
    const server = make('server');
    const client = make('client');
    this.publicIps = { server: server.publicIp, client: client.publicIp };
    this.instanceIds = { server: server.id, client: client.id };
    this.primaryEnis = { server: server.primaryNetworkInterfaceId, client: client.primaryNetworkInterfaceId };
    this.registerOutputs({ publicIps: this.publicIps, instanceIds: this.instanceIds, amiId: this.amiId });
  }
}
