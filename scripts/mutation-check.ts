// A cheap mutation check of the core: each mutation below is a small, plausible bug in lib/. For
// each, the project is copied to a temporary directory, the mutation is applied there (the working
// tree is never touched) and the named unit tests are run on the copy. A mutation the tests do
// not fail on has SURVIVED: the tests do not pin that behaviour down.
//
//   npm run test:mutations                 # every mutation
//   npm run test:mutations -- esc notrack  # those whose name contains one of the words
//
// A mutation names its code by an exact snippet, not by file: the snippet is searched for across
// lib/**/*.ts, so the check survives files being moved or split. It must occur exactly once in
// all of lib/; test/unit/mutations/snippets.test.ts checks that on every `npm run test:unit`, so
// a refactor that rewrites a snippet is noticed there and the snippet is updated here.
//
// Exit status: 0 when every mutation is caught; 1 when one survived, a snippet is not found
// exactly once, a test glob matches nothing, or the unmutated tests already fail.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Mutation {
  /** Short name, shown in the report. */
  name: string;
  /** Exact code, found once across lib/**\/*.ts. */
  find: string;
  /** What it becomes. */
  replace: string;
  /** Ava file globs (relative to the project) that must catch it. */
  tests: string[];
}

export const MUTATIONS: Mutation[] = [
  {
    name: 'rules-walked: KUBE-MARK-MASQ treated as terminal',
    find: `!['KUBE-MARK-MASQ', 'MARK', 'RETURN'].includes(`,
    replace: `!['MARK', 'RETURN'].includes(`,
    tests: ['test/unit/proxy/**/*.test.ts'],
  },
  {
    name: 'spec: ab concurrency == requests refused (> becomes >=)',
    find: `w.concurrency.filter((c) => c > w.requests)`,
    replace: `w.concurrency.filter((c) => c >= w.requests)`,
    tests: ['test/unit/spec/**/*.test.ts'],
  },
  {
    name: 'spec: NOTRACK with proxy.mode nftables accepted',
    find: `s.tuning.notrack && s.proxy && proxyProvider(s.proxy.mode).netfilter`,
    replace: `s.tuning.notrack && s.proxy && s.proxy.mode !== 'nftables' && proxyProvider(s.proxy.mode).netfilter`,
    tests: ['test/unit/spec/**/*.test.ts', 'test/unit/tuning/**/*.test.ts'],
  },
  {
    name: 'report: touching ranges called significant',
    find: `v.min > base.max || v.max < base.min`,
    replace: `v.min >= base.max || v.max <= base.min`,
    tests: ['test/unit/results/**/*.test.ts'],
  },
  {
    name: 'report: esc() made the identity',
    // (?!) never matches: the replace leaves every character as it is.
    find: `const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g,`,
    replace: `const esc = (s: unknown) => String(s ?? '').replace(/(?!)/g,`,
    tests: ['test/unit/results/**/*.test.ts'],
  },
];

/** What the copy needs to run the unit tests; node_modules is linked, not copied. */
const COPY = ['lib', 'test', 'stacks', 'bin', 'components', 'policy', 'tools', 'index.ts', 'package.json', 'tsconfig.json', 'ava.config.js', 'Pulumi.yaml'];

export const PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function count(text: string, snippet: string): number {
  let n = 0;
  for (let i = text.indexOf(snippet); i !== -1; i = text.indexOf(snippet, i + 1)) n++;
  return n;
}

export interface Located {
  /** Files holding the snippet (relative to root), with how often. */
  hits: { file: string; count: number }[];
  /** Total occurrences across lib/**\/*.ts. */
  total: number;
}

/** Where a snippet occurs across root/lib/**\/*.ts. */
export function locate(root: string, snippet: string): Located {
  const hits = tsFiles(join(root, 'lib'))
    .map((f) => ({ file: relative(root, f), count: count(readFileSync(f, 'utf8'), snippet) }))
    .filter((h) => h.count > 0);
  return { hits, total: hits.reduce((s, h) => s + h.count, 0) };
}

