// A refused stack, with every problem found in it.
import { printable } from '../core/text.ts';

/** A refused stack: its source and every problem, each made printable (it may quote the file). */
export class SpecError extends Error {
  readonly problems: string[];
  constructor(
    readonly source: string,
    problems: string[],
  ) {
    const shown = problems.map(printable);
    super(`${printable(source)}: invalid experiment spec\n${shown.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SpecError';
    this.problems = shown;
  }
}

/** Several refused stacks, reported together: each with its own source and problems. */
export class SpecErrors extends SpecError {
  constructor(readonly errors: SpecError[]) {
    super(
      errors.map((e) => e.source).join(', '),
      errors.flatMap((e) => e.problems.map((p) => `${e.source}: ${p}`)),
    );
    this.message = errors.map((e) => e.message).join('\n');
  }
}
