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

export interface HostPrepArgs {
  spec: AwsSpec;
  plan: AwsPlan;
  role: Role;
  conn: Conn;
  /** Changes of these re-run every step (the instance id: a new host is prepared from scratch). */
  triggers: pulumi.Input<unknown>[];
}

export { hostTuningScript };

export class HostPrep extends pulumi.ComponentResource {
  /** The last step; later components depend on it. */
  readonly ready: command.remote.Command;
  readonly facts: pulumi.Output<HostFacts>;
  readonly factsText: pulumi.Output<string>;

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
    step('tuning', facts.stdout.apply((text) => hostTuningScript(spec, text, plan.image)));
    this.ready = step('kube-packages', kubePackagesScript({ image: plan.image, kubernetesVersion: spec.aws.kubernetesVersion, ipvs: spec.proxy?.mode === 'ipvs' }));
    this.registerOutputs({ facts: this.factsText });
  }
}