/** An ava-style glob as a regular expression: `**` any number of folders, `*` and `?` within a name. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (glob.startsWith('**/', i)) {
      re += '(?:[^/]+/)*';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      re += '.*';
      i += 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Files under root matching an ava-style glob, relative to root. */
export function globFiles(root: string, glob: string): string[] {
  const re = globRegExp(glob);
  const fixed = glob.split('/');
  const stop = fixed.findIndex((p) => /[*?]/.test(p));
  const start = join(root, ...fixed.slice(0, stop === -1 ? fixed.length - 1 : stop));
  if (!existsSync(start)) return [];
  return readdirSync(start, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .filter((f) => re.test(f))
    .sort();
}

function copyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-mutation-'));
  // Some unit tests run the CLI as nobody (it must never be able to build a lab): let it in.
  chmodSync(dir, 0o755);
  for (const name of COPY) if (existsSync(join(PROJECT, name))) cpSync(join(PROJECT, name), join(dir, name), { recursive: true });
  symlinkSync(join(PROJECT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function runAva(dir: string, files: string[]): { ok: boolean; seconds: number; tail: string } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(dir, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), ...files], {
    cwd: dir,
    env: { ...process.env, NETLAB_TESTS: 'unit', UPDATE_GOLDEN: '', CI: '1' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0, seconds: (Date.now() - t0) / 1000, tail: out.trim().split('\n').slice(-15).join('\n') };
}

function main(args: string[]): number {
  const chosen = args.length ? MUTATIONS.filter((m) => args.some((a) => m.name.toLowerCase().includes(a.toLowerCase()))) : MUTATIONS;
  if (!chosen.length) {
    console.error(`no mutation matches ${args.join(' ')}; names:\n${MUTATIONS.map((m) => `  ${m.name}`).join('\n')}`);
    return 1;
  }
  let bad = 0;
  // Resolve every snippet and test glob first, in the working tree.
  const plan: { m: Mutation; file: string; files: string[] }[] = [];
  for (const m of chosen) {
    const where = locate(PROJECT, m.find);
    const files = [...new Set(m.tests.flatMap((g) => globFiles(PROJECT, g)))];
    const empty = m.tests.filter((g) => !globFiles(PROJECT, g).length);
    if (where.total !== 1) {
      console.log(
        `NOT FOUND ONCE  ${m.name}: snippet found ${where.total} times${where.hits.length ? ` (${where.hits.map((h) => `${h.file} ×${h.count}`).join(', ')})` : ''}: ${JSON.stringify(m.find)}`,
      );
      bad++;
    } else if (empty.length) {
      console.log(`NO TESTS        ${m.name}: ${empty.join(', ')} matches no file`);
      bad++;
    } else plan.push({ m, file: where.hits[0]!.file, files });
  }
  if (!plan.length) return 1;

  const dir = copyProject();
  try {
    // The unmutated tests must pass, or "caught" would mean nothing.
    const all = [...new Set(plan.flatMap((p) => p.files))];
    const base = runAva(dir, all);
    console.log(`baseline        ${base.ok ? 'pass' : 'FAIL'} (${all.length} test files, ${base.seconds.toFixed(1)} s)`);
    if (!base.ok) {
      console.log(base.tail);
      return 1;
    }
    for (const { m, file, files } of plan) {
      const path = join(dir, file);
      const original = readFileSync(path, 'utf8');
      writeFileSync(
        path,
        original.replace(m.find, () => m.replace),
      );
      try {
        const r = runAva(dir, files);
        console.log(`${r.ok ? 'SURVIVED' : 'caught  '}        ${m.name}  [${file}; ${files.length} test files, ${r.seconds.toFixed(1)} s]`);
        if (r.ok) bad++;
      } finally {
        writeFileSync(path, original);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(bad ? `${bad} problem(s)` : `all ${plan.length} mutation(s) caught`);
  return bad ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) process.exitCode = main(process.argv.slice(2));
