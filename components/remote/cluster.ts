// The Kubernetes cluster: kubeadm init on the server (kube-proxy in the spec's mode, or none for
// Cilium's replacement), the client joins, then the pod network (CNI) goes on and both nodes must
// be Ready. The admin kubeconfig is a secret output.
import * as pulumi from '@pulumi/pulumi';
import type * as command from '@pulumi/command';
import {
  awsVpcHostScript,
  cniScript,
  ipvlanConflist,
  ipvlanHostScript,
  joinCommandScript,
  joinScript,
  kubeadmInitScript,
  kubeconfigScript,
} from '../../lib/aws/cluster.ts';
import type { Role } from '../../lib/remote/plan.ts';
import type { RemotePlan } from '../../lib/remote/plan.ts';
import { kubeadmUndoScript } from '../../lib/remote/scripts.ts';
import { shq } from '../../lib/core/shell.ts';
import { remoteStep, type Conn } from './remote.ts';

/** ClusterArgs: the plan the cluster is built from and the prepared hosts it is built on. */
export interface ClusterArgs {
  /**
   * The aws plan: its `cluster` input (pod network, kube-proxy mode, pod and Service ranges,
   * Kubernetes version), each host's secondary addresses (ipvlan), the subnet's gateway and the
   * aws-vpc pod routes. Required.
   */
  plan: RemotePlan;
  /**
   * The subnet's range (CIDR; `aws.subnetCidr`), written into the ipvlan conflist (aws only).
   * @default '': no ipvlan
   */
  subnetCidr?: string;
  /** How to reach each host over SSH (from HostPair's outputs). Required. */
  conns: Record<Role, Conn>;
  /** The hosts' last preparation steps (HostPrep.ready): kubeadm init and join wait for them. Required. */
  ready: Record<Role, command.remote.Command>;
  /**
   * aws-vpc: the VPC routes to each host's pod range, which the hosts' bridge conflists wait for
   * (the pods are unreachable before they exist). Ignored by every other pod network.
   * @default undefined: nothing extra to wait for.
   */
  podRoutes?: pulumi.Resource[] | undefined;
  /**
   * Values whose change re-runs every step; the experiment passes both instance ids, so new hosts
   * get a new cluster. Required.
   */
  triggers: pulumi.Input<unknown>[];
}

/**
 * Cluster is a component that builds the kubeadm cluster over SSH: `kubeadm init` on the server
 * (kube-proxy in the spec's mode, or skipped for Cilium's replacement), the join command and the
 * admin kubeconfig read from it (secret steps), the client's join, the per-host pod-network
 * configuration where the datapath needs one (ipvlan conflists; aws-vpc bridge conflists), then the
 * pod network itself, after which both nodes must be Ready (up to 40 minutes).
 *
 * Its outputs are the kubeconfig (a secret) and the last step. On aws the steps have no delete
 * command (HostPair's destroy terminates the hosts); on ssh (`plan.undo`) init and join run
 * `kubeadm reset` on destroy.
 */
export class Cluster extends pulumi.ComponentResource {
  /** The cluster's admin kubeconfig (a secret); its server address is the server's private one, reached through an SSH tunnel. */
  readonly kubeconfig: pulumi.Output<string>;
  /** The pod-network step (cni): once it is created both nodes are Ready. */
  readonly ready: command.remote.Command;

  /**
   * @param name The unique name of the component; its steps are named `<name>-kubeadm-init`, `<name>-join`, `<name>-cni`, ….
   * @param args The plan, the connections and what to wait for.
   * @param opts Options of the component.
   */
  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:Cluster', name, {}, opts);
    const { plan, conns } = args;
    const c = plan.cluster;
    const t = { parent: this, triggers: args.triggers };
    // ssh stacks: kubeadm reset on destroy (the hosts are the user's and stay).
    const reset = plan.undo ? { undo: kubeadmUndoScript() } : {};
    const init = remoteStep(`${name}-kubeadm-init`, conns.server, kubeadmInitScript(c), { ...t, ...reset, dependsOn: [args.ready.server] });
    const joinCmd = remoteStep(`${name}-join-command`, conns.server, joinCommandScript(), { ...t, dependsOn: [init], secret: true });
    const kubeconfig = remoteStep(`${name}-kubeconfig`, conns.server, kubeconfigScript(), { ...t, dependsOn: [init], secret: true });
    this.kubeconfig = pulumi.secret(kubeconfig.stdout);
    const joinStdin = pulumi
      .all([joinCmd.stdout, kubeconfig.stdout])
      .apply(([j, k]) => `NETLAB_JOIN=${shq(j.trim())}\nNETLAB_KUBECONFIG=${shq(k)}\n${joinScript().replace(/^#!\/bin\/bash\n/, '')}`);
    const join = remoteStep(`${name}-join`, conns.client, joinStdin, {
      ...t,
      ...reset,
      dependsOn: [args.ready.client, joinCmd, kubeconfig],
      secret: true,
    });
    const before: command.remote.Command[] = [join];
    if (c.datapath === 'ipvlan')
      for (const role of ['server', 'client'] as const) {
        const ips = plan.hosts[role].secondaryIps;
        const conf = ipvlanConflist({ subnetCidr: args.subnetCidr ?? '', gateway: plan.subnetGateway, first: ips[0]!, last: ips[ips.length - 1]! });
        before.push(remoteStep(`${name}-ipvlan-conf-${role}`, conns[role], ipvlanHostScript(conf), { ...t, dependsOn: [join] }));
      }
    if (plan.podRoutes)
      for (const role of ['server', 'client'] as const)
        before.push(
          remoteStep(`${name}-aws-vpc-conf-${role}`, conns[role], awsVpcHostScript({ nodePodCidr: plan.podRoutes[role], podCidr: c.podCidr }), {
            ...t,
            dependsOn: [join, ...(args.podRoutes ?? [])],
          }),
        );
    const cni = remoteStep(`${name}-cni`, conns.server, cniScript(c), { ...t, dependsOn: before, timeout: '40m' });
    this.ready = cni;
    this.registerOutputs({ kubeconfig: this.kubeconfig });
  }
}
