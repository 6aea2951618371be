// Naming, the bottom layer: what a stack may be called and how its namespaces, cgroups and state
// files are named. Every function that turns a stack name into something on the machine (a path, a
// namespace prefix, a cgroup) goes through `checkStackName` first, so a hostile name such as `..`
// or `../../tmp/x` can never reach the file system.
import { relative, resolve, isAbsolute } from 'node:path';

export const PREFIX = 'netlab';

/** A stack name: 1-40 characters a-z, 0-9 and "-", starting with a letter or digit. */
export const STACK_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;

export const STACK_NAME_RULE = 'expected 1-40 characters a-z, 0-9 and "-", starting with a letter or digit';

export class StackNameError extends Error {
  override name = 'StackNameError';
  constructor(readonly value: string) {
    super(`stack name ${JSON.stringify(value).slice(0, 90)}: ${STACK_NAME_RULE}`);
  }
}

export const isStackName = (s: string): boolean => STACK_NAME.test(s);

/** The name itself if it is a valid stack name; throws StackNameError otherwise. */
export function checkStackName(s: string): string {
  if (typeof s !== 'string' || !STACK_NAME.test(s)) throw new StackNameError(String(s));
  return s;
}

/**
 * `dir/<file>` for a stack's file in `dir`, refusing any result that is not strictly inside `dir`
 * (a second guard behind the name check: the name's alphabet already has no "/" and no "..").
 */
export function inside(dir: string, file: string): string {
  const base = resolve(dir);
  const p = resolve(base, file);
  const rel = relative(base, p);
  if (!rel || rel.startsWith('..') || isAbsolute(rel) || rel.includes('/'))
    throw new Error(`refusing path ${JSON.stringify(p)}: not a file directly inside ${base}`);
  return p;
}

/** Every network namespace of a stack is named `netlab.<stack>.<role>[.<pod>]`. */
export const nsPrefix = (stack: string) => `${PREFIX}.${checkStackName(stack)}.`;

/** Every cgroup of a stack is `<cgroup2 mount>/netlab.<stack>[/client|/server]`. */
export const cgroupBase = (cgroupRoot: string, stack: string) => `${cgroupRoot}/${PREFIX}.${checkStackName(stack)}`;

/** A scratch namespace (feature probe, load bench) is named after its purpose and the process that owns it. */
export const scratchNs = (purpose: string) => `${PREFIX}._${purpose}.${process.pid}`;

/** Where runs keep their state, locks and run folders: /run/netlab (tmpfs); NETLAB_STATE_DIR overrides. */
export const stateDir = () => process.env.NETLAB_STATE_DIR ?? '/run/netlab';

/** A stack's file in the state folder; only a valid stack name gets a path, and never one outside it. */
export const stateFile = (stack: string, suffix: string) => inside(stateDir(), `${checkStackName(stack)}${suffix}`);

/** The run folder of a stack (nginx config, response bodies, proxy rule files). */
export const runDirOf = (stack: string) => stateFile(stack, '');
