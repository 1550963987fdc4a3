/**
 * The path rules of `wslpath` without dependencies: `WslPath` wraps these in `Result` and
 * `WslPathError`. Kept free of `effect` so `fake-wsl` and `Wslenv` start fast.
 * @internal
 */
import * as Rule from "./distroNameRule.ts"

/** A mount whose Windows source is visible in Linux at `linux` (a drvfs, 9p or virtiofs mount). */
export interface Mount {
  /** The Windows source, e.g. `C:\lxss_fat` or `\\localhost\C$`. */
  readonly windows: string
  /** The Linux mount point, e.g. `/mnt/c`. */
  readonly linux: string
}

/** What a conversion needs to know about the distro it runs in. */
export interface Context {
  /** `WSL_DISTRO_NAME`. Without it, paths outside the mounts cannot be converted (wslpath fails too). */
  readonly distro?: string | undefined
  /** `[automount] root` from `/etc/wsl.conf`; default `/mnt/`. A trailing `/` is added if missing. */
  readonly automountRoot?: string | undefined
  /**
   * Drive letters mounted by automount (default: every letter A–Z). `[]` models automount
   * being disabled; then only {@link Context.mounts} convert.
   */
  readonly drives?: ReadonlyArray<string> | undefined
  /** Extra drvfs/9p/virtiofs mounts. One at the same mount point as an automounted drive hides it. */
  readonly mounts?: ReadonlyArray<Mount> | undefined
  /** The Linux working directory, for relative input. */
  readonly cwd?: string | undefined
}

/** Options of {@link toLinux}. */
export interface ToLinuxOptions {
  /** `-a`: return an absolute path for relative input (needs `context.cwd`). */
  readonly absolute?: boolean | undefined
}

/** Options of {@link toWindows}. */
export interface ToWindowsOptions {
  /** `-m`: use `/` as the separator. */
  readonly mixed?: boolean | undefined
  /** `-a`: return an absolute path for relative input (needs `context.cwd`). */
  readonly absolute?: boolean | undefined
}

/** Why a conversion failed. */
export type PathFailureReason =
  | "Empty"
  | "ClimbsAboveRoot"
  | "NotMounted"
  | "OtherDistro"
  | "ExtendedUnc"
  | "NoDistroName"
  | "InvalidDistroName"
  | "NeedsCwd"
  | "InvalidCwd"
  | "EmptyResult"

/** A failed conversion (a success is the converted string). */
export interface PathFailure {
  readonly input: string
  readonly direction: "toLinux" | "toWindows"
  readonly reason: PathFailureReason
  readonly detail: string
}

/** The converted path, or why not. */
export type PathOutcome = string | PathFailure

/** A WSL UNC path. */
export interface UncParts {
  readonly distro: string
  readonly linuxPath: string
  readonly prefix: "wsl.localhost" | "wsl$"
}

// ---------------------------------------------------------------------------------------------
// Escaping of NTFS-illegal characters (escape.cpp): 0x00–0x1F and " * : < > ? \ | ↔ U+F000+byte.

