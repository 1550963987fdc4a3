/**
 * WSL's distribution name rule without dependencies (`DistroName` wraps it in a Schema). Kept
 * free of `effect` so `fake-wsl` starts fast.
 * @internal
 */

/** The longest name WSL accepts (`LX_INIT_DISTRO_NAME_MAX`). */
export const maxLength = 256

/** WSL's name pattern, `^[a-zA-Z0-9._-]{1,256}$`. */
export const pattern: RegExp = /^[a-zA-Z0-9._-]{1,256}$/

/**
 * Why `name` cannot name a distribution, or `undefined` when it can. `Legacy` can: WSL reserves it
 * for *new* registrations only, and machines migrated from lxrun have a distribution called so
 * (`LxssUserSession.cpp` `_CreateLegacyRegistration`; windows-reality.md §7).
 */
export const invalidReason = (name: string): string | undefined => {
  if (name.length === 0) return "a distribution name cannot be empty"
  if (name.length > maxLength) return `a distribution name has at most ${maxLength} characters (got ${name.length})`
  if (!pattern.test(name)) {
    return "a distribution name may only contain letters A-Z/a-z, digits, '.', '_' and '-'"
  }
  return undefined
}

/** Why `name` cannot be given to a *new* distribution (import, install), or `undefined`: also refuses `Legacy`. */
export const invalidNewReason = (name: string): string | undefined =>
  invalidReason(name) ??
    (name.toLowerCase() === "legacy" ? "\"Legacy\" is reserved by WSL for new distributions" : undefined)

/** `true` when `name` follows WSL's rule. */
export const isValid = (name: unknown): name is string => typeof name === "string" && invalidReason(name) === undefined

/** WSL looks names up case-insensitively. */
export const equals = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()
