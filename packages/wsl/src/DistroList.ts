/**
 * Reading what `wsl.exe` prints (`wsl.md` §2): the bytes (UTF-16LE without BOM by default,
 * UTF-8 under `WSL_UTF8=1`, a BOM and `\r\r\n` tolerated) and the formats of `--list --verbose`,
 * `--list --quiet`, `--status` and `--version`. Localised text is never matched: the `-l -v`
 * header is skipped by position (its words are literals anyway), `--status` and `--version` are
 * read by the shape of their values.
 *
 * The `format*` and {@link encode} functions produce the same bytes, for fakes and tests.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as Option from "effect/Option"
import type * as DistroName from "./DistroName.ts"
import { type DistroState, states } from "./internal/distroFormat.ts"
import * as Rule from "./internal/distroNameRule.ts"

export {
  /** Encodes text the way wsl.exe writes it: `\n` → `\r\n`, UTF-16LE without BOM, or UTF-8 when `utf8`. */
  encode,
  /** Formats names as `wsl.exe --list --quiet` does (default first). */
  formatQuiet,
  /** Formats rows exactly as `wsl.exe --list --verbose` does (default first, `\n` line ends). */
  formatVerbose,
  /** States a distribution passes through; commands should wait or fail fast while in them. */
  isTransient,
  /** All states WSL prints. */
  states
} from "./internal/distroFormat.ts"
export type {
  /** The states `wsl.exe --list --verbose` prints (literals, never localised). */
  DistroState
} from "./internal/distroFormat.ts"

/** One row of `wsl.exe --list --verbose`. */
export interface DistroInfo {
  readonly name: DistroName.DistroName
  /** The state; `"Unknown"` for a word this parser does not know (a newer WSL). */
  readonly state: DistroState | "Unknown"
  readonly version: 1 | 2
  /** Marked with `*`: the default distribution. */
  readonly isDefault: boolean
}

/** `wsl.exe --status`. */
export interface Status {
  readonly defaultDistro: Option.Option<DistroName.DistroName>
  readonly defaultVersion: Option.Option<1 | 2>
  /** Every non-empty line, for display (extra lines warn about missing components). */
  readonly lines: ReadonlyArray<string>
}

/** `wsl.exe --version` (Store WSL). */
export interface Version {
  readonly wsl: string
  readonly kernel: string
  readonly wslg: string
  readonly msrdc: string
  readonly direct3d: string
  readonly dxcore: string
  readonly windows: string
}

/** How to decode bytes; `"auto"` (the default) detects BOMs and UTF-16LE, else UTF-8. */
export type Encoding = "auto" | "utf-16le" | "utf-8"

const isName = (s: unknown): s is DistroName.DistroName => Rule.isValid(s)

const utf16 = new TextDecoder("utf-16le")
const utf8 = new TextDecoder("utf-8")

/**
 * Detects the encoding of wsl.exe output: a `FF FE` BOM or zero bytes at odd offsets (ASCII
 * text in UTF-16LE) mean UTF-16LE; an `EF BB BF` BOM or anything else means UTF-8.
 */
export const detectEncoding = (bytes: Uint8Array): "utf-16le" | "utf-8" => {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return "utf-16le"
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return "utf-8"
  const n = Math.min(bytes.length, 200)
  let oddZeros = 0
  let evenZeros = 0
  for (let i = 0; i < n; i++) {
    if (bytes[i] === 0) {
      if (i % 2 === 1) oddZeros++
      else evenZeros++
    }
  }
  return oddZeros > 0 && oddZeros >= Math.floor(n / 8) && oddZeros > evenZeros ? "utf-16le" : "utf-8"
}

/** Decodes wsl.exe output bytes to text, dropping a BOM and stray NULs. */
export const decode = (bytes: Uint8Array, encoding: Encoding = "auto"): string => {
  const enc = encoding === "auto" ? detectEncoding(bytes) : encoding
  const text = (enc === "utf-16le" ? utf16 : utf8).decode(bytes)
  const noBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  return noBom.includes("\0") ? noBom.replaceAll("\0", "") : noBom
}

