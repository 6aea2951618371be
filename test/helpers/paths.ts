// Where tests find the project, its CLI and the fixtures, wherever the test file sits.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(PROJECT, 'bin', 'netlab.js');
export const FIXTURES = join(PROJECT, 'test', 'fixtures');
