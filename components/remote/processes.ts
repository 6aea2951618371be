// The processes cluster (ssh.cluster: processes): netlab's builds of etcd, kube-apiserver, flanneld
// and kube-proxy run as processes on the two hosts, no kubelet. The scripts are in
// lib/remote/processes.ts; this component puts them in order and gives each its undo.
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';
import type { Role } from '../../lib/remote/plan.ts';
import { processesCluster, type RemotePlan } from '../../lib/remote/plan.ts';
import {
  clusterClientScript,
  clusterClientUndoScript,
  controlPlaneScript,
  controlPlaneUndoScript,
  credentialsScript,
  flannelScript,
  flannelUndoScript,
  kubeProxyScript,
  kubeProxyUndoScript,
  PROCESS_PROGRAMS,
  pushScript,
} from '../../lib/remote/processes.ts';
import { k8sBinDir, k8sVersions } from '../../lib/k8s/tools.ts';
import { remoteStep, type Conn } from './remote.ts';

/** ProcessesClusterArgs: the plan, the hosts, what to wait for and what re-runs the cluster. */
export interface ProcessesClusterArgs {
  /** The ssh plan: its `cluster` input (flannel backend, pod and Service ranges, proxy mode) and the hosts' addresses between them. Required. */
  plan: RemotePlan;
  /** How to reach each host over SSH; the binaries steps copy over the same connection. Required. */
  conns: Record<Role, Conn>;
  /** The hosts' last preparation steps (HostPrep.ready). Required. */
  ready: Record<Role, command.remote.Command>;
  /** Values whose change re-runs every step (the ssh stack passes both endpoints). Required. */
  triggers: pulumi.Input<unknown>[];
  /**
   * Where this machine keeps the programs (scripts/install-k8s.sh links them there).
   * @default k8sBinDir(): `<tool cache>/k8s/bin`
   */
  binDir?: string;
}

/**
 * ProcessesCluster is a component that builds a cluster from processes: the programs copied to
 * each host (one tar stream over SSH), the control plane on the server, the client's credentials
 * (secret steps), flanneld on both hosts, and kube-proxy on the client in the stack's mode. Every
 * step undoes itself on `pulumi destroy`: daemons stopped, kube-proxy's rules removed by its own
 * `--cleanup`, flannel's routes and devices deleted, sysctls put back, files removed.
 *
 * Its output `ready` lists the steps after which the pod can be made and the load can run.
 */
export class ProcessesCluster extends pulumi.ComponentResource {
  /** The last steps: both flanneld running, kube-proxy synced (when the stack has a proxy). */
  readonly ready: command.remote.Command[];

  /**
   * @param name The unique name of the component; its steps are named `<name>-binaries-<role>`, `<name>-control-plane`, ….
   * @param args The plan, connections, what to wait for and the triggers.
   * @param opts Options of the component.
   */
  constructor(name: string, args: ProcessesClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('netlab:remote:ProcessesCluster', name, {}, opts);
    const { plan, conns } = args;
    const c = processesCluster(plan);
    const versions = k8sVersions();
    const binDir = args.binDir ?? k8sBinDir();
    const t = { parent: this, triggers: args.triggers };
    const binaries = (role: Role) =>
      new command.local.Command(
        `${name}-binaries-${role}`,
        {
          create: pulumi
            .output(conns[role].host)
            .apply((host) => pushScript({ binDir, programs: PROCESS_PROGRAMS[role], host, user: conns[role].user, port: conns[role].port ?? 22 })),
          environment: { NETLAB_SSH_KEY: conns[role].privateKey },
          triggers: [...args.triggers, versions],
          logging: 'stderr',
        },
        { parent: this, dependsOn: [args.ready[role]], additionalSecretOutputs: ['environment'] },
      );
    const bin = { server: binaries('server'), client: binaries('client') };
    const cp = remoteStep(`${name}-control-plane`, conns.server, controlPlaneScript(c), {
      ...t,
      undo: controlPlaneUndoScript(),
      dependsOn: [bin.server, args.ready.client],
      timeout: '10m',
    });
    const creds = remoteStep(`${name}-credentials`, conns.server, credentialsScript(), { ...t, dependsOn: [cp], secret: true });
    const client = remoteStep(
      `${name}-cluster-client`,
      conns.client,
      creds.stdout.apply((vars) => `${vars.trim()}\n${clusterClientScript(c).replace(/^#!\/bin\/bash\n/, '')}`),
      { ...t, undo: clusterClientUndoScript(), dependsOn: [bin.client, creds], secret: true },
    );
    const flannel = {
      server: remoteStep(`${name}-flannel-server`, conns.server, flannelScript(c, 'server'), {
        ...t,
        undo: flannelUndoScript(c, 'server'),
        dependsOn: [cp],
        timeout: '10m',
      }),
      client: remoteStep(`${name}-flannel-client`, conns.client, flannelScript(c, 'client'), {
        ...t,
        undo: flannelUndoScript(c, 'client'),
        dependsOn: [client],
        timeout: '10m',
      }),
    };
    this.ready = [flannel.server, flannel.client];
    if (c.proxyMode !== 'none')
      this.ready.push(
        remoteStep(`${name}-kube-proxy`, conns.client, kubeProxyScript(c), {
          ...t,
          undo: kubeProxyUndoScript(),
          dependsOn: [flannel.client, flannel.server],
          timeout: '10m',
        }),
      );
    this.registerOutputs({});
  }
}
