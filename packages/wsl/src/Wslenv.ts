/**
 * `WSLENV`: the list of environment variables WSL forwards between Windows and Linux
 * (`wsl.md` §4). A `:`-separated list of `NAME[/flags]`, flags from `p` (path), `l` (path list),
 * `u` (only Windows → Linux) and `w` (only Linux → Windows).
 *
 * - {@link parse} / {@link format}: the list as data, the way WSL reads it.
 * - {@link append}: add names without touching what the user already has (order, duplicates,
 *   empty items and odd entries are kept byte for byte).
 * - {@link translate}: what WSL does with each listed variable in one direction.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as WslPath from "./internal/pathCore.ts"

/** The flags WSL knows. */
export type Flag = "p" | "l" | "u" | "w"

/** One `NAME[/flags]` item of `WSLENV`, as WSL parses it. */
export interface Entry {
  /** The variable name (case-sensitive). */
  readonly name: string
  /** The flag characters after `/`, as written (may contain unknown flags). */
  readonly flags: string
}

/** The set of flag characters WSL understands. */
export const knownFlags: ReadonlySet<string> = new Set(["p", "l", "u", "w"])

/**
 * Parses a `WSLENV` value like WSL does (`util.cpp` `UtilParseWslEnv`): whitespace is trimmed
 * from the end of the whole list only, the list is split on `:` with empty items skipped
 * (`strtok_r`), each item split at its first `/` into name and flags. Names are not trimmed
 * (`FOO :BAR` names `FOO ` with a trailing space). Duplicates are kept.
 */
export const parse = (value: string | undefined): ReadonlyArray<Entry> => {
  if (value === undefined) return []
  const entries: Array<Entry> = []
  for (const item of trimListEnd(value).split(":")) {
    if (item.length === 0) continue
    const slash = item.indexOf("/")
    entries.push(
      slash === -1 ? { name: item, flags: "" } : { name: item.slice(0, slash), flags: item.slice(slash + 1) }
    )
  }
  return entries
}

/** C `isspace` in the "C" locale: space, \t, \n, \v, \f, \r. */
const trimListEnd = (value: string): string => value.replace(/[ \t\n\v\f\r]+$/, "")

/** Formats one entry as `NAME` or `NAME/flags`. */
export const formatEntry = (entry: Entry): string =>
  entry.flags.length === 0 ? entry.name : `${entry.name}/${entry.flags}`

/** Formats entries as a `WSLENV` value. */
export const format = (entries: ReadonlyArray<Entry>): string => entries.map(formatEntry).join(":")

/** The flags of `entry` that WSL does not know (a non-empty result makes WSL skip the variable). */
export const unknownFlagsOf = (entry: Entry): string => [...entry.flags].filter((f) => !knownFlags.has(f)).join("")

/** Whether `value` already declares a variable called `name` (with any flags). */
export const declares = (value: string | undefined, name: string): boolean =>
  parse(value).some((entry) => entry.name === name)

/** What to add with {@link append}: a name, or a name with flags. */
export type Addition = string | Entry

const toEntry = (addition: Addition): Entry => typeof addition === "string" ? { name: addition, flags: "" } : addition

/**
 * Appends `additions` to an existing `WSLENV` value. The existing text is kept verbatim (order,
 * duplicates, empty items, unknown flags) except whitespace at its very end, which WSL ignores
 * there but would read as part of the last name once something follows it; only names it does
 * not declare yet (compared by name, ignoring flags) are added, each once, in the given order.
 *
 * @example
 * ```ts
 * append("GOPATH/p::FOO/u", ["OPENAI_API_KEY", { name: "WORKDIR", flags: "p" }])
 * // "GOPATH/p::FOO/u:OPENAI_API_KEY:WORKDIR/p"
 * ```
 */
