// Writing files so that a reader never sees half of one: write to a temporary name beside the
// target, then rename (atomic on one file system). A failure (a full disk, a missing folder, a
// path that is a file) becomes one clear error naming the file; the temporary file is removed.
// Also the plan's files as a host writes them, and a read that tells "absent" from an error.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export class WriteError extends Error {
  override name = 'WriteError';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    const e = cause as NodeJS.ErrnoException;
    const why = e.code === 'ENOSPC' ? 'no space left on the device' : e.code === 'EDQUOT' ? 'disk quota exceeded' : (e.code ?? e.message);
    super(`cannot write ${path}: ${why}`);
  }
}

/** Write `data` to `path` whole or not at all (its folder is created). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new WriteError(path, e);
  }
}

/** Write a plan's files, each folder created; `fill` is that many bytes of "x" (response bodies). */
export function writeFiles(files: { path: string; content?: string; fill?: number }[]): void {
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content ?? 'x'.repeat(f.fill ?? 0));
  }
}

/** A file's text, or null when it does not exist (any other error is thrown). */
export function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Create a folder (and its parents), or say clearly why not. */
export function makeDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    throw new WriteError(path, e);
  }
}
