// Commands inside a lab namespace or cgroup: the argv prefixes every module builds its commands with.

/** `ip -n <ns> …`: an iproute2 command acting on namespace `ns`. */
export const ipn = (ns: string, ...args: string[]) => ['ip', '-n', ns, ...args];

/** `ip netns exec <ns> …`: any command run inside namespace `ns`. */
export const inNs = (ns: string, ...argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv];

/** Run `argv` inside a cgroup: the shell moves itself in, then becomes the command. */
export const inCgroup = (cgroup: string, argv: string[]) => ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv];

/** Teardown waits this long after SIGTERM before SIGKILL: nginx alone takes over a second to
 * finish a TERM shutdown, and nothing of a finished run needs it. */
export const KILL_GRACE_MS = 300;
