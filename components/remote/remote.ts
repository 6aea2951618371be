// One remote step: a generated script piped to a root shell (`sudo -n bash -s`) over SSH (the script travels as
// stdin, so secrets in it never appear on a command line or in the step's name).
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';

/** How Pulumi's own SSH sessions reach one host (`connection` of every remote step to it). */
export interface Conn {
  /** The host's address or DNS name (aws: HostPair.publicIps; ssh: ssh.hosts.<role>.address). Required. */
  host: pulumi.Input<string>;
  /** The login user: root, or a user with passwordless sudo (e.g. ec2-user, admin; HostPair.user). Required. */
  user: string;
  /**
   * The SSH port.
   * @default 22
   */
  port?: number;
  /** The OpenSSH private key whose public half is on the host (HostPair.privateKey, or the config secret netlab:sshPrivateKey). Required. */
  privateKey: pulumi.Input<string>;
}

/** The command that runs a script from stdin as root: bash itself for root, else through sudo. */
export const asRoot = (conn: Pick<Conn, 'user'>) => (conn.user === 'root' ? 'bash -s' : 'sudo -n bash -s');

/**
 * A command line that runs `script` as root without stdin (a delete command gets none): the script
 * travels base64-encoded on the command line, so it must hold no secret.
 */
export function inlineAsRoot(conn: Pick<Conn, 'user'>, script: string): string {
  return `printf %s ${Buffer.from(script).toString('base64')} | base64 -d | ${asRoot(conn)}`;
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
  /**
   * A script that undoes what the step changed, run as root on `pulumi destroy` (ssh stacks: the
   * hosts are the user's and stay). It must hold no secret (it travels on the command line).
   * @default none: destroy runs nothing on the host (aws: the host is terminated anyway).
   */
  undo?: string;
  /**
   * The command that reads the script from stdin.
   * @default asRoot(conn): `bash -s` for root, `sudo -n bash -s` otherwise
   */
  create?: string;
}

/**
 * One `command.remote.Command` named `name` that pipes `script` to a root shell on `conn`'s host.
 * SSH is retried for up to 60 dials of 10 seconds (a host still booting). On delete it runs
 * `opts.undo`, if given, and nothing otherwise.
 */
export function remoteStep(name: string, conn: Conn, script: pulumi.Input<string>, opts: RemoteStepOptions): command.remote.Command {
  return new command.remote.Command(
    name,
    {
      connection: { host: conn.host, port: conn.port ?? 22, user: conn.user, privateKey: conn.privateKey, dialErrorLimit: 60, perDialTimeout: 10 },
      create: opts.create ?? asRoot(conn),
      ...(opts.undo ? { delete: inlineAsRoot(conn, opts.undo) } : {}),
      stdin: opts.secret ? pulumi.secret(script) : script,
      ...(opts.triggers ? { triggers: opts.triggers } : {}),
      // A secret step's stdout is the secret (join command, kubeconfig): never logged, and stdout/stderr are secret outputs.
      logging: opts.secret ? 'stderr' : 'stdoutAndStderr',
    },
    {
      parent: opts.parent,
      ...(opts.dependsOn ? { dependsOn: opts.dependsOn } : {}),
      ...(opts.secret ? { additionalSecretOutputs: SECRET_OUTPUTS } : {}),
      customTimeouts: { create: opts.timeout ?? '30m', delete: '30m' },
    },
  );
}
