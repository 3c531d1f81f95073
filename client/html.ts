/**
 * Parsing the server's HTML (action answers, pages fetched again). Under a Trusted Types CSP
 * (`require-trusted-types-for 'script'`) the DOM refuses plain strings in `parseFromString`, so the
 * HTML goes through one policy, `livecomponents`, created on first use. It passes the HTML as it is:
 * it comes from the app's own server, which escapes what it renders. The app's CSP must allow the
 * policy (`trusted-types livecomponents`); if it does not, creating it throws and the morph reports
 * `RENDER_FAILED`.
 */
import { TRUSTED_TYPES_POLICY } from '../src/core/wire.js';

/** The part of the Trusted Types API used here (TypeScript's DOM types do not have it yet). */
interface HtmlPolicy {
  createHTML(html: string): unknown;
}
declare global {
  interface Window {
    trustedTypes?: { createPolicy(name: string, rules: { createHTML(html: string): string }): HtmlPolicy };
  }
}

let policy: HtmlPolicy | undefined;

/** `html` as `parseFromString` takes it on this page: a TrustedHTML where Trusted Types exist. */
function trusted(html: string): string {
  const factory = window.trustedTypes;
  if (!factory) return html;
  policy ??= factory.createPolicy(TRUSTED_TYPES_POLICY, { createHTML: (s) => s });
  // A TrustedHTML; TypeScript's parseFromString signature only knows strings.
  return policy.createHTML(html) as string;
}

/** A whole page. */
export function parseDocument(html: string): Document {
  return new DOMParser().parseFromString(trusted(html), 'text/html');
}

/** A fragment of markup, parsed inside a `<template>` so that table rows and the like survive, as idiomorph does. */
export function parseFragment(html: string): DocumentFragment {
  return parseDocument(`<body><template>${html}</template></body>`).querySelector('template')!.content;
}
