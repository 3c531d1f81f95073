/**
 * Apps with `exactOptionalPropertyTypes: true` compile the documented samples that pass
 * `process.env.X` (a `string | undefined`) to optional options: those options say `| undefined`.
 * The sample is compiled with the TypeScript API against the sources; only its own diagnostics count
 * (the project itself compiles with the option off).
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SAMPLE = fileURLToPath(new URL('./env-options.sample.ts', import.meta.url));

function diagnosticsOf(file: string): string[] {
  const program = ts.createProgram([file], {
    strict: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
  });
  const source = program.getSourceFile(file);
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
    return `${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]}`;
  });
}

describe('options filled from process.env, under exactOptionalPropertyTypes', () => {
  it('the samples of docs/components.md and docs/operations.md compile', () => {
    expect(diagnosticsOf(SAMPLE)).toEqual([]);
  }, 120_000);
});
