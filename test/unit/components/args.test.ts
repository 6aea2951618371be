// The components' arguments are documented: every property of every exported `…Args` interface in
// components/ has a TSDoc comment that says what it is and gives its default (`@default …`) or says
// it is `Required`, and every component's constructor takes such an interface. Read from the source
// with the TypeScript compiler API, so an undocumented field fails here, not in a review.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { PROJECT } from '../../helpers/paths.ts';

const COMPONENTS = join(PROJECT, 'components');

/** components/**\/*.ts, relative to the project, sorted. */
function componentFiles(): string[] {
  return readdirSync(COMPONENTS, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join('components', f))
    .sort();
}

const isExported = (n: ts.Node) => ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/** The `/** … *\/` comment right before a node, or null. */
function docComment(text: string, node: ts.Node): string | null {
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const last = ranges[ranges.length - 1];
  if (!last) return null;
  const c = text.slice(last.pos, last.end);
  return c.startsWith('/**') ? c : null;
}

/** The words of a doc comment other than its `@default` tag and the word Required. */
function description(doc: string): string {
  return doc
    .replace(/^\/\*\*|\*\/$/g, '')
    .replace(/^\s*\* ?/gm, '')
    .replace(/@default.*$/ms, '')
    .replace(/\bRequired\b\.?/g, '')
    .trim();
}

interface ArgsReport {
  /** `<file>: <Interface>.<property>` for each exported Args interface property found. */
  fields: string[];
  /** What is wrong, one line per field or component. */
  problems: string[];
  /** Exported component classes and the name of their constructor's args type. */
  components: { name: string; argsType: string | null }[];
}

/** Checks one source file's exported `…Args` interfaces and its ComponentResource classes. Pure. */
function checkArgs(file: string, text: string): ArgsReport {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: ArgsReport = { fields: [], problems: [], components: [] };
  const argsInterfaces = new Set<string>();
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st) && isExported(st) && st.name.text.endsWith('Args')) {
      argsInterfaces.add(st.name.text);
      for (const m of st.members) {
        const where = `${file}: ${st.name.text}.${m.name ? m.name.getText(sf) : '<index signature>'}`;
        out.fields.push(where);
        const doc = docComment(text, m);
        if (!doc) out.problems.push(`${where} has no doc comment`);
        else if (!/@default\b/.test(doc) && !/\bRequired\b/.test(doc)) out.problems.push(`${where}: its doc comment gives neither @default nor Required`);
        else if (!description(doc)) out.problems.push(`${where}: its doc comment does not say what the field is`);
      }
    }
  }
  for (const st of sf.statements) {
    if (!ts.isClassDeclaration(st) || !st.name || !isExported(st)) continue;
    const base = st.heritageClauses?.flatMap((h) => h.types).map((t) => t.expression.getText(sf)) ?? [];
    if (!base.some((b) => /(^|\.)ComponentResource$/.test(b))) continue;
    const ctor = st.members.find(ts.isConstructorDeclaration);
    const argsParam = ctor?.parameters[1];
    const argsType = argsParam?.type && ts.isTypeReferenceNode(argsParam.type) ? argsParam.type.typeName.getText(sf) : null;
    out.components.push({ name: st.name.text, argsType });
    if (!docComment(text, st)) out.problems.push(`${file}: component ${st.name.text} has no doc comment`);
    if (!argsType || !argsInterfaces.has(argsType))
      out.problems.push(
        `${file}: component ${st.name.text} does not take an exported …Args interface of its file (args: ${argsParam?.type?.getText(sf) ?? 'none'})`,
      );
  }
  return out;
}

test('every field of every exported …Args interface in components/ is documented, with its default or Required', (t) => {
  const files = componentFiles();
  t.true(files.length >= 8, `expected the components' files, found ${files.join(', ')}`);
  const reports = files.map((f) => checkArgs(f, readFileSync(join(PROJECT, f), 'utf8')));
  const fields = reports.flatMap((r) => r.fields);
  t.true(fields.length >= 30, `only ${fields.length} Args fields found; is the parser reading the files?`);
  t.deepEqual(
    reports.flatMap((r) => r.problems),
    [],
  );
  t.log(`${fields.length} fields checked in ${files.length} files`);
});

test('every component in components/ takes an Args interface of its own file', (t) => {
  const comps = componentFiles().flatMap((f) => checkArgs(f, readFileSync(join(PROJECT, f), 'utf8')).components);
  t.deepEqual(comps.map((c) => c.name).sort(), [
    'AwsExperiment',
    'Cluster',
    'HostPair',
    'HostPrep',
    'LocalExperiment',
    'Network',
    'ProcessesCluster',
    'RemoteFlow',
    'SshExperiment',
    'Workload',
  ]);
  for (const c of comps) t.is(c.argsType, `${c.name}Args`, c.name);
});

test('the check fails on an undocumented field, on a comment without a default, and on a bare default', (t) => {
  const src = `import * as pulumi from '@pulumi/pulumi';
/** A component. */
export class Thing extends pulumi.ComponentResource {
  constructor(name: string, args: ThingArgs) { super('x:y:Thing', name, {}); void args; }
}
export interface ThingArgs {
  /** The size in GiB. Required. */
  size: number;
  noComment: string;
  // A line comment is not a doc comment. @default 1
  lineComment?: number;
  /** Says what it is but not its default. */
  noDefault?: string;
  /** @default 3 */
  bareDefault?: number;
  /**
   * A multi-line one.
   * @default 'a'
   */
  fine?: string;
}
/** Not an Args interface: not checked. */
export interface Other { x: number }`;
  const r = checkArgs('thing.ts', src);
  t.is(r.fields.length, 6);
  t.deepEqual(r.problems, [
    'thing.ts: ThingArgs.noComment has no doc comment',
    'thing.ts: ThingArgs.lineComment has no doc comment',
    'thing.ts: ThingArgs.noDefault: its doc comment gives neither @default nor Required',
    'thing.ts: ThingArgs.bareDefault: its doc comment does not say what the field is',
  ]);
  const inline = checkArgs(
    'inline.ts',
    `import * as pulumi from '@pulumi/pulumi';\nexport class Inline extends pulumi.ComponentResource {\n  constructor(name: string, args: { a: number }) { super('x:y:I', name, {}); void args; }\n}`,
  );
  t.deepEqual(inline.problems, [
    'inline.ts: component Inline has no doc comment',
    'inline.ts: component Inline does not take an exported …Args interface of its file (args: { a: number })',
  ]);
});
