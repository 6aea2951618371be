// The guest's netlab as ES module chunks made by esbuild on this side before the VM boots. Under
// TCG, netlab started through tsx (its loader compiles each TypeScript file in a worker thread)
// took about 22 s in the guest before it did anything; the bundle starts in about 11 s (README,
// "The kernel as a variable"). Packages stay outside the bundle and load from node_modules as
// they would through tsx; dynamic imports (the aws janitor, the report's charts) stay lazy chunks.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { PROJECT_DIR } from '../core/project.ts';

/** Where the bundles are kept: a tool cache inside node_modules, so packages resolve from there. */
export const BUNDLE_DIR = join('node_modules', '.cache', 'netlab-guest');
/** Bundles kept, the one in use among them (each is about 0.5 MB). */
export const BUNDLES_KEPT = 3;

/**
 * Bundle netlab's command line once per content: the folder is named after a hash of the output,
 * so an unchanged tree reuses it and a changed one never serves a stale bundle. Returns the entry's
 * path relative to the project (the guest runs it from the project share).
 */
export async function guestBundle(projectDir = PROJECT_DIR): Promise<string> {
  const root = join(projectDir, BUNDLE_DIR);
  const scratch = join(root, 'build');
  const out = await build({
    stdin: {
      contents: "import { main } from './lib/cli/index.ts';\nawait main(process.argv);\n",
      resolveDir: projectDir,
      sourcefile: 'netlab-guest.ts',
      loader: 'ts',
    },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir: scratch,
    entryNames: 'netlab',
    write: false,
    logLevel: 'silent',
  });
  const files = [...out.outputFiles].sort((a, b) => a.path.localeCompare(b.path));
  const h = createHash('sha256');
  for (const f of files) h.update(relative(scratch, f.path)).update('\0').update(f.contents);
  const name = h.digest('hex').slice(0, 16);
  const dir = join(root, name);
  if (!existsSync(dir)) {
    const tmp = join(root, `.${name}.${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const f of files) writeFileSync(join(tmp, relative(scratch, f.path)), f.contents);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another run wrote the same bundle first: same content, keep theirs.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(dir)) throw e;
    }
  } else utimesSync(dir, new Date(), new Date());
  pruneBundles(root, name);
  return relative(projectDir, join(dir, 'netlab.js'));
}

/** Remove all but the BUNDLES_KEPT most recently used bundles (never `keep`). */
function pruneBundles(root: string, keep: string): void {
  const dirs = readdirSync(root)
    .filter((d) => /^[0-9a-f]{16}$/.test(d) && d !== keep)
    .map((d) => ({ d, t: statSync(join(root, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d } of dirs.slice(BUNDLES_KEPT - 1)) rmSync(join(root, d), { recursive: true, force: true });
}
