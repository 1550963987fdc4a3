/**
 * The INI dialect of `.wslconfig` and `/etc/wsl.conf`, without dependencies: `[section]`
 * headers, `key = value` lines, `#` and `;` comments (whole lines, or after a blank), section
 * and key names compared case-insensitively, surrounding double quotes dropped.
 * @internal
 */

/** The value of `key` in `[section]` (the last one when repeated), or `undefined`. */
export const iniValue = (text: string, section: string, key: string): string | undefined => {
  const wantedSection = section.toLowerCase()
  const wantedKey = key.toLowerCase()
  let current = ""
  let found: string | undefined
  for (const raw of text.split(/\r*\n/)) {
    const line = raw.trim()
    if (line.length === 0 || line.startsWith("#") || line.startsWith(";")) continue
    const header = /^\[([^\]]+)\]/.exec(line)
    if (header !== null) {
      current = header[1]!.trim().toLowerCase()
      continue
    }
    const eq = line.indexOf("=")
    if (eq === -1 || current !== wantedSection || line.slice(0, eq).trim().toLowerCase() !== wantedKey) continue
    found = line.slice(eq + 1).replace(/\s[#;].*$/, "").trim().replace(/^"(.*)"$/, "$1")
  }
  return found
}