// oxlint-disable-next-line no-control-regex
const illegal = /[\x00-\x1f"*:<>?\\|]/
// oxlint-disable-next-line no-control-regex
const illegalGlobal = /[\x00-\x1f"*:<>?\\|]/g
const escapedGlobal = /[\uf000-\uf01f\uf022\uf02a\uf03a\uf03c\uf03e\uf03f\uf05c\uf07c]/g

/** Escapes NTFS-illegal characters of a Linux name to U+F000+byte, as `wslpath -w` does. */
export const escapeName = (name: string): string =>
  illegal.test(name) ? name.replace(illegalGlobal, (c) => String.fromCharCode(0xf000 + c.charCodeAt(0))) : name

/** Reverses {@link escapeName}. */
export const unescapeName = (name: string): string =>
  name.replace(escapedGlobal, (c) => String.fromCharCode(c.charCodeAt(0) - 0xf000))

// ---------------------------------------------------------------------------------------------
// Compiled context

interface CompiledMount {
  readonly source: string // Windows, `\` separators, no trailing `\` (what toWindows prints)
  readonly key: string // the source as toLinux matches it: slashed, lower-case
  readonly point: string // Linux, no trailing `/` unless "/"
}

interface Compiled {
  readonly distro: string | undefined
  /** Why `distro` is not a valid distribution name (it then names no `\\wsl.localhost` path). */
  readonly distroInvalid: string | undefined
  readonly root: string // with trailing "/"
  readonly drives: ReadonlySet<string> | undefined // lower-case letters; undefined = all
  readonly mounts: ReadonlyArray<CompiledMount>
  readonly cwd: string | undefined
  /** Mount point per drive letter a–z (undefined when not automounted). */
  readonly drivePoints: ReadonlyArray<string | undefined>
}

const cache = new WeakMap<Context, Compiled>()

const trimTrailing = (s: string, sep: string): string => {
  let end = s.length
  while (end > 1 && s[end - 1] === sep) end--
  return s.slice(0, end)
}

const compile = (context: Context): Compiled => {
  const hit = cache.get(context)
  if (hit !== undefined) return hit
  const rawRoot = context.automountRoot ?? "/mnt/"
  const root = rawRoot.endsWith("/") ? rawRoot : `${rawRoot}/`
  const mounts = (context.mounts ?? []).map((m): CompiledMount => {
    const source = trimTrailing(slashed(m.windows), "/")
    return { source: source.replaceAll("/", "\\"), key: source.toLowerCase(), point: trimTrailing(m.linux, "/") }
  })
  const drives = context.drives === undefined ? undefined : new Set(context.drives.map((d) => d.toLowerCase()))
  const drivePoints = Array.from({ length: 26 }, (_, i) => {
    const letter = String.fromCharCode(97 + i)
    return drives === undefined || drives.has(letter) ? root + letter : undefined
  })
  const compiled: Compiled = {
    drivePoints,
    distro: context.distro,
    distroInvalid: context.distro === undefined ? undefined : Rule.invalidReason(context.distro),
    root,
    drives,
    mounts,
    cwd: context.cwd
  }
  cache.set(context, compiled)
  return compiled
}

// ---------------------------------------------------------------------------------------------
// Windows side. After step 1 every Windows path is handled in "slashed" form: `/` separators,
// so a matched tail is already the Linux tail (`C:\Users\ada` is `C:/Users/ada`).

const isSeparator = (c: number): boolean => c === 92 || c === 47 // `\` or `/`

const isDotComponent = (path: string, start: number, length: number): boolean =>
  (length === 1 || length === 2) && path.charCodeAt(start) === 46 && path.charCodeAt(start + length - 1) === 46

/** A Windows path after step 1, and whether it has `.`/`..` components (work for step 4). */
interface Slashed {
  readonly path: string
  readonly dots: boolean
}

/**
 * Step 1, in one pass: every `\` and `/` becomes `/` and repeated separators collapse (a
 * leading pair is kept: `\\server` is `//server`).
 */
const slash = (path: string): Slashed => {
  const n = path.length
  let i = 0
  while (i < n && isSeparator(path.charCodeAt(i))) i++
  let out = i === 0 ? "" : i === 1 ? "/" : "//"
  let dots = false
  while (i < n) {
    let end = i + 1
    while (end < n && !isSeparator(path.charCodeAt(end))) end++
    dots ||= isDotComponent(path, i, end - i)
    out += path.slice(i, end)
    if (end === n) break
    out += "/"
    i = end + 1
    while (i < n && isSeparator(path.charCodeAt(i))) i++
  }
  return { path: out, dots }
}

/** Step 1 (see {@link slash}). */
const slashed = (path: string): string => slash(path).path

/** A slashed path back in Windows form, for messages. */
const backslashed = (path: string): string => path.replaceAll("/", "\\")

/** `lowerPrefix` (already lower-case) is a case-insensitive prefix of `s`. */
const startsWithIgnoreCase = (s: string, lowerPrefix: string): boolean => {
  if (s.length < lowerPrefix.length) return false
  for (let i = 0; i < lowerPrefix.length; i++) {
    const a = s.charCodeAt(i)
    const b = lowerPrefix.charCodeAt(i)
    if (a === b) continue
    if (a >= 65 && a <= 90 ? (a | 32) !== b : a < 128 || s[i]!.toLowerCase() !== lowerPrefix[i]) return false
  }
  return true
}

/** Step 2: absolute when ≥ 3 characters and starting with `X:` or two separators. */
export const isAbsoluteWindows = (path: string): boolean => {
  if (path.length < 3) return false
  const c0 = path.charCodeAt(0)
  const c1 = path.charCodeAt(1)
  if (c1 === 58 && ((c0 >= 65 && c0 <= 90) || (c0 >= 97 && c0 <= 122))) return true
  return isSeparator(c0) && isSeparator(c1)
}

interface Folded {
  readonly root: string
  readonly parts: ReadonlyArray<string>
  readonly trailing: boolean
}

/** Step 4: folds `.` and `..` in `rest` (slashed); `undefined` when `..` climbs above `root`. */
const fold = (root: string, rest: string, trailing: boolean): Folded | undefined => {
  const parts: Array<string> = []
  for (let start = 0; start < rest.length;) {
    const sep = rest.indexOf("/", start)
    const end = sep === -1 ? rest.length : sep
    const length = end - start
    if (length > 0 && !(length === 1 && rest.charCodeAt(start) === 46)) {
      if (length === 2 && rest.charCodeAt(start) === 46 && rest.charCodeAt(start + 1) === 46) {
        if (parts.pop() === undefined) return undefined
      } else parts.push(rest.slice(start, end))
    }
    start = end + 1
  }
  return { root, parts, trailing }
}

const joinFolded = (f: Folded): string =>
  f.parts.length === 0
    ? f.trailing || f.root.length === 2 ? `${f.root}/` : f.root
    : `${f.root}/${f.parts.join("/")}${f.trailing ? "/" : ""}`

const err = (
  input: string,
  direction: "toLinux" | "toWindows",
  reason: PathFailureReason,
  detail: string
): PathFailure => ({ input, direction, reason, detail })

/** Why this distro cannot name a `\\wsl.localhost` path (unknown or invalid), else `undefined`. */
const distroProblem = (input: string, direction: "toLinux" | "toWindows", c: Compiled): PathFailure | undefined =>
  c.distro === undefined
    ? err(input, direction, "NoDistroName", "WSL_DISTRO_NAME is unknown (it is lost under sudo); set context.distro")
    : c.distroInvalid === undefined
    ? undefined
    : err(
      input,
      direction,
      "InvalidDistroName",
      `context.distro ${JSON.stringify(c.distro)} is not a distribution name: ${c.distroInvalid}`
    )

/** Splits an absolute slashed Windows path into its root (`X:` or `//server/share`) and the rest. */
const splitRoot = (path: string): { readonly root: string; readonly rest: string } => {
  if (path[1] === ":") return { root: path.slice(0, 2), rest: path.slice(2) }
  const serverEnd = path.indexOf("/", 2)
  if (serverEnd === -1) return { root: path, rest: "" }
  const shareEnd = path.indexOf("/", serverEnd + 1)
  if (shareEnd === -1) return { root: path, rest: "" }
  return { root: path.slice(0, shareEnd), rest: path.slice(shareEnd + 1) }
}

/** Steps 4–6 for an absolute path after step 1. */
const absoluteToLinux = (input: string, normalized: Slashed, c: Compiled): PathOutcome => {
  let path = normalized.path
  if (path.startsWith("//?/")) {
    path = path.slice(4)
    if (/^unc(\/|$)/i.test(path)) {
      return err(input, "toLinux", "ExtendedUnc", "\\\\?\\UNC\\ paths are not translated; use the mounted path instead")
    }
    if (!isAbsoluteWindows(path)) {
      return err(input, "toLinux", "NotMounted", "the path after \\\\?\\ is not an absolute Windows path")
    }
  }
  const isDrive = path.charCodeAt(1) === 58
  if (isDrive && path.length > 2 && path.charCodeAt(2) !== 47) {
    const root = backslashed(path.slice(0, 2))
    return err(input, "toLinux", "NotMounted", `${root} without a separator is drive-relative; write ${root}\\…`)
  }
  let full = path
  if (normalized.dots) {
    const { rest, root } = splitRoot(path)
    // wslpath.cpp CollapsePath keeps the separator before a removed last segment:
    // `C:\a\b\..` is `C:\a\`, so `/mnt/c/a/`.
    const folded = fold(root, rest, path.length > 3 && (path.endsWith("/") || /\/\.\.?$/.test(path)))
    if (folded === undefined) {
      return err(input, "toLinux", "ClimbsAboveRoot", `".." climbs above ${backslashed(root)}\\`)
    }
    full = joinFolded(folded)
  }
  // Step 5: the longest mount source that is a prefix ending at a separator.
  let bestLength = -1
  let bestPoint = ""
  if (isDrive) {
    const point = c.drivePoints[(full.charCodeAt(0) | 32) - 97]
    if (point !== undefined) {
      bestLength = 2
      bestPoint = point
    }
  }
  for (const m of c.mounts) {
    if (m.key.length < bestLength) continue
    if (startsWithIgnoreCase(full, m.key) && (full.length === m.key.length || full.charCodeAt(m.key.length) === 47)) {
      bestLength = m.key.length
      bestPoint = m.point
    }
  }
  if (bestLength !== -1) {
    // The mount point and the rest as they are (UtilWinPathTranslate): a mount at `/` gives `//x`.
    return bestPoint + full.slice(bestLength)
  }
  // Step 6: \\wsl.localhost\<this distro> or \\wsl$\<this distro>
  const unc = matchWslUnc(full)
  if (unc !== undefined) {
    const problem = distroProblem(input, "toLinux", c)
    if (problem !== undefined) return problem
    if (!Rule.equals(unc.distro, c.distro!)) {
      return err(
        input,
        "toLinux",
        "OtherDistro",
        `the path belongs to distribution ${JSON.stringify(unc.distro)}, not ${
          JSON.stringify(c.distro)
        }; convert it in that distribution`
      )
    }
    return unc.linuxPath
  }
  if (isDrive) {
    return err(
      input,
      "toLinux",
      "NotMounted",
      `drive ${
        full[0]!.toUpperCase()
      }: is not mounted in the distribution (mount it with drvfs or add it to context.drives)`
    )
  }
  return err(input, "toLinux", "NotMounted", "this UNC path is not mounted in the distribution and is not a WSL path")
}

const hasEscaped = /[\uf000-\uf01f\uf022\uf02a\uf03a\uf03c\uf03e\uf03f\uf05c\uf07c]/

/** Reads `//wsl.localhost/<distro>/…` or `//wsl$/<distro>/…` (slashed, folded). */
const matchWslUnc = (path: string): UncParts | undefined => {
  if (!path.startsWith("//")) return undefined
  const serverEnd = path.indexOf("/", 2)
  if (serverEnd === -1) return undefined
  const server = path.slice(2, serverEnd).toLowerCase()
  if (server !== "wsl.localhost" && server !== "wsl$") return undefined
  const distroEnd = path.indexOf("/", serverEnd + 1)
  const distro = distroEnd === -1 ? path.slice(serverEnd + 1) : path.slice(serverEnd + 1, distroEnd)
  if (distro.length === 0) return undefined
  const tail = distroEnd === -1 ? "" : path.slice(distroEnd + 1)
  const linuxPath = `/${hasEscaped.test(tail) ? unescapeName(tail) : tail}`
  return { distro, linuxPath, prefix: server === "wsl$" ? "wsl$" : "wsl.localhost" }
}

/**
 * A relative Windows path, as `wslpath.cpp` does it (`AbsoluteWindowsPath`, then
 * `DosToCanonicalPath`, then the translation and `WslPathTranslate`'s relative step): joined to
 * the Windows form of the cwd (a path rooted at `\` to the cwd's drive), translated, and made
 * relative again only when the result lies under the cwd. A result equal to the cwd itself prints
 * nothing, which wslpath treats as a failure; one with a trailing separator is `.`.
 */
const toLinuxRelative = (
  input: string,
  normalized: string,
  c: Compiled,
  options: ToLinuxOptions | undefined
): PathOutcome => {
  if (c.cwd === undefined) {
    // Without a cwd: the answer for any working directory on a drive below the root.
    if (options?.absolute === true) {
      return err(input, "toLinux", "NeedsCwd", "a relative path needs context.cwd to be made absolute")
    }
    if (normalized.startsWith("/")) {
      return err(
        input,
        "toLinux",
        "NeedsCwd",
        `${backslashed(normalized)} is relative to the cwd's drive; pass context.cwd`
      )
    }
    const folded = fold(
      "",
      normalized,
      normalized.length > 1 && (normalized.endsWith("/") || /(^|\/)\.\.?$/.test(normalized))
    )
    if (folded === undefined) {
      return err(input, "toLinux", "NeedsCwd", "\"..\" leaves the working directory; pass context.cwd")
    }
    if (folded.parts.length === 0) return "."
    return folded.parts.join("/") + (folded.trailing ? "/" : "")
  }
  const cwd = trimTrailing(c.cwd, "/")
  const cwdWindows = toWindowsCompiled(cwd, cwd, c, undefined)
  if (typeof cwdWindows !== "string") {
    return err(
      input,
      "toLinux",
      "InvalidCwd",
      `the working directory ${cwd} cannot be converted: ${cwdWindows.detail}`
    )
  }
  let joined: string
  if (normalized.startsWith("/")) {
    // Rooted: relative to the drive of the cwd (AbsoluteWindowsPath).
    if (!/^[A-Za-z]:/.test(cwdWindows)) {
      return err(
        input,
        "toLinux",
        "InvalidCwd",
        `${backslashed(normalized)} is relative to the drive of the working directory, and ${cwd} is not on a drive`
      )
    }
    joined = `${cwdWindows.slice(0, 2)}${normalized}`
  } else joined = `${cwdWindows}/${normalized}`
  const absolute = absoluteToLinux(input, slash(joined), c)
  if (typeof absolute !== "string" || options?.absolute === true) return absolute
  // The relative step compares with the Linux cwd as getcwd() prints it (a raw prefix, then a
  // separator): under `/` nothing is made relative.
  if (!absolute.startsWith(cwd)) return absolute
  const next = absolute[cwd.length]
  if (next === undefined) {
    return err(
      input,
      "toLinux",
      "EmptyResult",
      `the path is the working directory ${cwd} itself: wslpath prints nothing and fails (use "." or absolute)`
    )
  }
  if (next !== "/") return absolute
  return absolute.length === cwd.length + 1 ? "." : absolute.slice(cwd.length + 1)
}

/** `wslpath -u` (`-a` with `absolute`); documented on `WslPath.toLinux`. */
export const toLinux = (
  windowsPath: string,
  context: Context,
  options?: ToLinuxOptions
): PathOutcome => {
  if (windowsPath.length === 0) return err(windowsPath, "toLinux", "Empty", "the path is empty")
  const c = compile(context)
  const normalized = slash(windowsPath)
  return isAbsoluteWindows(normalized.path)
    ? absoluteToLinux(windowsPath, normalized, c)
    : toLinuxRelative(windowsPath, normalized.path, c, options)
}

// ---------------------------------------------------------------------------------------------
// Linux side

/** Whether `wslpath -w` escapes this character (NTFS-illegal: 0x00–0x1F and `" * : < > ? \\ |`). */
const isNtfsIllegal = (c: number): boolean =>
  c < 0x20 || c === 34 || c === 42 || c === 58 || c === 60 || c === 62 || c === 63 || c === 92 || c === 124

/** A Linux path (or tail) in Windows form, in one pass: `/` becomes `\\`, NTFS-illegal characters are escaped. */
const escapeLinuxRest = (rest: string): string => {
  let out = ""
  let from = 0
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i)
    if (c === 47) out += `${rest.slice(from, i)}\\`
    else if (isNtfsIllegal(c)) out += rest.slice(from, i) + String.fromCharCode(0xf000 + c)
    else continue
    from = i + 1
  }
  return from === 0 ? rest : out + rest.slice(from)
}

