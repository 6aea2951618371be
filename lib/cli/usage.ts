// The command line's own refusals: the UsageError class and the checks of flags and arguments
// (numbers, lists, names, paths, URLs). Each refusal names the verb, the flag, its value and what
// is allowed; netlab ends on it with exit 2, before anything runs or changes.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { dirname, resolve } from 'node:path';

/** A clear refusal of the command line itself (not of a stack file). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Comma-separated items, trimmed, empty ones dropped. */
export const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** A host name of RFC 1123 labels; not a malformed address such as 999.1.1.1. */
export const isHostName = (s: string) =>
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(s) && !/^[\d.]+$/.test(s);

/** `http://<IPv4 address or host name>[:port]/<path>` → where rps connects; null for anything else. */
export function httpTarget(url: string): { host: string; port: number; path: string } | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const ok = u.protocol === 'http:' && !u.username && !u.password && !u.hash && u.port !== '0' && (isIPv4(u.hostname) || isHostName(u.hostname));
  return ok ? { host: u.hostname, port: Number(u.port || 80), path: `${u.pathname}${u.search}` } : null;
}

const whole = (x: string, min: number, max: number) => /^\d+$/.test(x) && Number(x) >= min && Number(x) <= max;

/** Why `value` is no regular file netlab can read, or null when it is one. */
function unreadable(value: string): string | null {
  try {
    if (!statSync(value).isFile()) return 'not a file';
    accessSync(value, constants.R_OK);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
  }
}

/** Why `value` is no directory netlab can write into (there already, or creatable), or null. */
function unwritableDir(value: string): string | null {
  let p = resolve(value);
  while (!existsSync(p)) p = dirname(p);
  if (!statSync(p).isDirectory()) return p === resolve(value) ? 'not a directory' : `${p} is not a directory`;
  try {
    accessSync(p, constants.W_OK);
    return null;
  } catch {
    return `${p} is not writable`;
  }
}

/**
 * Checks of one verb's flags and arguments. Each refusal is a UsageError (exit 2, before anything
 * runs) naming the verb, the flag, its value and what is allowed.
 */
export function flags(verb: string) {
  const refuse = (flag: string, value: string, expected: string, why?: string) =>
    new UsageError(`${verb}: ${flag} ${JSON.stringify(value)}: ${why ? `${why}; ` : ''}expected ${expected}`);
  return {
    refuse,
    int(flag: string, value: string, min: number, max: number): number {
      if (!whole(value, min, max)) throw refuse(flag, value, `a whole number from ${min} to ${max}`);
      return Number(value);
    },
    /** Comma-separated whole numbers, exactly `count` of them if given. */
    ints(flag: string, value: string, min: number, max: number, count?: number): number[] {
      const xs = list(value);
      if (!xs.length || (count !== undefined && xs.length !== count) || !xs.every((x) => whole(x, min, max)))
        throw refuse(flag, value, `${count ?? 'one or more'} comma-separated whole numbers from ${min} to ${max}`);
      return xs.map(Number);
    },
    name<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
      if (!allowed.includes(value as T)) throw refuse(flag, value, `one of ${allowed.join(', ')}`);
      return value as T;
    },
    /** Comma-separated, each one of `allowed`. */
    names<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
      const xs = list(value);
      if (!xs.length || !xs.every((x) => allowed.includes(x as T))) throw refuse(flag, value, `some of ${allowed.join(', ')}, comma-separated`);
      return xs as T[];
    },
    /** A regular file netlab can read. */
    file(flag: string, value: string, expected: string): string {
      const why = unreadable(value);
      if (why) throw refuse(flag, value, expected, why);
      return value;
    },
    /** A directory to write into: there already, or to be created (its nearest existing parent is a writable directory). */
    dir(flag: string, value: string): string {
      const why = unwritableDir(value);
      if (why) throw refuse(flag, value, 'a directory (created if missing)', why);
      return value;
    },
    /** A file to write: not a directory, and its directory there already or to be created. */
    outFile(flag: string, value: string): string {
      const expected = 'a file to write (its directory created if missing)';
      if (existsSync(value) && statSync(value).isDirectory()) throw refuse(flag, value, expected, 'a directory, not a file');
      const dir = dirname(resolve(value));
      const why = unwritableDir(dir);
      if (why) throw refuse(flag, value, expected, why === 'not a directory' ? `${dir} is not a directory` : why);
      return value;
    },
  };
}
