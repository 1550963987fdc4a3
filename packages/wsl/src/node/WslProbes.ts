/**
 * The probe scripts of the `Wsl` service. The address and account probes go on stdin (never as
 * arguments) and start with a marker line, so fakes answer them from their model's data; the
 * environment and lookup probes are plain commands the fakes' shells run.
 *
 * Pure module: no Node built-ins.
 * @module
 */

/** Marker first lines of the probe scripts. */
export const probeMarkers = {
  address: "# isthmus:distro-ip",
  account: "# isthmus:account"
} as const

/** Prints the default route and the IPv4 addresses (`ip`), or `hostname -I` without `ip`. */
export const addressScript: string = [
  probeMarkers.address,
  "if command -v ip >/dev/null 2>&1; then",
  "  echo route:; ip -o -4 route show default 2>/dev/null",
  "  echo addr:; ip -o -4 addr show 2>/dev/null",
  "else",
  "  echo hostname:; hostname -I 2>/dev/null",
  "fi",
  ""
].join("\n")

/**
 * Prints the current user's home and login shell from `getent passwd` (`home:` and `shell:`
 * lines), else `$HOME` and `$SHELL`, and where drive C: is mounted (`root:`, from
 * `wslpath -u 'C:\'`; empty when it is not).
 */
export const accountScript: string = [
  probeMarkers.account,
  "e=$(getent passwd \"$(id -un)\" 2>/dev/null)",
  "h=$(printf '%s' \"$e\" | cut -d: -f6)",
  "s=$(printf '%s' \"$e\" | cut -d: -f7)",
  "[ -n \"$h\" ] || h=$HOME",
  "[ -n \"$s\" ] || s=${SHELL:-/bin/sh}",
  "printf 'home:%s\\nshell:%s\\n' \"$h\" \"$s\"",
  "printf 'root:%s\\n' \"$(wslpath -u 'C:\\' 2>/dev/null)\"",
  ""
].join("\n")

/**
 * The interactive-shell probe (windows-reality.md §5, after VS Code's `shellEnv.ts`): `PATH` as
 * the user's terminal sees it, between two `marker` lines so whatever the startup files print is
 * ignored. Plain commands every shell runs (bash, zsh, fish, csh): `printenv` prints the
 * environment's `PATH`, not a shell's list.
 */
export const environmentScript = (marker: string): string => `echo ${marker}; printenv PATH; echo ${marker}`

/**
 * Looks `names` up on `PATH` as given in `ISTHMUS_PATH` (the interactive shell's), one
 * `marker name` line then `command -v name` each. Names must be plain command names.
 */
export const lookupScript = (marker: string, names: ReadonlyArray<string>): string =>
  [
    "PATH=\"$ISTHMUS_PATH\"",
    ...names.flatMap((name) => [`echo ${marker} ${name}`, `command -v ${name}`]),
    `echo ${marker}`,
    ""
  ].join("\n")
