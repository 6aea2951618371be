// The Kubernetes cluster: kubeadm init on the server (kube-proxy in the spec's mode, or none for
// Cilium's replacement), the client joins, then the pod network (CNI) goes on and both nodes must
// be Ready. The admin kubeconfig is a secret output.
import * as pulumi from '@pulumi/pulumi';
import type * as command from '@pulumi/command';
import { awsVpcHostScript, cniScript, ipvlanConflist, ipvlanHostScript, joinCommandScript, joinScript, kubeadmInitScript, kubeconfigScript } from '../../lib/aws/cluster.ts';
import type { AwsPlan, Role } from '../../lib/aws/plan.ts';
import { shq } from '../../lib/core/shell.ts';
import { remoteStep, type Conn } from './remote.ts';

export interface ClusterArgs {
  plan: AwsPlan;
  subnetCidr: string;
  conns: Record<Role, Conn>;
  /** The hosts' last preparation steps. */
  ready: Record<Role, command.remote.Command>;
  /** aws-vpc: the VPC routes to each host's pod range (the pods are unreachable before they exist). */
  podRoutes?: pulumi.Resource[] | undefined;
  triggers: pulumi.Input<unknown>[];
}

export class Cluster extends pulumi.ComponentResource {
  readonly kubeconfig: pulumi.Output<string>;
  readonly ready: command.remote.Command;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:Cluster', name, {}, opts);
    const { plan, conns } = args;
    const c = plan.cluster;
    const t = { parent: this, triggers: args.triggers };
    const init = remoteStep(`${name}-kubeadm-init`, conns.server, kubeadmInitScript(c), { ...t, dependsOn: [args.ready.server] });
    const joinCmd = remoteStep(`${name}-join-command`, conns.server, joinCommandScript(), { ...t, dependsOn: [init], secret: true });
    const kubeconfig = remoteStep(`${name}-kubeconfig`, conns.server, kubeconfigScript(), { ...t, dependsOn: [init], secret: true });
    this.kubeconfig = pulumi.secret(kubeconfig.stdout);
    const joinStdin = pulumi.all([joinCmd.stdout, kubeconfig.stdout]).apply(
      ([j, k]) => `NETLAB_JOIN=${shq(j.trim())}\nNETLAB_KUBECONFIG=${shq(k)}\n${joinScript().replace(/^#!\/bin\/bash\n/, '')}`,
    );
    const join = remoteStep(`${name}-join`, conns.client, joinStdin, { ...t, dependsOn: [args.ready.client, joinCmd, kubeconfig], secret: true });
    const before: command.remote.Command[] = [join];
    if (c.datapath === 'ipvlan')
      for (const role of ['server', 'client'] as const) {
        const ips = plan.hosts[role].secondaryIps;
        const conf = ipvlanConflist({ subnetCidr: args.subnetCidr, gateway: plan.subnetGateway, first: ips[0]!, last: ips[ips.length - 1]! });
        before.push(remoteStep(`${name}-ipvlan-conf-${role}`, conns[role], ipvlanHostScript(conf), { ...t, dependsOn: [join] }));
      }
    if (plan.podRoutes)
      for (const role of ['server', 'client'] as const)
        before.push(remoteStep(`${name}-aws-vpc-conf-${role}`, conns[role], awsVpcHostScript({ nodePodCidr: plan.podRoutes[role], podCidr: c.podCidr }), { ...t, dependsOn: [join, ...(args.podRoutes ?? [])] }));
    const cni = remoteStep(`${name}-cni`, conns.server, cniScript(c), { ...t, dependsOn: before, timeout: '40m' });
    this.ready = cni;
    this.registerOutputs({ kubeconfig: this.kubeconfig });
  }
}
