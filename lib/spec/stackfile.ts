// Reading stack files: `<stack>` is a name (`local-hostgw` → stacks/Pulumi.local-hostgw.yaml) or a path.
//
// A stack file is a regular file (or a symlink to one) named Pulumi.<name>.yaml, of at most 1 MB,
// in UTF-8, whose YAML top level is a mapping with a `config:` key (judged on what parsed, even
// when the rest has syntax errors). Only such a file is quoted in an error (keys, values, YAML's
// own messages). Anything else is refused with the reason alone: a wrong name, file type or size
// before it is read; a YAML error as its code, line and column; another document as "not a stack file".
import { Buffer, isUtf8 } from 'node:buffer';
import { closeSync, constants, existsSync, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { PROJECT_DIR } from '../core/project.ts';
import { withProjectTypes } from './project-config.ts';
import type { Spec } from './schema.ts';
import { NOT_A_STACK_FILE, specFromStackDoc } from './document.ts';
import { printable, show } from '../core/text.ts';
import { SpecError, SpecErrors } from './errors.ts';

export { PROJECT_DIR };
export const STACKS_DIR = join(PROJECT_DIR, 'stacks');

/** A stack file holds a few hundred bytes; anything above this is refused unread. */
export const MAX_STACK_BYTES = 1024 * 1024;

const STACK_FILE = /^Pulumi\.(.+)\.ya?ml$/;

/** Path of a stack given by name or path, and its stack name. */
export function locateStack(ref: string, stacksDir = STACKS_DIR): { name: string; path: string } {
  const looksLikePath = ref.includes('/') || ref.endsWith('.yaml') || ref.endsWith('.yml');
  const path = looksLikePath ? resolve(ref) : join(stacksDir, `Pulumi.${ref}.yaml`);
  const m = STACK_FILE.exec(basename(path));
  if (!m) throw new SpecError(path, ['not a stack file: its name must be Pulumi.<name>.yaml (the file was not read)']);
  if (!existsSync(path)) {
    const known = listStackNames(stacksDir);
    throw new SpecError(ref, [`no stack file ${path}; known stacks: ${known.join(', ') || '(none)'}`]);
  }
  return { name: m[1]!, path };
}

/**
 * Parse and validate a stack file's text. Duplicate keys are found in one pass over the parsed
 * document (yaml's own `uniqueKeys` compares each key with every earlier one: quadratic).
 */
export function parseStackText(name: string, text: string, source: string): Spec {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const stackLike = isMap(doc.contents) && doc.contents.has('config');
  if (doc.errors.length)
    throw new SpecError(
      source,
      doc.errors.map((e) =>
        stackLike
          ? `not valid YAML: ${e.message} at ${at(e.pos[0])}`
          : `not valid YAML (${e.code}) at ${at(e.pos[0])}; no "config:" mapping was found, so nothing of the file is shown`,
      ),
    );
  // No content at all: nothing, comments, or a bare `---` (a null scalar with no text).
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null && doc.contents.source === ''))
    throw new SpecError(source, ['the file is empty; a stack file holds a "config:" mapping of "netlab:<key>": value (config: {} for every default)']);
  if (!stackLike) throw new SpecError(source, [NOT_A_STACK_FILE]);
  const duplicates = scanDocument(doc, lines);
  if (duplicates.length) throw new SpecError(source, duplicates);
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (e) {
    throw new SpecError(source, [`not valid YAML: ${(e as Error).message}`]);
  }
  // Pulumi writes plain values as strings (`pulumi stack init` turns `repetitions: 3` into "3"):
  // the keys Pulumi.yaml types as integer accept that form.
  return specFromStackDoc(name, withProjectTypes(value), source);
}

/**
 * One pass over the document: returns a problem for every repeated key of a mapping, and puts a
 * Symbol carrying the source text in place of every number JavaScript cannot hold (`.nan`, `.inf`,
 * `1e400`), so that each key refuses it with its own message and the message shows it as written.
 */