/** Splits output into lines on `\r*\n` (old builds wrote `\r\r\n`), dropping a final empty line. */
export const lines = (text: string): Array<string> => {
  const out = text.split(/\r*\n/)
  if (out.length > 0 && out[out.length - 1] === "") out.pop()
  return out
}

const parseState = (word: string): DistroState | "Unknown" =>
  (states as ReadonlyArray<string>).includes(word) ? word as DistroState : "Unknown"

/**
 * Parses `wsl.exe --list --verbose` text. The header (localised on some systems) is skipped by
 * position; a leading `*` marks the default; every state is kept, including transient ones.
 * Lines that are not rows (a "no installed distributions" message, install hints) are skipped.
 */
export const parseVerbose = (text: string): ReadonlyArray<DistroInfo> => {
  const out: Array<DistroInfo> = []
  const all = lines(text)
  for (let i = 1; i < all.length; i++) {
    const line = all[i]!
    if (line.trim().length === 0) continue
    const isDefault = line.startsWith("*")
    const fields = (isDefault ? line.slice(1) : line).trim().split(/\s+/)
    if (fields.length !== 3) continue
    const [name, state, version] = fields as [string, string, string]
    if (version !== "1" && version !== "2") continue
    if (!isName(name)) continue
    out.push({ name, state: parseState(state), version: version === "1" ? 1 : 2, isDefault })
  }
  return out
}

/** Parses `wsl.exe --list --quiet`: one name per line (nothing at all when there are no distros). */
export const parseQuiet = (text: string): ReadonlyArray<DistroName.DistroName> =>
  lines(text).map((l) => l.trim()).filter(isName)

const valueOf = (line: string): string => {
  const i = Math.max(line.lastIndexOf(": "), line.lastIndexOf("："))
  return (i === -1 ? line.slice(line.lastIndexOf(":") + 1) : line.slice(i + (line[i] === "：" ? 1 : 2))).trim()
}

const hasValue = (line: string) => /[:：]/.test(line)

/**
 * Parses `wsl.exe --status` by rules, not positions (its labels are localised and its lines come
 * and go, windows-reality.md §4 and §7): the default version is the last `label: 1|2` line; the
 * default distribution is the nearest `label: <distro name>` line before it (absent when there
 * are no distributions: WSL then prints only the version line). Other lines (a missing WSL 1
 * component, virtualization not enabled, old builds' kernel and update lines) are kept in `lines`.
 */
export const parseStatus = (text: string): Status => {
  const all = lines(text).filter((l) => l.trim().length > 0)
  let versionAt = -1
  for (let i = all.length - 1; i >= 0 && versionAt === -1; i--) {
    if (hasValue(all[i]!) && /^[12]$/.test(valueOf(all[i]!))) versionAt = i
  }
  let defaultDistro: Option.Option<DistroName.DistroName> = Option.none()
  for (let i = versionAt - 1; i >= 0; i--) {
    const value = valueOf(all[i]!)
    if (hasValue(all[i]!) && isName(value)) {
      defaultDistro = Option.some(value)
      break
    }
  }
  const version = versionAt === -1 ? undefined : valueOf(all[versionAt]!)
  return {
    defaultDistro,
    defaultVersion: version === "1" ? Option.some(1) : version === "2" ? Option.some(2) : Option.none(),
    lines: all.map((l) => l.trim())
  }
}

/**
 * Parses `wsl.exe --version` (seven localised `label: value` lines, read by position). Inbox
 * wsl.exe does not know `--version` (it prints usage): that gives `None`.
 */
export const parseVersion = (text: string): Option.Option<Version> => {
  const all = lines(text).filter((l) => l.trim().length > 0)
  if (all.length < 7) return Option.none()
  const values = all.slice(0, 7).map(valueOf)
  if (!values.every((v) => /^\d+(\.\d+)+/.test(v))) return Option.none()
  const [wsl, kernel, wslg, msrdc, direct3d, dxcore, windows] = values as [
    string,
    string,
    string,
    string,
    string,
    string,
    string
  ]
  return Option.some({ wsl, kernel, wslg, msrdc, direct3d, dxcore, windows })
}
