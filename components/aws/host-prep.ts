// Host preparation, per host and in order: wait for cloud-init (TTL armed), verify kernel and NIC
// driver against the spec, install packages (the client builds tcpkali), read the host's facts,
// apply the tuning plan made from those facts, install containerd and kubeadm.
import * as pulumi from '@pulumi/pulumi';
import type * as command from '@pulumi/command';
import type { AwsSpec } from '../../lib/spec/schema.ts';
import type { AwsPlan, Role } from '../../lib/aws/plan.ts';
import { factsScript, kubePackagesScript, packagesScript, parseFacts, verifyScript, waitScript, type HostFacts } from '../../lib/aws/scripts.ts';
import { hostTuningScript } from '../../lib/aws/workload.ts';
import { remoteStep, type Conn } from './remote.ts';

/** HostPrepArgs: which host to prepare, how to reach it, and the spec and plan it is prepared for. */
export interface HostPrepArgs {
  /**
   * The validated aws spec. Read here: `workload.tool` (picks the load tool installed: tcpkali,
   * wrk, or else ab), the tuning, `aws.kubernetesVersion` and `proxy.mode` (ipvs loads the
   * IPVS modules). Required.
   */
  spec: AwsSpec;
  /** The aws plan: the image (kernel line, package manager) and the NIC driver the host must use. Required. */
  plan: AwsPlan;
  /** Which host this is: 'server' or 'client' (the client builds tcpkali when the tool is tcpkali). Required. */
  role: Role;
  /** How to reach the host over SSH (from HostPair's outputs). Required. */
  conn: Conn;
  /**
   * Values whose change re-runs every step; the experiment passes the host's instance id, so a new
   * host is prepared from scratch. Required.
   */
  triggers: pulumi.Input<unknown>[];
}

export { hostTuningScript };

/**
 * HostPrep is a component that prepares one host over SSH, one remote step after the other:
 * wait for cloud-init and the armed time-to-live, verify the kernel line and the NIC driver,
 * install packages, read the host's facts, apply the tuning made from those facts, then install
 * containerd and kubeadm/kubelet/kubectl.
 *
 * Its outputs are the last step (to depend on) and the facts. The steps have no delete command:
 * `pulumi destroy` undoes nothing on the host, which HostPair's destroy terminates.
 */
export class HostPrep extends pulumi.ComponentResource {
  /** The last step (kube-packages); later components depend on it. */
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
    const step = (suffix: string, script: pulumi.Input<string>) => {
      prev = remoteStep(`${name}-${suffix}`, conn, script, { parent: this, triggers: args.triggers, ...(prev ? { dependsOn: [prev] } : {}) });
      return prev;
    };
    step('wait', waitScript());
    step('verify', verifyScript({ unamePrefix: plan.image.unamePrefix, driver: plan.networking.driver }));
    step('packages', packagesScript({ image: plan.image, role, tools: [...tools] }));
    const facts = step('facts', factsScript());
    this.factsText = facts.stdout;
    this.facts = facts.stdout.apply(parseFacts);
    step(
      'tuning',
      facts.stdout.apply((text) => hostTuningScript(spec, text, plan.image)),
    );
    this.ready = step(
      'kube-packages',
      kubePackagesScript({ image: plan.image, kubernetesVersion: spec.aws.kubernetesVersion, ipvs: spec.proxy?.mode === 'ipvs' }),
    );
    this.registerOutputs({ facts: this.factsText });
  }
}
