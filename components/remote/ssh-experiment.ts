// One ssh experiment: your two hosts, reached over SSH with the stack's key, and the remote flow on
// them. `index.ts` checks both hosts first (lib/remote/preflight.ts), then creates this.
import * as pulumi from '@pulumi/pulumi';
import { createHash } from 'node:crypto';
import type { Role } from '../../lib/remote/plan.ts';
import { sshPlan, type SshPlan } from '../../lib/remote/plan.ts';
import type { SshSpec } from '../../lib/spec/schema.ts';
import { RemoteFlow } from './experiment.ts';
import type { Conn } from './remote.ts';

/** SshExperimentArgs: one validated ssh stack, its key, and where this project lives. */
export interface SshExperimentArgs {
  /** The validated spec of an ssh stack (target ssh, with its `ssh` block: hosts, user, port, os, cluster). Required. */
  spec: SshSpec;
  /** The netlab project directory on this machine (holds bin/netlab.js; results go to its results/). Required. */
  projectDir: string;
  /** The private key both hosts accept for their login users (the config secret `netlab:sshPrivateKey`). Required. */
  sshPrivateKey: pulumi.Input<string>;
}

/**
 * SshExperiment is a component that runs one ssh stack on two hosts you already have: the remote
 * flow (RemoteFlow: check, host preparation, cluster, workload, collect) with connections from
 * `netlab:ssh`. Nothing is created but the steps on the hosts; `pulumi destroy` undoes each of them
 * (packages netlab installed, tuning values, nginx, the cluster, /var/lib/netlab) and leaves the
 * hosts as they were. The results stay on this machine.
 */
export class SshExperiment extends pulumi.ComponentResource {
  /** The plan made from the spec (`sshPlan(spec)`): endpoints, addresses, steps, points. */
  readonly plan: SshPlan;
  /** SHA-256 (hex) of the resolved spec's JSON; a change measures again. */
  readonly specHash: string;
  /** Each host as SSH reaches it, `user@address:port`. */
  readonly endpoints: Record<Role, string>;
  /** What each host's first-connection check printed. */
  readonly checks: Record<Role, pulumi.Output<string>>;
  /** The cluster's admin kubeconfig (a secret; '' without a cluster). */
  readonly kubeconfig: pulumi.Output<string>;
  /** The run's result directory here, `results/<stack>/<run-id>/` (holds result.json). */
  readonly resultDir: pulumi.Output<string>;

  /**
   * @param name The unique name of the component (index.ts passes the stack's name); its steps are named `<name>-…`.
   * @param args The spec, the project directory and the private key.
   * @param opts Options of the component.
   */
  constructor(name: string, args: SshExperimentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:ssh:Experiment', name, {}, opts);
    const { spec } = args;
    const plan = sshPlan(spec);
    this.plan = plan;
    this.specHash = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
    const e = plan.endpoints;
    const conn = (r: Role): Conn => ({ host: e[r].address, user: e[r].user, port: e[r].port, privateKey: args.sshPrivateKey });
    this.endpoints = { server: `${e.server.user}@${e.server.address}:${e.server.port}`, client: `${e.client.user}@${e.client.address}:${e.client.port}` };
    const flow = new RemoteFlow(
      `${name}-flow`,
      {
        spec,
        plan,
        conns: { server: conn('server'), client: conn('client') },
        projectDir: args.projectDir,
        // Another host behind the same role is prepared from scratch.
        triggers: [this.endpoints.server, this.endpoints.client],
        specHash: this.specHash,
        prefix: name,
      },
      { parent: this },
    );
    this.checks = { server: flow.checks.server.stdout, client: flow.checks.client.stdout };
    this.kubeconfig = flow.kubeconfig;
    this.resultDir = flow.resultDir;
    this.registerOutputs({ resultDir: this.resultDir });
  }
}
