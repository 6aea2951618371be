// The remote flow, once two hosts answer over SSH: first-connection check on both, host
// preparation, the cluster (kubeadm, or none), the workload and collection. The aws target runs it
// on the EC2 pair it made; the ssh target on the hosts the stack names.
import * as pulumi from '@pulumi/pulumi';
import type * as command from '@pulumi/command';
import type { Role } from '../../lib/remote/plan.ts';
import type { RemotePlan } from '../../lib/remote/plan.ts';
import { checkScript, hostDirUndoScript, imageRelease } from '../../lib/remote/scripts.ts';
import type { RemoteSpec } from '../../lib/spec/schema.ts';
import { Cluster } from './cluster.ts';
import { HostPrep } from './host-prep.ts';
import { ProcessesCluster } from './processes.ts';
import { remoteStep, type Conn } from './remote.ts';
import { Workload } from './workload.ts';

/** RemoteFlowArgs: the spec and plan, how to reach the two hosts, and what re-runs the flow. */
export interface RemoteFlowArgs {
  /** The validated aws or ssh spec. Required. */
  spec: RemoteSpec;
  /** Its plan (awsPlan or sshPlan): steps, cluster input, points, whether steps undo themselves. Required. */
  plan: RemotePlan;
  /** How Pulumi's SSH sessions reach each host. Required. */
  conns: Record<Role, Conn>;
  /** The netlab project directory on this machine (holds bin/netlab.js; results go to its results/). Required. */
  projectDir: string;
  /**
   * Values whose change re-runs every step on the hosts (aws: both instance ids, so new hosts are
   * prepared from scratch; ssh: both endpoints). Required.
   */
  triggers: pulumi.Input<unknown>[];
  /** SHA-256 of the resolved spec: a change measures again (deploy, run, collect). Required. */
  specHash: string;
  /**
   * The prefix of every step's name (the stack's name), so that the steps keep their names whichever
   * target runs them. Required.
   */
  prefix: string;
  /**
   * aws-vpc: the VPC routes the hosts' bridge conflists wait for.
   * @default undefined
   */
  podRoutes?: pulumi.Resource[] | undefined;
  /**
   * aws: the subnet's range, for the ipvlan conflist.
   * @default undefined
   */
  subnetCidr?: string | undefined;
}

/**
 * RemoteFlow is a component that runs an experiment on two hosts reached over SSH. Each host's
 * first step (`check`, as the login user) requires root or passwordless sudo and a supported
 * distribution; every later step on either host waits for both checks, so a bad host is named
 * before anything changes on the other. Then HostPrep per host, the cluster (Cluster for kubeadm,
 * ProcessesCluster for ssh.cluster processes, none for ssh.cluster none) and Workload.
 *
 * Its outputs are the kubeconfig (a secret; '' without a cluster) and the result directory. On an
 * ssh stack `pulumi destroy` undoes every step on the hosts, newest first, and finally removes
 * /var/lib/netlab and /etc/netlab.
 */
export class RemoteFlow extends pulumi.ComponentResource {
  /** The cluster's admin kubeconfig (a secret); '' without a cluster. */
  readonly kubeconfig: pulumi.Output<string>;
  /** The run's result directory here, `results/<stack>/<run-id>/` (holds result.json). */
  readonly resultDir: pulumi.Output<string>;
  /** Each host's first-connection check (its stdout is `netlab-check: ok <id> <version> <kernel>`). */
  readonly checks: Record<Role, command.remote.Command>;

  /**
   * @param name The unique name of the component.
   * @param args The spec, plan, connections and triggers.
   * @param opts Options of the component.
   */
  constructor(name: string, args: RemoteFlowArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:remote:Flow', name, {}, opts);
    const { spec, plan, conns, prefix } = args;
    const p = { parent: this };
    const check = (role: Role) =>
      remoteStep(
        `${prefix}-check-${role}`,
        conns[role],
        checkScript({
          os: plan.image.distro,
          unamePrefix: plan.image.unamePrefix,
          ...(plan.target === 'aws' ? { release: imageRelease(plan.image.os) } : {}),
        }),
        {
          parent: this,
          create: 'sh -s',
          triggers: args.triggers,
          ...(plan.undo ? { undo: hostDirUndoScript() } : {}),
        },
      );
    this.checks = { server: check('server'), client: check('client') };
    const after = [this.checks.server, this.checks.client];
    const prep = {
      server: new HostPrep(`${prefix}-prep-server`, { spec, plan, role: 'server', conn: conns.server, triggers: args.triggers, after }, p),
      client: new HostPrep(`${prefix}-prep-client`, { spec, plan, role: 'client', conn: conns.client, triggers: args.triggers, after }, p),
    };
    let ready: command.remote.Command | command.remote.Command[] = [prep.server.ready, prep.client.ready];
    if (plan.clusterKind === 'kubeadm') {
      const cluster = new Cluster(
        `${prefix}-cluster`,
        {
          plan,
          subnetCidr: args.subnetCidr,
          conns,
          ready: { server: prep.server.ready, client: prep.client.ready },
          podRoutes: args.podRoutes,
          triggers: args.triggers,
        },
        p,
      );
      ready = cluster.ready;
      this.kubeconfig = cluster.kubeconfig;
    } else if (plan.clusterKind === 'processes') {
      const cluster = new ProcessesCluster(
        `${prefix}-cluster`,
        { plan, conns, ready: { server: prep.server.ready, client: prep.client.ready }, triggers: args.triggers },
        p,
      );
      ready = cluster.ready;
      // The admin's kubeconfig stays on the hosts (its token is a file there); nothing to hand out.
      this.kubeconfig = pulumi.secret(pulumi.output(''));
    } else this.kubeconfig = pulumi.secret(pulumi.output(''));
    const workload = new Workload(
      `${prefix}-workload`,
      {
        spec,
        plan,
        conns,
        facts: { server: prep.server.facts, client: prep.client.facts },
        clusterReady: ready,
        projectDir: args.projectDir,
        triggers: [...args.triggers, args.specHash],
      },
      p,
    );
    this.resultDir = workload.resultDir;
    this.registerOutputs({ kubeconfig: this.kubeconfig, resultDir: this.resultDir });
  }
}
