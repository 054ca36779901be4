import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every source file of the package (tests excluded), as paths relative to `src/`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [relative(SRC, path)] : [];
  });
}

/**
 * The package's own imports: file -> the files it imports, static, dynamic and type-only alike
 * (an interface file that imports its implementations, even lazily or for a type, is a circle).
 */
function importGraph(): Map<string, string[]> {
  const files = sourceFiles(SRC);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => relative(SRC, resolve(SRC, dirname(file), name)).replace(/\.js$/, '.ts'));
    for (const target of targets) {
      if (!known.has(target)) throw new Error(`${file} imports ${target}, which is not a source file of the package`);
    }
    graph.set(file, [...new Set(targets)].sort());
  }
  return graph;
}

/** The import circles of `graph`, each as the path that closes it (`a -> b -> a`). */
function importCycles(graph: Map<string, string[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].join(' -> '));
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

describe('packages/ledger/src imports', () => {
  it('form no circle', () => {
    expect(importCycles(importGraph())).toEqual([]);
  });

  it('are all found (the check would see a circle)', () => {
    const graph = importGraph();
    expect(graph.get('index.ts')).toContain('verify/ledger-verifier.ts');
    expect(importCycles(new Map([...graph, ['ledger-error.ts', ['index.ts']]]))).not.toEqual([]);
  });
});