function scanDocument(doc: Document, lines: LineCounter): string[] {
  const problems: string[] = [];
  const lineOf = (node: { range?: [number, number, number] | null }) => lines.linePos(node.range?.[0] ?? 0).line;
  visit(doc, {
    Map(_, map) {
      const seen = new Map<unknown, number>();
      for (const { key } of map.items) {
        if (!isScalar(key)) continue; // like yaml's own check, collections and aliases as keys never compare equal
        const first = seen.get(key.value);
        if (first === undefined) seen.set(key.value, lineOf(key));
        else problems.push(`not valid YAML: Map keys must be unique; ${show(key.value)} at line ${lineOf(key)} repeats line ${first}`);
      }
    },
    Scalar(where, scalar) {
      if (where !== 'key' && typeof scalar.value === 'number' && !Number.isFinite(scalar.value)) scalar.value = Symbol(scalar.source ?? String(scalar.value));
    },
  });
  return problems;
}

/** Read a stack file: a regular file (or a symlink to one) of at most MAX_STACK_BYTES, in UTF-8. */
function readStackFile(path: string): string {
  const refuse = (why: string): never => {
    throw new SpecError(path, [why]);
  };
  const check = (st: Stats) => {
    if (!st.isFile()) refuse(`${kindOf(st)}${targetOf(path)}: a stack file must be a regular file, or a symlink to one (the file was not read)`);
    if (st.size > MAX_STACK_BYTES) refuse(`the file holds ${st.size} bytes; a stack file may hold at most 1 MB (${MAX_STACK_BYTES} bytes)`);
  };
  let bytes: Buffer;
  try {
    check(statSync(path));
    // Non-blocking: a FIFO swapped in after the check must not hang the open; fstat re-checks it.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      check(fstatSync(fd));
      const buf = Buffer.alloc(MAX_STACK_BYTES + 1);
      let n = 0;
      for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
      if (n > MAX_STACK_BYTES) refuse(`the file grew past 1 MB (${MAX_STACK_BYTES} bytes) while it was read`);
      bytes = buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof SpecError) throw e;
    return refuse(`cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!isUtf8(bytes)) refuse(`not UTF-8: the byte at offset ${firstBadUtf8(bytes)} starts no valid UTF-8 character; save the file as UTF-8`);
  return bytes.toString('utf8');
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** ` (→ /dev/zero)` when `path` is, or passes through, a symlink. */
function targetOf(path: string): string {
  const real = realpathSync(path);
  return real === path ? '' : ` (→ ${real})`;
}

/** Offset of the first byte that is not part of a valid UTF-8 sequence (the decoder replaces it with U+FFFD). */
function firstBadUtf8(bytes: Buffer): number {
  let offset = 0;
  for (const ch of bytes.toString('utf8')) {
    if (ch === '\uFFFD' && !(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd)) return offset;
    offset += Buffer.byteLength(ch);
  }
  return offset;
}

export function loadStack(ref: string, stacksDir = STACKS_DIR): Spec {
  const { name, path } = locateStack(ref, stacksDir);
  return parseStackText(name, readStackFile(path), path);
}

/** Every stack, or a SpecError reporting every refused one (none is returned unless all pass). */
export function loadStacks(refs: string[], stacksDir = STACKS_DIR): Spec[] {
  const specs: Spec[] = [];
  const errors: SpecError[] = [];
  for (const ref of refs) {
    try {
      specs.push(loadStack(ref, stacksDir));
    } catch (e) {
      if (!(e instanceof SpecError)) throw e;
      errors.push(e);
    }
  }
  if (errors.length > 1) throw new SpecErrors(errors);
  if (errors.length) throw errors[0];
  return specs;
}

/**
 * `netlab list`: one line per stack file, with its target, datapath and description or its first
 * problem. Every line is escaped, whatever it holds: a file name or a message never drives the terminal.
 */
export function stackListing(stacksDir = STACKS_DIR): string[] {
  return listStackNames(stacksDir).map((name) => {
    let desc: string;
    try {
      const s = loadStack(join(stacksDir, `Pulumi.${name}.yaml`), stacksDir); // a path: a name such as x.yaml stays in stacksDir
      desc = `${s.target.padEnd(5)} ${s.datapath.padEnd(13)} ${s.description}`;
    } catch (e) {
      desc = `INVALID: ${e instanceof SpecError ? e.problems[0] : (e as Error).message}`;
    }
    return printable(`${name.padEnd(28)} ${desc}`);
  });
}

export function listStackNames(stacksDir = STACKS_DIR): string[] {
  if (!existsSync(stacksDir)) return [];
  return readdirSync(stacksDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((n): n is string => !!n)
    .sort();
}