const toWindowsCompiled = (
  input: string,
  path: string,
  c: Compiled,
  options: ToWindowsOptions | undefined
): PathOutcome => {
  let best: { source: string; point: string } | undefined
  const root = c.root
  if (path.startsWith(root) && path.length > root.length) {
    const letter = path.charCodeAt(root.length)
    if (
      letter >= 97 && letter <= 122 && (path.length === root.length + 1 || path[root.length + 1] === "/") &&
      (c.drives === undefined || c.drives.has(path[root.length]!))
    ) best = { source: `${path[root.length]!.toUpperCase()}:`, point: path.slice(0, root.length + 1) }
  }
  for (const m of c.mounts) {
    if (best !== undefined && m.point.length < best.point.length) continue
    // UtilIsPathPrefix: the point, then the end or a `/`; so a mount at `/` matches `/` only.
    if (path === m.point || (path.startsWith(m.point) && path[m.point.length] === "/")) {
      best = { source: m.source, point: m.point }
    }
  }
  let out: string
  if (best !== undefined) {
    out = best.source + escapeLinuxRest(path.slice(best.point.length))
    if (out.length === 2 && out[1] === ":") out += "\\"
  } else {
    const problem = distroProblem(input, "toWindows", c)
    if (problem !== undefined) return problem
    out = `\\\\wsl.localhost\\${c.distro}${escapeLinuxRest(path)}`
  }
  return (options?.mixed === true ? out.replaceAll("\\", "/") : out)
}

