/**
 * The probe scripts the `Wsl` service sends on stdin (never as arguments). Each starts with a
 * marker line so fakes can recognise and answer it from their model.
 *
 * Pure module: no Node built-ins.
 * @module
 */

/** Marker first lines of the probe scripts. */
export const probeMarkers = {
  address: "# isthmus:distro-ip",
  home: "# isthmus:home",
  preflight: "# isthmus:preflight"
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

/** Prints the current user's home from `getent passwd`, else `$HOME`. */
export const homeScript: string = [
  probeMarkers.home,
  "h=$(getent passwd \"$(id -un)\" 2>/dev/null | cut -d: -f6)",
  "[ -n \"$h\" ] || h=$HOME",
  "printf '%s\\n' \"$h\"",
  ""
].join("\n")
