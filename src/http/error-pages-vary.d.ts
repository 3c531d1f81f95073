/**
 * Types of the `vary` package (a dependency; it ships untyped), whose `append` error-pages.ts uses to
 * add `Accept` to a `Vary` header value.
 */
declare module 'vary' {
  const vary: {
    /** `header` (a `Vary` value, `''` for none) with `field` added: once, case-insensitively, `*` kept. */
    append(header: string, field: string | string[]): string;
  };
  export default vary;
}
