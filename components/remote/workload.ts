// The workload: nginx on the server node, then the measuring loop on the client host, then the
// results copied back and turned into result.json under results/<stack>/<run-id>/ here.
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import { join } from 'node:path';
import type * as remoteCmd from '@pulumi/command';
import type { Role } from '../../lib/remote/plan.ts';
import type { RemotePlan } from '../../lib/remote/plan.ts';
import { hostNginxScript, hostNginxUndoScript } from '../../lib/remote/scripts.ts';
import { processesCluster } from '../../lib/remote/plan.ts';
import { podScript, podUndoScript, RUN_ENV } from '../../lib/remote/processes.ts';
import type { HostFacts } from '../../lib/aws/scripts.ts';
import { runScript, workloadManifest, workloadScript } from '../../lib/aws/workload.ts';
import type { RemoteSpec } from '../../lib/spec/schema.ts';
import { formatCpuList, parseLscpuP } from '../../lib/tuning/topology.ts';
import { placement, workerCpuAffinity } from '../../lib/tuning/plan.ts';
import { remoteStep, type Conn } from './remote.ts';

/** WorkloadArgs: what to serve and measure, on which hosts, once the cluster is ready. */
export interface WorkloadArgs {
  /**
   * The validated aws spec: server (response size, workers, keep-alive), proxy (the Service
   * fleet), workload, tuning (pinning) and the stack's name (`netlab collect <name>`). Required.
   */
  spec: RemoteSpec;
  /** The remote plan: its measured points (the sweep, run in order), whether there is a cluster, whether steps undo themselves. Required. */
  plan: RemotePlan;
  /** How to reach each host over SSH (from HostPair's outputs); the client's is also used to copy the results back. Required. */
  conns: Record<Role, Conn>;
  /** Each host's facts (HostPrep.facts): their CPU topology places the load tool and nginx's workers when `tuning.pinning` is on. Required. */
  facts: Record<Role, pulumi.Output<HostFacts>>;
  /** The cluster's last step (Cluster.ready), or without a cluster both hosts' last preparation steps; nginx is deployed after them. Required. */
  clusterReady: remoteCmd.remote.Command | remoteCmd.remote.Command[];
  /** The netlab project directory on this machine (holds bin/netlab.js; results go to its results/). Required. */
  projectDir: string;
  /**
   * Values whose change re-runs deploy and run (and so collect); the experiment passes both
   * instance ids and the spec's hash, so any change of the spec measures again. Required.
   */
  triggers: pulumi.Input<unknown>[];
}

/** CPUs the load tool may use on the client and nginx's worker affinity on the server (pinning), from the hosts' facts. */
export function pinning(spec: RemoteSpec, client: HostFacts, server: HostFacts): { clientCpus: string; cpuAffinity?: string } {
  const clientTopo = parseLscpuP(client.lscpu);
  if (!spec.tuning.pinning) return { clientCpus: formatCpuList(clientTopo.cpus.map((x) => x.cpu)) };
  const s = placement(parseLscpuP(server.lscpu), false).server;
  return { clientCpus: formatCpuList(placement(clientTopo, false).client), cpuAffinity: workerCpuAffinity(s, spec.server.workers) };
}

/**
 * Workload is a component that measures: nginx deployed on the server node (pinned when
 * `tuning.pinning` is on; without a cluster, nginx on the server host itself), the measuring loop
 * on the client host over every point of the plan (up to 6 hours), then `netlab collect` run here,
 * which copies the run's tarball back over SSH and writes result.json under
 * `results/<stack>/<run-id>/`.
 *
 * Its outputs are the run's output and the result directory. The results stay on this machine on
 * `pulumi destroy`; on an ssh stack without a cluster, destroy stops the host nginx and removes
 * its files (with a cluster, kubeadm reset removes the pods).
 */
export class Workload extends pulumi.ComponentResource {
  /** What the run step printed; its last `netlab-run: <path>` line names the tarball on the client. */
  readonly runOutput: pulumi.Output<string>;
  /** The result directory written by collect (the last line it printed), or '' if it printed nothing. */
  readonly resultDir: pulumi.Output<string>;

  /**
   * @param name The unique name of the component; its steps are named `<name>-workload`, `<name>-run`, `<name>-collect`.
   * @param args The spec, plan, connections and facts.
   * @param opts Options of the component.
   */
  constructor(name: string, args: WorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:aws:Workload', name, {}, opts);
    const { spec, plan, conns } = args;
    const t = { parent: this, triggers: args.triggers };
    const pin = pulumi.all([args.facts.client, args.facts.server]).apply(([c, s]) => pinning(spec, c, s));
    const ready = Array.isArray(args.clusterReady) ? args.clusterReady : [args.clusterReady];
    const direct = plan.clusterKind === 'none';
    const processes = plan.clusterKind === 'processes';
    const deploy = direct
      ? remoteStep(
          `${name}-workload`,
          conns.server,
          pin.apply((p) => hostNginxScript(spec, { cpuAffinity: p.cpuAffinity })),
          { ...t, dependsOn: ready, ...(plan.undo ? { undo: hostNginxUndoScript() } : {}) },
        )
      : processes
        ? remoteStep(
            `${name}-workload`,
            conns.server,
            pin.apply((p) => podScript(processesCluster(plan), hostNginxScript(spec, { cpuAffinity: p.cpuAffinity }))),
            { ...t, dependsOn: ready, undo: podUndoScript(hostNginxUndoScript()) },
          )
        : remoteStep(
            `${name}-workload`,
            conns.server,
            pin.apply((p) => workloadScript(workloadManifest(spec, { cpuAffinity: p.cpuAffinity }))),
            { ...t, dependsOn: ready },
          );
    // The pod's address, as the workload step printed it (processes); the server host's (none).
    const podIp = deploy.stdout.apply((out) => /^netlab-pod-ip: (\S+)$/m.exec(out)?.[1] ?? '');
    const run = remoteStep(
      `${name}-run`,
      conns.client,
      pulumi.all([pin, podIp]).apply(([p, ip]) =>
        runScript(spec, plan.points, {
          clientCpus: p.clientCpus,
          ...(direct ? { serverAddress: plan.hosts.server.privateIp } : {}),
          ...(processes ? { serverAddress: ip, processes: { prologue: RUN_ENV } } : {}),
        }),
      ),
      { ...t, dependsOn: [deploy], timeout: '6h' },
    );
    this.runOutput = run.stdout;
    const bin = join(args.projectDir, 'bin', 'netlab.js');
    // Copies the run's tarball back over SSH and writes result.json (netlab collect).
    const collect = new command.local.Command(
      `${name}-collect`,
      {
        create: pulumi.interpolate`node ${bin} collect ${spec.name} --host ${conns.client.host} --user ${conns.client.user} --port ${String(conns.client.port ?? 22)} --remote "$(printf '%s' "$NETLAB_RUN_OUTPUT" | sed -n 's/^netlab-run: //p' | tail -1)"`,
        environment: { NETLAB_SSH_KEY: conns.client.privateKey, NETLAB_RUN_OUTPUT: run.stdout },
        dir: args.projectDir,
        triggers: [run.stdout],
        logging: 'stderr',
      },
      { parent: this, dependsOn: [run], additionalSecretOutputs: ['environment'] },
    );
    this.resultDir = collect.stdout.apply((s) => s.trim().split('\n').pop() ?? '');
    this.registerOutputs({ resultDir: this.resultDir });
  }
}
