/**
 * `data-lc-action` on buttons, links and forms, bound once by delegation on the document, so
 * elements that morphing adds work without re-binding.
 *
 * - A click on a `[data-lc-action]` element that is not a form calls the action on the closest
 *   `[data-lc-id]`, with the element's `data-lc-params` (a checkbox or radio toggles as usual).
 * - A form with `data-lc-action` is handled on submit: its fields become params (numbers for
 *   number/range inputs, booleans for lone checkboxes, arrays for repeated names, checkbox groups
 *   and multiple selects, files ignored; fields matched by name only), then the form's and the
 *   submitter's `data-lc-params` are merged over them. A field or params key named `__proto__` throws.
 *   With `data-lc-reset`, a successful answer leaves its fields as the server rendered them (component.ts).
 *   After a refusal that reloads the component, its fields keep what the user typed (component.ts).
 *   Submitted while its component is busy, it is sent once the answer in flight is in (component.ts).
 * - Enter held down on such an element or in such a form acts once: the keyboard's auto-repeat
 *   (`keydown` with `repeat`) would click or submit it again as soon as each answer is in.
 */
import { ATTR, BODY } from '../src/core/wire.js';
import type { Invoker } from './component.js';
import { noteEdit, watchOpenState } from './morph.js';
import { reasonOf } from './transport.js';

type Params = Record<string, unknown>;

/** Listens on `doc` for clicks, submits and Enter, for the page's lifetime (nothing unbinds them). */
export function bindDirectives(doc: Document, invoker: Invoker): void {
  const onClick = (event: MouseEvent): void => {
    const el = event.target instanceof Element ? event.target.closest(`[${ATTR.action}]`) : null;
    if (!el) return;
    if (el instanceof HTMLFormElement) {
      // The repeated clicks of a double click do not submit the form again.
      if (event.detail > 1 && isSubmitter(event.target as Element, el)) event.preventDefault();
      return;
    }
    const root = el.closest(`[${ATTR.id}]`);
    if (!root) return;
    const skip = el.matches(':disabled') || invoker.isBusy(root);
    const box = el instanceof HTMLInputElement && (el.type === 'checkbox' || el.type === 'radio') && el;
    // A checkbox or radio keeps its toggle while the action goes out (the answer's markup then says
    // what is checked); the click of anything else only calls the action (a link does not navigate).
    if (skip || !box) event.preventDefault();
    if (skip) return;
    // (Matched by its attribute: it has one.)
    void invoker.invoke(root, el.getAttribute(ATTR.action)!, jsonParams(el)).then((outcome) => {
      // A refusal brings no markup (a reload's left the boxes as it says): the box, and its radio group
      // in the component, show again what the server last rendered (`checked` attributes), not a change
      // it refused. (Replaced by a reload, the box is no longer in the component: nothing to do.)
      if (box && outcome.type === 'error') {
        for (const input of root.querySelectorAll('input')) {
          if (input === box || (box.name && input.type === 'radio' && input.name === box.name && input.form === box.form)) input.checked = input.defaultChecked;
        }
      }
    });
  };

  const onSubmit = (event: SubmitEvent): void => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute(ATTR.action)) return;
    const root = form.closest(`[${ATTR.id}]`);
    if (!root) return;
    event.preventDefault();
    const submitter = event.submitter instanceof HTMLElement ? event.submitter : null;
    const params = { ...formParams(form, submitter), ...jsonParams(form), ...(submitter ? jsonParams(submitter) : {}) };
    void invoker.invoke(root, form.getAttribute(ATTR.action)!, params, form);
  };

  // A held Enter repeats its keydown ~30 times a second, and each one submits the form (or clicks the
  // focused button) anew: a payment per repeat once the previous answer is in. Only the first counts;
  // in a textarea or an editable element Enter is a new line, and repeats are the user's to make.
  const onKeydown = (event: KeyboardEvent): void => {
    const el = event.target;
    if (event.key !== 'Enter' || !event.repeat || !(el instanceof HTMLElement) || el instanceof HTMLTextAreaElement || el.isContentEditable) return;
    if (el.closest(`[${ATTR.action}]`)) event.preventDefault();
  };

  doc.addEventListener('click', onClick);
  doc.addEventListener('submit', onSubmit);
  doc.addEventListener('keydown', onKeydown);
  // (A page's handler may stop `beforeinput` on its way up.)
  doc.addEventListener('beforeinput', noteEdit, true);
  watchOpenState(doc);
}

function isSubmitter(target: Element, form: HTMLFormElement): boolean {
  // (Only a button or an input has a `form`: no other element's is `form`.)
  const button = target.closest<HTMLButtonElement>('button, input');
  return button?.form === form && button.type === 'submit';
}

/**
 * The JSON object in `data-lc-params`, or `{}`. A malformed value is a page bug: it throws, naming
 * the attribute and the element, and so does a `__proto__` key (the server refuses any body holding one).
 */
