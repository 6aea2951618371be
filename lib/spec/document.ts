// The stack document: a Pulumi stack file's `config:` (`netlab:<key>: value`) validated into one
// typed Spec, every key (schema.ts) then every rule across keys (rules.ts). Pure: no I/O here
// (stackfile.ts reads files).
import { isStackName, STACK_NAME_RULE } from '../core/names.ts';
import { show } from '../core/text.ts';
import { SpecError } from './errors.ts';
import { crossKeyRules } from './rules.ts';
import { ONCE_VALID, SpecShape, type Spec } from './schema.ts';

/** The whole spec: every key, then the rules across keys (run only once every key is valid). */
export const SpecSchema = SpecShape.superRefine(crossKeyRules, ONCE_VALID);

/** `netlab:` config secrets read by the Pulumi program only: the private half of aws.sshPublicKey. */
export const SECRET_KEYS = ['sshPrivateKey'] as const;

/** Config namespaces other than `netlab` that a stack file may carry (read by Pulumi, ignored here). */
export const FOREIGN_NAMESPACES = ['pulumi', 'aws', 'command', 'kubernetes'] as const;

/** The refusal of a document that is not a Pulumi stack file; it quotes nothing of the document. */
export const NOT_A_STACK_FILE = 'not a stack file: expected a YAML mapping with a "config:" key (Pulumi stack config format); nothing of the file is shown';

/**
 * Validate a parsed stack document (`{ config: { 'netlab:key': value } }`) into a Spec.
 * Throws SpecError listing every problem: `netlab:<key path> = <value>: <what is allowed>`.
 */
export function specFromStackDoc(name: string, doc: unknown, source = `stack ${name}`): Spec {
  if (!isStackName(name)) throw new SpecError(source, [`stack name ${show(name)}: ${STACK_NAME_RULE}`]);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !Object.hasOwn(doc, 'config')) throw new SpecError(source, [NOT_A_STACK_FILE]);
  const top = doc as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(top))
    if (!['config', 'secretsprovider', 'encryptedkey', 'encryptionsalt', 'environment'].includes(k))
      problems.push(`top-level key ${show(k)}: unknown; a Pulumi stack file holds "config:" (and secrets settings)`);
  const config = top.config;
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new SpecError(source, [...problems, 'config: expected a mapping of "netlab:<key>": value (config: {} for every default)']);
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    const colon = key.indexOf(':');
    const ns = colon < 0 ? '' : key.slice(0, colon);
    // Secrets the program reads itself (never part of the spec, so never in result.json).
    if (ns === 'netlab' && (SECRET_KEYS as readonly string[]).includes(key.slice(colon + 1))) continue;
    if (ns === 'netlab') raw[key.slice(colon + 1)] = value;
    else if (!(FOREIGN_NAMESPACES as readonly string[]).includes(ns))
      problems.push(`config key ${show(key)}: expected "netlab:<key>" (or a ${FOREIGN_NAMESPACES.join('/')} provider key)`);
  }
  const parsed = SpecSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const iss of parsed.error.issues) {
      const keyPath = iss.path.map(String).join('.');
      if (iss.code === 'unrecognized_keys') {
        problems.push(`${keyPath ? `netlab:${keyPath}` : 'config'}: ${iss.message}`);
      } else {
        let value = 'input' in iss ? iss.input : undefined;
        // A discriminator error carries the whole object: show the offending field instead.
        const last = iss.path[iss.path.length - 1];
        if (value && typeof value === 'object' && !Array.isArray(value) && typeof last === 'string' && last in value)
          value = (value as Record<string, unknown>)[last];
        problems.push(`netlab:${keyPath} = ${value === undefined ? '(missing)' : show(value)}: ${iss.message}`);
      }
    }
  }
  if (problems.length || !parsed.success) throw new SpecError(source, problems);
  return { ...parsed.data, name };
}
