/**
 * List helpers for the request path, where every allocation is paid again on every Check.
 *
 * EMPTY is the one shared empty list that parse and decision results use when a list field has
 * nothing in it (no includes, no chain, no bundle entries, no rewrites, no obligations). Typed
 * readonly, so no TypeScript caller can add to it. Deliberately not frozen: V8 iterates frozen
 * (and sealed) arrays through the generic iterator protocol, so every `for…of` over one would
 * allocate, and these lists are iterated on every request. The same goes for any other list
 * shared between requests: readonly in its type, not frozen.
 */
export const EMPTY: readonly never[] = [];

/**
 * Adds `item` to `list`, making the list on the first item at its exact size: most such lists
 * hold one or two items, and a list grown by push from empty reserves room for seventeen.
 */
export function append<T>(list: T[] | undefined, item: T): T[] {
  if (list === undefined) return [item];
  list.push(item);
  return list;
}