/**
 * `CollapsePath` of `wslpath.cpp` on a Linux path: `.` and empty segments go, `..` removes the
 * segment before it; the separator before a removed segment stays (`/a/b/..` is `/a/`).
 * `undefined` when `..` climbs above the start.
 */
export const collapse = (path: string, sep: "/" | "\\"): string | undefined => {
  let p = path
  let last = p.length
  let remove = 0
  let remaining = p.length
  while (remaining > 0) {
    const at = p.lastIndexOf(sep, remaining - 1)
    if (at === -1) break
    const start = at + 1
    const length = remaining - start
    remaining = at
    if (length === 2 && p[start] === "." && p[start + 1] === ".") remove++
    else {
      if (remove === 0 && (length === 0 || (length === 1 && p[start] === "."))) remove++
      if (remove > 0) {
        p = p.slice(0, start) + p.slice(last)
        remove--
      }
      last = start
    }
  }
  return remove === 0 ? p : undefined
}

const needsCollapse = /\/\/|(^|\/)\.\.?(\/|$)/

/**
 * `wslpath -w` (`-m` with `mixed`, `-a` with `absolute`), as `wslpath.cpp` does it for a path that
 * does not exist (no `realpath`): `AbsolutePath` (relative input joined to the cwd) and
 * `CollapsePath`, the translation, then relative again when it lies under the Windows form of the
 * cwd. Documented on `WslPath.toWindows`.
 */
