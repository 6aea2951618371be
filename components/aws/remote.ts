// One remote step: a generated script piped to `sudo bash -s` over SSH (the script travels as
// stdin, so secrets in it never appear on a command line or in the step's name).
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';

/** How Pulumi's own SSH sessions reach one host (`connection` of every remote step to it). */
export interface Conn {
  /** The host's public IPv4 address (HostPair.publicIps); port 22 is used. Required. */
  host: pulumi.Input<string>;
  /** The image's login user, which has passwordless sudo (e.g. ec2-user, admin; HostPair.user). Required. */
  user: string;
  /** The OpenSSH private key whose public half is on the host (HostPair.privateKey; a secret). Required. */
  privateKey: pulumi.Input<string>;
}

/** Outputs of a secret step kept encrypted in the state and masked in every display. */
export const SECRET_OUTPUTS = ['stdout', 'stderr', 'stdin'];

/** Options of one remote step: where it sits in the graph, what re-runs it, how long it may take. */
export interface RemoteStepOptions {
  /** The component the step belongs to (its Pulumi parent). Required. */
  parent: pulumi.Resource;
  /**
   * Resources that must be created before the step runs (earlier steps, routes).
   * @default none: the step waits only for the inputs it reads.
   */
  dependsOn?: pulumi.Resource[];
  /**
   * true for a step whose script or output holds a secret (join command, kubeconfig): stdin is a
   * secret, stdout, stderr and stdin are secret outputs, and only stderr is logged.
   * @default false: stdout and stderr are logged.
   */
  secret?: boolean;
  /**
   * Values whose change re-runs the step (the command is replaced; it has no delete command).
   * @default none: the step runs again only when its own inputs (script, connection) change.
   */
  triggers?: pulumi.Input<unknown>[];
  /**
   * Longest time the create may take, as a Pulumi custom timeout (Go duration such as '40m', '6h').
   * @default '30m'
   */
  timeout?: string;
}

/**
 * One `command.remote.Command` named `name` that pipes `script` to `sudo bash -s` on `conn`'s host.
 * SSH is retried for up to 60 dials of 10 seconds (a host still booting). Nothing runs on delete.
 */
export function remoteStep(name: string, conn: Conn, script: pulumi.Input<string>, opts: RemoteStepOptions): command.remote.Command {
  return new command.remote.Command(
    name,
    {
      connection: { host: conn.host, user: conn.user, privateKey: conn.privateKey, dialErrorLimit: 60, perDialTimeout: 10 },
      create: 'sudo bash -s',
      stdin: opts.secret ? pulumi.secret(script) : script,
      ...(opts.triggers ? { triggers: opts.triggers } : {}),
      // A secret step's stdout is the secret (join command, kubeconfig): never logged, and stdout/stderr are secret outputs.
      logging: opts.secret ? 'stderr' : 'stdoutAndStderr',
    },
    {
      parent: opts.parent,
      ...(opts.dependsOn ? { dependsOn: opts.dependsOn } : {}),
      ...(opts.secret ? { additionalSecretOutputs: SECRET_OUTPUTS } : {}),
      customTimeouts: { create: opts.timeout ?? '30m' },
    },
  );
}
