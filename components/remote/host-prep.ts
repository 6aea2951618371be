// Host preparation, per host and in order, after both hosts passed their first-connection check:
// wait for cloud-init (aws: TTL armed), verify kernel and NIC driver against the spec, install the
// missing packages (the client builds tcpkali), read the host's facts, apply the tuning plan made
// from those facts, install containerd and kubeadm (unless there is no cluster). On an ssh stack
// each step that changes the host undoes it on destroy.
import * as pulumi from '@pulumi/pulumi';
import type * as command from '@pulumi/command';
import type { RemoteSpec } from '../../lib/spec/schema.ts';
import type { Role } from '../../lib/remote/plan.ts';
import type { RemotePlan } from '../../lib/remote/plan.ts';
import {
  factsScript,
  kubePackagesScript,
  packagesScript,
  packagesUndoScript,
  parseFacts,
  verifyScript,
  waitScript,
  type HostFacts,
} from '../../lib/aws/scripts.ts';
import { kubePackagesUndoScript, tuningUndoScript } from '../../lib/remote/scripts.ts';
import { hostTuningScript } from '../../lib/aws/workload.ts';
import { remoteStep, type Conn } from './remote.ts';

/** HostPrepArgs: which host to prepare, how to reach it, and the spec and plan it is prepared for. */
export interface HostPrepArgs {
  /**
   * The validated aws or ssh spec. Read here: `workload.tool` (picks the load tool installed:
   * tcpkali, wrk, or else ab), the tuning and `proxy.mode` (ipvs loads the IPVS modules). Required.
   */
  spec: RemoteSpec;
  /**
   * The remote plan (awsPlan or sshPlan): the image (kernel line, package manager), the NIC driver
   * the host must use, the Kubernetes version, whether there is a cluster, a TTL to wait for, and
   * whether steps undo themselves on destroy. Required.
   */
  plan: RemotePlan;
  /** Which host this is: 'server' or 'client' (the client builds tcpkali when the tool is tcpkali). Required. */
  role: Role;
  /** How to reach the host over SSH (from HostPair's outputs). Required. */
  conn: Conn;
  /**
   * Values whose change re-runs every step; the experiment passes the host's instance id, so a new
   * host is prepared from scratch. Required.
   */
  triggers: pulumi.Input<unknown>[];
  /**
   * Steps that must succeed before this host is changed at all: both hosts' first-connection
   * checks, so that a bad host is named before anything changes on the other one.
   * @default none
   */
  after?: pulumi.Resource[];
}

export { hostTuningScript };

/**
 * HostPrep is a component that prepares one host over SSH, one remote step after the other:
 * (aws) wait for cloud-init and the armed time-to-live, verify the kernel line and the NIC driver,
 * install the missing packages, read the host's facts, apply the tuning made from those facts,
 * then (with a cluster) install containerd and kubeadm/kubelet/kubectl.
 *
 * Its outputs are the last step (to depend on) and the facts. On aws the steps have no delete
 * command (HostPair's destroy terminates the host); on ssh (`plan.undo`) packages, tuning and
 * kube-packages are undone on `pulumi destroy`.
 */
export class HostPrep extends pulumi.ComponentResource {
  /** The last step (kube-packages, or tuning without a cluster); later components depend on it. */
  readonly ready: command.remote.Command;
  /** The host's facts (lscpu -p, NIC queues and IRQs, kernel), parsed. */
  readonly facts: pulumi.Output<HostFacts>;
  /** The same facts as the facts step printed them. */
  readonly factsText: pulumi.Output<string>;

  /**
   * @param name The unique name of the component; its steps are named `<name>-wait`, `<name>-verify`, ….
   * @param args The spec, plan, role and connection of the host.
   * @param opts Options of the component.
   */
  constructor(name: string, args: HostPrepArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:HostPrep', name, {}, opts);
    const { spec, plan, role, conn } = args;
    const w = spec.workload.tool;
    const tools = w === 'tcpkali' ? (['tcpkali'] as const) : w === 'wrk' ? (['wrk'] as const) : (['ab'] as const);
    let prev: command.remote.Command | undefined;
    const step = (suffix: string, script: pulumi.Input<string>, undo?: string) => {
      const dependsOn = prev ? [prev] : (args.after ?? []);
      prev = remoteStep(`${name}-${suffix}`, conn, script, {
        parent: this,
        triggers: args.triggers,
        ...(dependsOn.length ? { dependsOn } : {}),
        ...(plan.undo && undo ? { undo } : {}),
      });
      return prev;
    };
    if (plan.ttl) step('wait', waitScript());
    step('verify', verifyScript({ unamePrefix: plan.image.unamePrefix, driver: plan.networking.driver }));
    step(
      'packages',
      packagesScript({ image: plan.image, role, tools: [...tools], hostNginx: plan.clusterKind !== 'kubeadm', processes: plan.clusterKind === 'processes' }),
      packagesUndoScript(plan.image, 'packages'),
    );
    const facts = step('facts', factsScript());
    this.factsText = facts.stdout;
    this.facts = facts.stdout.apply(parseFacts);
    let last = step(
      'tuning',
      facts.stdout.apply((text) => hostTuningScript(spec, text, plan.image)),
      tuningUndoScript(),
    );
    if (plan.clusterKind === 'kubeadm')
      last = step(
        'kube-packages',
        kubePackagesScript({ image: plan.image, kubernetesVersion: plan.kubernetesVersion, ipvs: spec.proxy?.mode === 'ipvs' }),
        kubePackagesUndoScript(plan.image),
      );
    this.ready = last;
    this.registerOutputs({ facts: this.factsText });
  }
}