export const append = (existing: string | undefined, additions: ReadonlyArray<Addition>): string => {
  const declared = new Set(parse(existing).map((e) => e.name))
  const added: Array<string> = []
  for (const addition of additions) {
    const entry = toEntry(addition)
    if (declared.has(entry.name)) continue
    declared.add(entry.name)
    added.push(formatEntry(entry))
  }
  if (added.length === 0) return existing ?? ""
  const base = trimListEnd(existing ?? "")
  if (base.length === 0) return added.join(":")
  return `${base}${base.endsWith(":") ? "" : ":"}${added.join(":")}`
}

/**
 * Like {@link append}, but a name the existing value already declares is taken over for this
 * value: its items are removed (every other item is kept byte for byte) and `additions` are
 * appended with their flags. Use it when a value must arrive as given — e.g. the caller's `NAME`
 * while the user's `WSLENV` says `NAME/w` (which would never cross to Linux) or `NAME/p` (which
 * would translate it).
 *
 * @example
 * ```ts
 * override("GOPATH/p:TOKEN/w", [{ name: "TOKEN", flags: "u" }]) // "GOPATH/p:TOKEN/u"
 * ```
 */
export const override = (existing: string | undefined, additions: ReadonlyArray<Addition>): string => {
  const names = new Set(additions.map((a) => toEntry(a).name))
  const base = existing === undefined ? undefined : trimListEnd(existing).split(":").filter((item) => {
    const slash = item.indexOf("/")
    return !names.has(slash === -1 ? item : item.slice(0, slash))
  }).join(":")
  return append(base === undefined || base.length === 0 ? undefined : base, additions)
}

const verbatim = (e: Entry) => [...e.flags].every((f) => f === "u")

/**
 * A `WSLENV` value that makes each of `names` arrive on the Linux side exactly as set on the
 * Windows side: names the existing value does not declare are appended with `/u`; names it
 * declares only in ways that deliver the value verbatim (no flag, or `u`) are left alone; names
 * it declares otherwise (`w`: never crosses to Linux; `p`/`l`: translated as paths; an unknown
 * flag: dropped) are taken over with {@link override}. Used by `Wsl.exec` for its `env`.
 *
 * @example
 * ```ts
 * appendVerbatim("GOPATH/p:TOKEN/w:KEY/u", ["TOKEN", "KEY", "NEW"]) // "GOPATH/p:KEY/u:TOKEN/u:NEW/u"
 * ```
 */
export const appendVerbatim = (existing: string | undefined, names: ReadonlyArray<string>): string => {
  const entries = parse(existing)
  const takeOver = names.filter((n) => entries.some((e) => e.name === n && !verbatim(e)))
  const additions = names.map((name) => ({ name, flags: "u" }))
  return takeOver.length === 0
    ? append(existing, additions)
    : append(override(existing, takeOver.map((name) => ({ name, flags: "u" }))), additions)
}

/**
 * Returns a copy of `env` whose `WSLENV` forwards `additions` as well ({@link append} on the
 * existing `WSLENV`). Use it to build the environment of a `wsl.exe` process.
 */
export const forward = (
  env: Readonly<Record<string, string | undefined>>,
  additions: ReadonlyArray<Addition>
): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value
  const wslenv = append(env["WSLENV"], additions)
  if (wslenv.length > 0 || env["WSLENV"] !== undefined) out["WSLENV"] = wslenv
  return out
}

/** The direction of a translation: Windows → Linux (entering WSL) or Linux → Windows. */
export type Direction = "toLinux" | "toWindows"

/** One variable as WSL would deliver it on the other side, or why it was not. */
export type Outcome =
  | { readonly _tag: "Set"; readonly name: string; readonly value: string; readonly warnings: ReadonlyArray<string> }
  | {
    readonly _tag: "Skipped"
    readonly name: string
    readonly reason: "unknownFlag" | "direction" | "emptyPathValue" | "allPathsFailed"
    readonly warnings: ReadonlyArray<string>
  }

