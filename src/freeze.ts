/**
 * Freezes an object and every object inside it, so a published table (bounds, error codes) cannot
 * be changed at runtime by code that imports it: the package checks against these very objects.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
