// One remote step: a generated script piped to `sudo bash -s` over SSH (the script travels as
// stdin, so secrets in it never appear on a command line or in the step's name).
import * as pulumi from '@pulumi/pulumi';
import * as command from '@pulumi/command';

export interface Conn {
  host: pulumi.Input<string>;
  user: string;
  privateKey: pulumi.Input<string>;
}

/** Outputs of a secret step kept encrypted in the state and masked in every display. */
export const SECRET_OUTPUTS = ['stdout', 'stderr', 'stdin'];

export function remoteStep(
  name: string,
  conn: Conn,
  script: pulumi.Input<string>,
  opts: { parent: pulumi.Resource; dependsOn?: pulumi.Resource[]; secret?: boolean; triggers?: pulumi.Input<unknown>[]; timeout?: string },
): command.remote.Command {
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
