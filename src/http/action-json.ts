/**
 * The action route's reply serializer: exactly the text of `JSON.stringify(body)`, with the `html`
 * string taken from `jsonString`, where the idempotency stage left it when it stored the same HTML
 * (escaping the HTML is most of the cost of encoding a response).
 */
import { jsonString } from '../core/json.js';

export function serializeActionBody(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return JSON.stringify(body);
  const fields = body as Record<string, unknown>;
  if (typeof fields.html !== 'string' || typeof fields.toJSON === 'function') return JSON.stringify(body);
  // Own enumerable keys in JSON.stringify's order; members without a JSON form are left out as it does.
  let text = '';
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    const json: string | undefined = typeof value === 'string' && key === 'html' ? jsonString(value) : JSON.stringify(value);
    if (json === undefined) continue;
    text += `${text === '' ? '{' : ','}${JSON.stringify(key)}:${json}`;
  }
  return text === '' ? '{}' : `${text}}`;
}
