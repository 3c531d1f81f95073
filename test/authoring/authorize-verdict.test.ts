/**
 * `authorize` answers true or false. Anything else is a bug in the rule: once, a truthy non-boolean
 * ('false', { ok: false }, 1) let the action run, and a forgotten `return` answered a bare 401 with
 * nothing logged. Now it is refused as a 500 whose failure (logged by the HTTP layer) names the
 * action and what the rule returned; the action never runs.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { createTestHarness, mountComponent } from '../../src/testing/index.js';

async function verdictOf(rule: () => unknown) {
  let runs = 0;
  const definition = defineComponent({
    name: 'az',
    initialState: { n: 0 },
    publicState: ['n'],
    actions: { go: { authorize: rule as () => boolean, run: (s) => (runs++, { n: s.n + 1 }) } },
    render: (s) => html`<p>${s.n}</p>`,
  });
  const h = await createTestHarness([definition]);
  const m = await mountComponent(definition, undefined, { harness: h });
  const headers = { 'x-csrf-token': await h.runtime.csrf.issue(h.session) };
  const res = await h.runtime.handleAction({ requestId: 'r', ip: '1.1.1.1', method: 'POST', url: '/', headers }, { component_id: m.id, action: 'go', params: {} }, h.session);
  return { status: res.status, code: (res.body as { code?: string }).code, failure: res.failure === undefined ? undefined : String(res.failure), runs, state: await h.fullState(m.id) };
}

const refused = (got: string) => ({
  status: 500,
  code: 'INTERNAL_ERROR',
  failure: `TypeError: az.go: authorize must return true or false (or a promise of one), got ${got}; the action was refused`,
  runs: 0,
  state: { n: 0 },
});

describe('authorize must return a boolean', () => {
  const cases: [string, () => unknown, string][] = [
    ["the string 'false'", () => 'false', 'string'],
    ['{ ok: false }', () => ({ ok: false }), 'object'],
    ['1', () => 1, 'number'],
    ['0', () => 0, 'number'],
    ['undefined (a forgotten return)', () => undefined, 'undefined'],
    ['null', () => null, 'null'],
    ["a promise of 'yes'", async () => 'yes', 'string'],
    ['a promise of undefined', async () => undefined, 'undefined'],
  ];
  const ran = { status: 200, code: undefined, failure: undefined, runs: 1, state: { n: 1 } };
  const no = { status: 401, code: 'UNAUTHENTICATED', failure: undefined, runs: 0, state: { n: 0 } };
  for (const [label, rule, got] of cases) {
    it(`refuses ${label} as a 500 naming the action, without running it; true and false keep their meaning`, async () => {
      expect(await verdictOf(rule)).toEqual(refused(got));
      expect(await verdictOf(() => true)).toEqual(ran);
      expect(await verdictOf(async () => true)).toEqual(ran);
      expect(await verdictOf(() => false)).toEqual(no);
      expect(await verdictOf(async () => false)).toEqual(no);
    });
  }
});