/** The result of {@link translate}. */
export interface Translation {
  /** Variables as the other side sees them (`WSLENV` itself included when set). */
  readonly env: Readonly<Record<string, string>>
  /** One outcome per `WSLENV` entry, in order. */
  readonly outcomes: ReadonlyArray<Outcome>
  /** WSL's `Failed to translate '<p>'` warnings. */
  readonly warnings: ReadonlyArray<string>
}

const translateList = (
  value: string,
  direction: Direction,
  context: WslPath.Context
): { readonly value: string | undefined; readonly warnings: ReadonlyArray<string> } => {
  const warnings: Array<string> = []
  const out: Array<string> = []
  const elements = value.split(direction === "toLinux" ? ";" : ":")
  for (const element of elements) {
    if (element.length === 0) continue
    if (direction === "toLinux") {
      if (!WslPath.isAbsoluteWindows(element)) continue
      const r = WslPath.toLinux(element, context)
      if (typeof r === "string") out.push(r)
      else warnings.push(`Failed to translate '${element}'`)
    } else {
      const r = WslPath.toWindows(element, context)
      if (typeof r === "string") out.push(r)
      else warnings.push(`Failed to translate '${element}'`)
    }
  }
  return { value: out.length === 0 ? undefined : out.join(direction === "toLinux" ? ":" : ";"), warnings }
}

/**
 * Models WSL's translation of the variables listed in `WSLENV` (taken from `source`) in one
 * direction (`wsl.md` §4):
 * - unknown flags skip the variable; `u` only crosses Windows → Linux, `w` only Linux → Windows;
 * - a listed variable missing on the source side arrives as `NAME=` (defined, empty), with any
 *   flags, `p` included (`Append(… EnvVal.value_or(""))`);
 * - no flag: the value is copied verbatim;
 * - `p` or `l`: the value is split as a list (`;` on Windows, `:` on Linux), each element
 *   translated with wslpath rules (no `-a`, no symlinks); relative Windows elements are dropped
 *   silently, failing ones with a `Failed to translate` warning; an empty result or an empty
 *   (but set) value means the variable is not exported at all;
 * - a name listed twice is exported twice; the first one is what `getenv` finds, and `env` keeps it.
 *
 * `context` is the path context of the distro (its name and mounts).
 */
export const translate = (
  source: Readonly<Record<string, string | undefined>>,
  direction: Direction,
  context: WslPath.Context
): Translation => {
  const env: Record<string, string> = {}
  const outcomes: Array<Outcome> = []
  const warnings: Array<string> = []
  const wslenv = source["WSLENV"]
  if (wslenv !== undefined) env["WSLENV"] = wslenv
  for (const entry of parse(wslenv)) {
    const { name, flags } = entry
    if (unknownFlagsOf(entry).length > 0) {
      outcomes.push({ _tag: "Skipped", name, reason: "unknownFlag", warnings: [] })
      continue
    }
    if ((direction === "toWindows" && flags.includes("u")) || (direction === "toLinux" && flags.includes("w"))) {
      outcomes.push({ _tag: "Skipped", name, reason: "direction", warnings: [] })
      continue
    }
    const raw = source[name]
    if (raw !== undefined && (flags.includes("p") || flags.includes("l"))) {
      if (raw.length === 0) {
        outcomes.push({ _tag: "Skipped", name, reason: "emptyPathValue", warnings: [] })
        continue
      }
      const list = translateList(raw, direction, context)
      warnings.push(...list.warnings)
      if (list.value === undefined) {
        outcomes.push({ _tag: "Skipped", name, reason: "allPathsFailed", warnings: list.warnings })
        continue
      }
      if (!(name in env)) env[name] = list.value
      outcomes.push({ _tag: "Set", name, value: list.value, warnings: list.warnings })
      continue
    }
    // Absent on the source side: `NAME=` (defined, empty), with any flags (`EnvVal.value_or("")`).
    const value = raw ?? ""
    // Duplicates: the first assignment is what getenv() finds.
    if (!(name in env)) env[name] = value
    outcomes.push({ _tag: "Set", name, value, warnings: [] })
  }
  return { env, outcomes, warnings }
}
