// Stack configuration written as a test writes it (keys without the `netlab:` prefix), read the way
// a stack file is read, for the tests that check what validation accepts and refuses.
import { specFromStackDoc } from '../../lib/spec/document.ts';
import { SpecError } from '../../lib/spec/errors.ts';
import type { Spec } from '../../lib/spec/schema.ts';

/** A stack document from `config` (keys without the `netlab:` prefix). */
export const stackDoc = (config: Record<string, unknown>) => ({
  config: Object.fromEntries(Object.entries(config).map(([k, v]) => [`netlab:${k}`, v])),
});

/** What validation says of `config`, one line per problem ([] when the stack is accepted). */
export function problemsOf(config: Record<string, unknown>): string[] {
  try {
    specFromStackDoc('t', stackDoc(config));
    return [];
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    return e.problems;
  }
}

/** The validated spec of `config` (stack name `t`). */
export const specOfConfig = <S extends Spec = Spec>(config: Record<string, unknown>) => specFromStackDoc('t', stackDoc(config)) as S;
