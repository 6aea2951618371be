// The project's import graph and its largest functions, from the TypeScript compiler's own parse:
// `npx tsx scripts/code-graph.ts [--json]`. Prints the figures an architecture review asks for
// (files, import arrows, cycles, the longest functions); test/unit/architecture.test.ts holds the
// graph to having no cycles.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The code the graph covers: everything but the tests. */
export const CODE_DIRS = ['lib', 'components', 'policy', 'tools/plugins'];

export interface Graph {
  files: string[];
  /** file → the project files it imports (relative to ROOT). */
  edges: Map<string, string[]>;
}

export interface FunctionSize {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function specifiers(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      out.push(n.arguments[0].text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const parse = (file: string) => ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);

export function importGraph(root = ROOT, dirs = CODE_DIRS, extra = ['index.ts']): Graph {
  const abs = [...dirs.flatMap((d) => tsFiles(join(root, d))), ...extra.map((f) => join(root, f))];
  const known = new Set(abs);
  const edges = new Map<string, string[]>();
  for (const f of abs) {
    const to = specifiers(parse(f))
      .filter((s) => s.startsWith('.'))
      .map((s) => resolve(dirname(f), s))
      .filter((p) => known.has(p))
      .map((p) => relative(root, p));
    edges.set(relative(root, f), [...new Set(to)]);
  }
  return { files: [...edges.keys()].sort(), edges };
}

/** Strongly connected components with more than one file (or a file importing itself): the cycles. */
export function cycles(g: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.edges.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.edges.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const f of g.files) if (!idx.has(f)) strong(f);
  return out;
}

function fnName(n: ts.Node): string {
  if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) return n.name.getText();
  const p = n.parent;
  if (p && ts.isVariableDeclaration(p)) return p.name.getText();
  if (p && ts.isPropertyAssignment(p)) return p.name.getText();
  return '(anonymous)';
}

export function functionSizes(root = ROOT, dirs = CODE_DIRS): FunctionSize[] {
  const out: FunctionSize[] = [];
  for (const f of dirs.flatMap((d) => tsFiles(join(root, d)))) {
    const sf = parse(f);
    const visit = (n: ts.Node) => {
      if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n)) {
        const a = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
        const b = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
        out.push({ file: relative(root, f), name: fnName(n), line: a + 1, lines: b - a + 1 });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out.sort((x, y) => y.lines - x.lines);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const g = importGraph();
  const arrows = [...g.edges.values()].reduce((n, e) => n + e.length, 0);
  const cyc = cycles(g);
  const fns = functionSizes().slice(0, 5);
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ files: g.files.length, arrows, cycles: cyc, longest: fns }, null, 2));
  } else {
    console.log(`files ${g.files.length}, import arrows ${arrows}, cycles ${cyc.length}`);
    for (const c of cyc) console.log(`  cycle: ${c.join(' ↔ ')}`);
    console.log('longest functions:');
    for (const f of fns) console.log(`  ${String(f.lines).padStart(4)} lines  ${f.name}  ${f.file}:${f.line}`);
  }
}
