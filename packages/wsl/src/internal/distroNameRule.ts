/**
 * WSL's distribution name rule without dependencies (`DistroName` wraps it in a Schema). Kept
 * free of `effect` so `fake-wsl` starts fast.
 * @internal
 */

/** The longest name WSL accepts (`LX_INIT_DISTRO_NAME_MAX`). */
export const maxLength = 256

/** WSL's name pattern, `^[a-zA-Z0-9._-]{1,256}$`. */
export const pattern: RegExp = /^[a-zA-Z0-9._-]{1,256}$/

/** Why `name` is not a valid distribution name, or `undefined` when it is. */
export const invalidReason = (name: string): string | undefined => {
  if (name.length === 0) return "a distribution name cannot be empty"
  if (name.length > maxLength) return `a distribution name has at most ${maxLength} characters (got ${name.length})`
  if (!pattern.test(name)) {
    return "a distribution name may only contain letters A-Z/a-z, digits, '.', '_' and '-'"
  }
  if (name.toLowerCase() === "legacy") return "\"Legacy\" is reserved by WSL"
  return undefined
}

/** `true` when `name` follows WSL's rule. */
export const isValid = (name: unknown): name is string => typeof name === "string" && invalidReason(name) === undefined

/** WSL looks names up case-insensitively. */
export const equals = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()