export function jsonParams(el: Element): Params {
  const text = el.getAttribute(ATTR.params);
  if (text === null) return {};
  let value: unknown;
  let why = text;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    why = reasonOf(cause);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    // Named: the parse error alone names neither the attribute nor the element.
    const action = el.getAttribute(ATTR.action);
    throw new TypeError(`${ATTR.params} of <${el.localName}${action === null ? '' : ` ${ATTR.action}="${action}"`}> is not a JSON object: ${why}`);
  }
  if (Object.hasOwn(value, PROTO)) throw reserved(`${ATTR.params} key`);
  return value as Params;
}

const PROTO = '__proto__';
const reserved = (what: string): TypeError =>
  new TypeError(`A ${what} named ${PROTO} cannot be sent: the server refuses any body holding that key`);

type Control = Element & { name: string; type?: string };

/** The form's fields as action params (the CSRF field is never one). */
export function formParams(form: HTMLFormElement, submitter: HTMLElement | null): Params {
  // No prototype: a field named `constructor` or `toString` is just a field (one named `__proto__`
  // throws: the server would refuse the whole body).
  const out = Object.create(null) as Params;
  // The controls of each name, in tree order (`form=` controls outside the form included); by name
  // only, as FormData does (`namedItem` would also match ids).
  const byName = new Map<string, Control[]>();
  for (const el of [...form.elements] as Control[]) {
    if (typeof el.name !== 'string' || el.name === '') continue;
    const list = byName.get(el.name);
    if (list) list.push(el);
    else byName.set(el.name, [el]);
  }
  const data = submitter ? new FormData(form, submitter) : new FormData(form);
  // Which of a name's entries come from number/range inputs (only those are converted): pairs the
  // entries with the name's controls, each giving as many entries as FormData takes from it.
  const numeric = new Map<string, boolean[]>();
  for (const [name, controls] of byName) {
    const flags = controls.flatMap((el) => Array<boolean>(entryCount(el, submitter)).fill(isNumber(el)));
    numeric.set(name, flags.length === data.getAll(name).length ? flags : []);
  }
  const seen = new Map<string, number>();
  for (const [name, value] of data) {
    const index = seen.get(name) ?? 0;
    seen.set(name, index + 1);
    if (name === BODY.csrfToken || typeof value !== 'string') continue;
    const key = paramName(name);
    const controls = byName.get(name) ?? [];
    const first = controls[0];
    const typed = numeric.get(name)?.[index] === true && value !== '' ? Number(value) : value;
    if (isCheckbox(first) && controls.length === 1 && key === name) {
      out[key] = true;
    } else {
      append(out, key, typed, key !== name || isCheckbox(first) || (first instanceof HTMLSelectElement && first.multiple));
    }
  }
  // Absent from FormData: an unchecked lone checkbox is `false`; an empty checkbox group, a multiple
  // select with nothing selected and a `name[]` checkbox are `[]`.
  for (const el of form.elements) {
    const multiple = el instanceof HTMLSelectElement && el.multiple;
    if (!(isCheckbox(el) || multiple) || el.name === '' || el.name === BODY.csrfToken || el.matches(':disabled')) continue;
    const key = paramName(el.name);
    if (key in out) continue;
    out[key] = multiple || key !== el.name || (byName.get(el.name)?.length ?? 0) > 1 ? [] : false;
  }
  return out;
}

/**
 * The param a field name gives: `tags[]` is `tags`, always an array (the convention of PHP, Rails and
 * Livewire), so a checkbox group rendered with one box still sends an array, not `true`.
 */
function paramName(name: string): string {
  const key = name.endsWith('[]') ? name.slice(0, -2) : name;
  if (key === PROTO) throw reserved('form field');
  return key;
}

/** How many entries FormData takes from `el` (a named control of the form). */
export function entryCount(el: Control, submitter: HTMLElement | null): number {
  if (el.matches(':disabled') || el.closest('datalist')) return 0;
  if (el instanceof HTMLSelectElement) return [...el.options].filter((o) => o.selected && !o.matches(':disabled')).length;
  if (el instanceof HTMLButtonElement || (el instanceof HTMLInputElement && ['submit', 'reset', 'button', 'image'].includes(el.type))) {
    return el === submitter ? 1 : 0;
  }
  if (el instanceof HTMLInputElement) {
    if (el.type === 'checkbox' || el.type === 'radio') return el.checked ? 1 : 0;
    if (el.type === 'file') return Math.max(1, el.files?.length ?? 0);
    return 1;
  }
  return el instanceof HTMLTextAreaElement ? 1 : 0;
}

function isNumber(el: Element): boolean {
  return el instanceof HTMLInputElement && (el.type === 'number' || el.type === 'range');
}

function isCheckbox(el: unknown): el is HTMLInputElement {
  return el instanceof HTMLInputElement && el.type === 'checkbox';
}

function append(out: Params, name: string, value: unknown, alwaysArray: boolean): void {
  const previous = out[name];
  if (Array.isArray(previous)) previous.push(value);
  else if (name in out) out[name] = [previous, value];
  else out[name] = alwaysArray ? [value] : value;
}
