// The import graph has no cycles, and the bottom layer imports nothing above it.
import test from 'ava';
import { cycles, importGraph } from '../../../scripts/code-graph.ts';

const graph = importGraph();

test('the import graph of lib/, components/, policy/ and the plugins has no cycles', (t) => {
  t.true(graph.files.length > 50, `${graph.files.length} files read`);
  t.deepEqual(cycles(graph), []);
});

test('lib/core imports only lib/core; datapaths and proxy modes never import the spec or the runner', (t) => {
  for (const [file, to] of graph.edges) {
    if (file.startsWith('lib/core/'))
      t.deepEqual(
        to.filter((x) => !x.startsWith('lib/core/')),
        [],
        file,
      );
    if (file.startsWith('lib/datapath/') || file.startsWith('lib/proxy/'))
      t.deepEqual(
        to.filter((x) => x.startsWith('lib/spec/') || x.startsWith('lib/local/') || x.startsWith('lib/cli/')),
        [],
        file,
      );
  }
});

test('the cycle finder finds a cycle when there is one', (t) => {
  const g = {
    files: ['a', 'b', 'c'],
    edges: new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]),
  };
  t.deepEqual(cycles(g), [['a', 'b', 'c']]);
});
