// OpenSSH client options for netlab's non-interactive sessions (the ssh target's first-connection
// check, and the stand-in command provider's remote commands): key only, no prompt, a host key
// accepted on first sight and remembered nowhere (as Pulumi's command provider does), quiet.

/** The options before `user@host`: key file, port, and a bounded connect. */
export function sshOptions(o: { keyFile: string; port: number; connectTimeout: number }): string[] {
  return [
    '-i',
    o.keyFile,
    '-p',
    String(o.port),
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    `ConnectTimeout=${o.connectTimeout}`,
  ];
}
