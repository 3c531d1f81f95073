import { type ComponentDefinition, COMPONENT_NAME_RE, INSTANCE_RE } from './component.js';

/** The components an app serves, looked up by name (a `Map`: no prototype keys). */
export interface ComponentRegistry {
  get(name: string): ComponentDefinition | undefined;
  all(): Iterable<ComponentDefinition>;
}

export function createRegistry(components: readonly ComponentDefinition[]): ComponentRegistry {
  const byName = new Map<string, ComponentDefinition>();
  for (const c of components) {
    if (byName.has(c.name)) throw new TypeError(`Component "${c.name}" is registered twice`);
    byName.set(c.name, c);
  }
  return { get: (name) => byName.get(name), all: () => byName.values() };
}

export interface ParsedComponentId {
  readonly name: string;
  readonly instance: string;
}

/** `counter:main` → `{ name: 'counter', instance: 'main' }`; `null` when malformed. */
export function parseComponentId(id: string): ParsedComponentId | null {
  const colon = id.indexOf(':');
  if (colon <= 0) return null;
  const name = id.slice(0, colon);
  const instance = id.slice(colon + 1);
  return COMPONENT_NAME_RE.test(name) && INSTANCE_RE.test(instance) ? { name, instance } : null;
}
