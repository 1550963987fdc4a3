/**
 * The dependency-free part of `DistroList`: states and writing wsl.exe's bytes and formats
 * (used by the fakes). Kept free of `effect` so `fake-wsl` starts fast.
 * @internal
 */

/** The states `wsl.exe --list --verbose` prints (literals, never localised). */
export type DistroState = "Running" | "Stopped" | "Installing" | "Uninstalling" | "Converting" | "Exporting"

/** All states WSL prints. */
export const states: ReadonlyArray<DistroState> = [
  "Running",
  "Stopped",
  "Installing",
  "Uninstalling",
  "Converting",
  "Exporting"
]

/** States a distribution passes through; commands should wait or fail fast while in them. */
export const isTransient = (state: DistroState | "Unknown"): boolean =>
  state !== "Running" && state !== "Stopped" && state !== "Unknown"

/** A row of `--list --verbose`, as the formatters need it. */
export interface DistroRow {
  readonly name: string
  readonly state: DistroState | "Unknown"
  readonly version: 1 | 2
  readonly isDefault: boolean
}

/** Encodes text the way wsl.exe writes it: `\n` → `\r\n`, UTF-16LE without BOM, or UTF-8 when `utf8`. */
export const encode = (text: string, options?: { readonly utf8?: boolean }): Uint8Array => {
  const crlf = text.replace(/\r?\n/g, "\r\n")
  if (options?.utf8 === true) return new TextEncoder().encode(crlf)
  const out = new Uint8Array(crlf.length * 2)
  for (let i = 0; i < crlf.length; i++) {
    const c = crlf.charCodeAt(i)
    out[2 * i] = c & 0xff
    out[2 * i + 1] = c >> 8
  }
  return out
}

/** Formats rows exactly as `wsl.exe --list --verbose` does (default first, `\n` line ends). */
export const formatVerbose = (distros: ReadonlyArray<DistroRow>): string => {
  const width = Math.max(4, ...distros.map((d) => d.name.length)) + 4
  const row = (mark: string, name: string, state: string, version: string) =>
    `${mark} ${name.padEnd(width)}${state.padEnd(16)}${version}\n`
  const sorted = [...distros.filter((d) => d.isDefault), ...distros.filter((d) => !d.isDefault)]
  return row(" ", "NAME", "STATE", "VERSION") +
    sorted.map((d) => row(d.isDefault ? "*" : " ", d.name, d.state, String(d.version))).join("")
}

/** Formats names as `wsl.exe --list --quiet` does (default first). */
export const formatQuiet = (distros: ReadonlyArray<DistroRow>): string =>
  [...distros.filter((d) => d.isDefault), ...distros.filter((d) => !d.isDefault)].map((d) => `${d.name}\n`).join("")
