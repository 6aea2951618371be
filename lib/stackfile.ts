// Reading stack files: `<stack>` is a name (`local-hostgw` → stacks/Pulumi.local-hostgw.yaml) or a path.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SpecError, specFromStackDoc, type Spec } from './spec.ts';

export const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const STACKS_DIR = join(PROJECT_DIR, 'stacks');

/** Path of a stack given by name or path, and its stack name. */
export function locateStack(ref: string, stacksDir = STACKS_DIR): { name: string; path: string } {
  const looksLikePath = ref.includes('/') || ref.endsWith('.yaml') || ref.endsWith('.yml');
  const path = looksLikePath ? resolve(ref) : join(stacksDir, `Pulumi.${ref}.yaml`);
  const m = /^Pulumi\.(.+)\.ya?ml$/.exec(basename(path));
  const name = looksLikePath ? (m ? m[1]! : basename(path).replace(/\.ya?ml$/, '')) : ref;
  if (!existsSync(path)) {
    const known = listStackNames(stacksDir);
    throw new SpecError(ref, [`no stack file ${path}; known stacks: ${known.join(', ') || '(none)'}`]);
  }
  return { name, path };
}

export function parseStackText(name: string, text: string, source: string): Spec {
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true });
  } catch (e) {
    throw new SpecError(source, [`not valid YAML: ${(e as Error).message.split('\n')[0]}`]);
  }
  return specFromStackDoc(name, doc ?? {}, source);
}

export function loadStack(ref: string, stacksDir = STACKS_DIR): Spec {
  const { name, path } = locateStack(ref, stacksDir);
  return parseStackText(name, readFileSync(path, 'utf8'), path);
}

export function listStackNames(stacksDir = STACKS_DIR): string[] {
  if (!existsSync(stacksDir)) return [];
  return readdirSync(stacksDir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((n): n is string => !!n)
    .sort();
}