export const toWindows = (
  linuxPath: string,
  context: Context,
  options?: ToWindowsOptions
): PathOutcome => {
  if (linuxPath.length === 0) return err(linuxPath, "toWindows", "Empty", "the path is empty")
  const c = compile(context)
  const relative = linuxPath[0] !== "/"
  if (!relative) {
    const path = needsCollapse.test(linuxPath) ? collapse(linuxPath, "/") : linuxPath
    if (path === undefined) return err(linuxPath, "toWindows", "ClimbsAboveRoot", "\"..\" climbs above /")
    return toWindowsCompiled(linuxPath, path, c, options)
  }
  if (c.cwd === undefined) {
    if (options?.absolute === true) {
      return err(linuxPath, "toWindows", "NeedsCwd", "a relative path needs context.cwd to be made absolute")
    }
    // Without a cwd: the answer for any working directory whose relative part stays below it.
    const folded = needsCollapse.test(linuxPath) ? collapse(`/${linuxPath}`, "/") : `/${linuxPath}`
    if (folded === undefined) {
      return err(linuxPath, "toWindows", "NeedsCwd", "\"..\" leaves the working directory; pass context.cwd")
    }
    const rel = folded.length <= 1 ? "." : escapeLinuxRest(folded.slice(1))
    return options?.mixed === true ? rel.replaceAll("\\", "/") : rel
  }
  if (!c.cwd.startsWith("/")) {
    return err(linuxPath, "toWindows", "InvalidCwd", `context.cwd ${JSON.stringify(c.cwd)} is not absolute`)
  }
  const cwd = trimTrailing(c.cwd, "/")
  const path = collapse(`${cwd === "/" ? "" : cwd}/${linuxPath}`, "/")
  if (path === undefined) return err(linuxPath, "toWindows", "ClimbsAboveRoot", "\"..\" climbs above /")
  const translated = toWindowsCompiled(linuxPath, path, c, undefined)
  if (typeof translated !== "string" || options?.absolute === true) {
    return typeof translated === "string" && options?.mixed === true ? translated.replaceAll("\\", "/") : translated
  }
  // The relative step: against the cwd's Windows form, when it has one.
  const base = toWindowsCompiled(cwd, cwd, c, undefined)
  let out = translated
  if (typeof base === "string" && translated.startsWith(base)) {
    const next = translated[base.length]
    if (next === undefined) {
      return err(
        linuxPath,
        "toWindows",
        "EmptyResult",
        `the path is the working directory ${cwd} itself: wslpath prints nothing and fails (use "." or absolute)`
      )
    }
    if (next === "\\" || next === "/") {
      out = translated.length === base.length + 1 ? "." : translated.slice(base.length + 1)
    }
  }
  return options?.mixed === true ? out.replaceAll("\\", "/") : out
}

/** Reads a WSL UNC path; documented on `WslPath.parseUnc`. */
export const parseUnc = (path: string): UncParts | undefined => {
  let normalized = slashed(path)
  if (normalized.startsWith("//?/")) normalized = normalized.slice(4)
  if (!normalized.startsWith("//") || normalized.length < 3) return undefined
  const { rest, root } = splitRoot(normalized)
  const folded = fold(root, rest, rest.length > 0 && normalized.endsWith("/"))
  if (folded === undefined) return undefined
  const unc = matchWslUnc(joinFolded(folded))
  return unc === undefined || !Rule.isValid(unc.distro) ? undefined : unc
}

/** `\\wsl.localhost\<distro>` + `linuxPath` (escaped), the form `wslpath -w` prints. */
export const toUnc = (distro: string, linuxPath: string): string =>
  `\\\\wsl.localhost\\${distro}${escapeLinuxRest(linuxPath.startsWith("/") ? linuxPath : `/${linuxPath}`)}`
