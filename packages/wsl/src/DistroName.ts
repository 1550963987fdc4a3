/**
 * WSL distribution names, validated with WSL's own rule (`LxssUserSession.cpp`): one to 256
 * characters from `[a-zA-Z0-9._-]`. `Legacy` is reserved for *new* distributions only (an existing
 * one from an lxrun migration is listed and used as any other): {@link validateNew} refuses it.
 *
 * Every `Wsl` call takes a {@link DistroName}: a name that fails this rule is rejected before it
 * can reach a `wsl.exe` command line or a `\\wsl.localhost\<distro>` path.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Rule from "./internal/distroNameRule.ts"

export {
  /** Why `name` is not a valid distribution name, or `undefined` when it is. */
  invalidReason,
  /** The longest name WSL accepts (`LX_INIT_DISTRO_NAME_MAX`). */
  maxLength,
  /** WSL's name pattern, `^[a-zA-Z0-9._-]{1,256}$`. */
  pattern
} from "./internal/distroNameRule.ts"

/**
 * A WSL distribution name, e.g. `Ubuntu-24.04`. Decoding rejects anything WSL itself would
 * refuse to register (`Invalid distribution name`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { DistroName } from "@isthmus/wsl"
 * const name = Schema.decodeUnknownSync(DistroName.DistroName)("Ubuntu-24.04")
 * ```
 */
export const DistroName = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) => {
    const reason = Rule.invalidReason(s)
    return reason === undefined ? undefined : `Invalid distribution name ${JSON.stringify(s)}: ${reason}`
  }, { title: "DistroName", description: "a WSL distribution name ([a-zA-Z0-9._-]{1,256})" })),
  Schema.brand("DistroName")
)

/** A validated WSL distribution name. */
export type DistroName = typeof DistroName.Type

/** Raised when a string is not a valid WSL distribution name. */
export class InvalidDistroNameError extends Schema.TaggedError<InvalidDistroNameError>()("InvalidDistroNameError", {
  name: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid distribution name ${
      JSON.stringify(this.name)
    }: ${this.reason}. Use a name listed by \`wsl.exe --list --quiet\`.`
  }
}

/** Validates `name`, returning the branded name or an {@link InvalidDistroNameError}. */
export const make = (name: string): Result.Result<DistroName, InvalidDistroNameError> => {
  const reason = Rule.invalidReason(name)
  return reason === undefined
    ? Result.succeed(name as DistroName)
    : Result.fail(new InvalidDistroNameError({ name, reason }))
}

/**
 * Validates a name for a *new* distribution (import, install): {@link make}'s rule, and not
 * `Legacy` in any case (`LxssUserSession.cpp`: `Invalid distribution name`).
 */
export const validateNew = (name: string): Result.Result<DistroName, InvalidDistroNameError> => {
  const reason = Rule.invalidNewReason(name)
  return reason === undefined
    ? Result.succeed(name as DistroName)
    : Result.fail(new InvalidDistroNameError({ name, reason }))
}

/** Like {@link make} but throws; for constants in code and tests. */
export const unsafeMake = (name: string): DistroName => {
  const result = make(name)
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/** `true` when `name` is a valid distribution name. */
export const isDistroName = (name: unknown): name is DistroName => Rule.isValid(name)

/** WSL looks names up case-insensitively: `true` when both name the same distribution. */
export const equals: (a: string, b: string) => boolean = Rule.equals
