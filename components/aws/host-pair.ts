// The two EC2 hosts: AMI from the kernel catalogue (via its public SSM parameter), enhanced
// networking checked against the AMI before launch, IMDSv2 only, terminate-on-shutdown plus a
// shutdown armed at boot (the time-to-live), SSH key given or generated, tags naming the experiment.
import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import * as tls from '@pulumi/tls';
import type { AwsPlan, Role } from '../../lib/aws/plan.ts';
import { ttlUserData } from '../../lib/aws/scripts.ts';

export interface HostPairArgs {
  plan: AwsPlan;
  subnetId: pulumi.Input<string>;
  securityGroupId: pulumi.Input<string>;
  placementGroupName: pulumi.Input<string>;
  placementGroupArn: pulumi.Input<string>;
  /** The zone checked by the preflight (offers the type). */
  availabilityZone: pulumi.Input<string>;
  ttlMinutes: number;
  rootVolumeGb: number;
  /** OpenSSH public key; absent = generate an ed25519 pair kept (secret) in the stack state. */
  sshPublicKey?: string | undefined;
  /** Private key for Pulumi's own SSH sessions when sshPublicKey is given (config secret). */
  sshPrivateKey?: pulumi.Input<string> | undefined;
  /** Resources that must exist first (the quota and zone preflight). */
  dependsOn?: pulumi.Input<pulumi.Resource>[] | undefined;
}

/** The AMI's attributes must allow the family's enhanced networking; else the run would silently use a slow NIC. */
export function checkAmiNetworking(plan: AwsPlan, ami: { id: string; enaSupport: boolean; sriovNetSupport: string }): string {
  const kind = plan.networking.kind;
  if (kind === 'ena' && !ami.enaSupport) throw new Error(`AMI ${ami.id} (${plan.image.ssmParameter}) lacks ENA support, which ${plan.instanceType} needs for enhanced networking`);
  if (kind === 'ixgbevf' && ami.sriovNetSupport !== 'simple')
    throw new Error(`AMI ${ami.id} (${plan.image.ssmParameter}) has sriovNetSupport "${ami.sriovNetSupport}", not "simple": ${plan.instanceType} would run without ixgbevf enhanced networking`);
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

export class HostPair extends pulumi.ComponentResource {
  readonly publicIps: Record<Role, pulumi.Output<string>>;
  readonly instanceIds: Record<Role, pulumi.Output<string>>;
  /** Each host's primary network interface (aws-vpc routes point at it). */
  readonly primaryEnis: Record<Role, pulumi.Output<string>>;
  readonly amiId: pulumi.Output<string>;
  readonly capacityReservationId: pulumi.Output<string>;
  readonly privateKey: pulumi.Output<string>;
  readonly user: string;

  constructor(name: string, args: HostPairArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:HostPair', name, {}, opts);
    const p = { parent: this };
    const { plan } = args;
    let publicKey: pulumi.Input<string>;
    if (args.sshPublicKey) {
      if (!args.sshPrivateKey) throw new Error('aws.sshPublicKey is set but the config secret netlab:sshPrivateKey is not: Pulumi needs the private half to prepare the hosts');
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
    // Both hosts' capacity in one request, in the cluster placement group: all or nothing before any
    // instance launches (two RunInstances calls into a cluster group are what draws capacity errors).
    const reservation = new aws.ec2.CapacityReservation(
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
    this.capacityReservationId = reservation.id;
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
          capacityReservationSpecification: { capacityReservationTarget: { capacityReservationId: reservation.id } },
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
