/** An in-memory `stdout` for loggers under test. */
import type { TextStream } from '../../src/ops/logging/index.js';

export interface Capture extends TextStream {
  readonly chunks: string[];
  text(): string;
  /** Every line parsed as JSON (for the `json` format). */
  records(): Record<string, unknown>[];
}

export function capture(): Capture {
  const chunks: string[] = [];
  return {
    chunks,
    write(chunk: string) {
      chunks.push(chunk);
      return true;
    },
    text: () => chunks.join(''),
    records: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
