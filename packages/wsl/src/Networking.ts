/**
 * Networking facts about a distro (`wsl.md` §5): the networking mode from `wslinfo`,
 * `.wslconfig` or an IP collision with the host, the distro's address (its primary interface,
 * never a docker/bridge/virtual one) and the host a Windows UI should connect to.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as Option from "effect/Option"
import * as Ini from "./internal/ini.ts"

/** The modes WSL knows (`wslinfo --networking-mode` words; `wsl1` for a WSL 1 distro). */
export type NetworkingMode = "nat" | "mirrored" | "bridged" | "consomme" | "none" | "wsl1"

/** Which source decided the mode. */
export type ModeSource = "wslinfo" | "wslconfig" | "ipCollision" | "default"

/** The networking mode of a distro and which source decided it. */
export interface NetworkingModeReport {
  readonly mode: NetworkingMode
  readonly source: ModeSource
  /** What the source said, in words. */
  readonly detail: string
}

const modes: Record<string, NetworkingMode> = {
  nat: "nat",
  mirrored: "mirrored",
  bridged: "bridged",
  consomme: "consomme",
  virtioproxy: "consomme", // the name before WSL 2.9.0
  none: "none",
  wsl1: "wsl1"
}

/** Reads a mode word, case-insensitively (`VirtioProxy` is the legacy name of `consomme`). */
export const parseMode = (word: string): Option.Option<NetworkingMode> => {
  const mode = modes[word.trim().replace(/^["']|["']$/g, "").toLowerCase()]
  return mode === undefined ? Option.none() : Option.some(mode)
}

/** Reads `wslinfo --networking-mode` output. */
export const parseWslinfo = (output: string): Option.Option<NetworkingMode> => parseMode(output.trim())

/**
 * Reads `networkingMode` from `.wslconfig` text: `[wsl2] networkingMode=…` (keys and values
 * case-insensitive), else `[experimental] networkingMode=…` or `[wsl2] experimental.networkingMode=…`.
 * `#` and `;` start comments.
 */
export const parseWslConfig = (text: string): Option.Option<NetworkingMode> => {
  const chosen = Ini.iniValue(text, "wsl2", "networkingMode") ?? Ini.iniValue(text, "experimental", "networkingMode") ??
    Ini.iniValue(text, "wsl2", "experimental.networkingMode")
  return chosen === undefined ? Option.none() : parseMode(chosen)
}

/** An IPv4 address of the distro and the interface it is on, when known. */
export interface DistroAddress {
  readonly address: string
  readonly interface: Option.Option<string>
}

/** Interface names that are bridges, containers or tunnels, never the distro's own address. */
export const virtualInterface =
  /^(docker|br-|veth|virbr|cni|flannel|vxlan|kube|lxcbr|lxdbr|podman|cali|weave|vmnet|vboxnet|lo$)/

const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

/** Addresses that are never reachable from Windows: loopback, link-local, DNS tunnelling, docker0's default. */
export const isSkippedAddress = (address: string, iface: Option.Option<string>): boolean => {
  const m = ipv4.exec(address)
  if (m === null) return true
  const [a, b] = [Number(m[1]), Number(m[2])]
  if ([m[1], m[2], m[3], m[4]].some((o) => Number(o) > 255)) return true
  if (a === 127 || a === 0 || (a === 169 && b === 254) || address === "10.255.255.254") return true
  if (Option.isSome(iface)) return virtualInterface.test(iface.value)
  return a === 172 && b === 17 // docker0's default network, when the interface is unknown
}

/**
 * Reads the output of the address probe: sections `route:` (`ip -o -4 route show default`),
 * `addr:` (`ip -o -4 addr show`) or `hostname:` (`hostname -I`), and returns the usable
 * addresses, the primary interface (the default route's device) first, virtual ones dropped.
 */
export const parseAddressProbe = (output: string): ReadonlyArray<DistroAddress> => {
  let section = ""
  const defaultDevs: Array<string> = []
  const found: Array<DistroAddress> = []
  for (const raw of output.split(/\r*\n/)) {
    const line = raw.trim()
    if (line === "route:" || line === "addr:" || line === "hostname:") {
      section = line.slice(0, -1)
      continue
    }
    if (line.length === 0) continue
    if (section === "route") {
      const dev = /\bdev\s+(\S+)/.exec(line)
      if (dev !== null) defaultDevs.push(dev[1]!)
    } else if (section === "addr") {
      // "2: eth0    inet 172.20.1.5/20 brd 172.20.15.255 scope global eth0\       valid_lft …"
      const m = /^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)/.exec(line)
      if (m !== null) found.push({ address: m[2]!, interface: Option.some(m[1]!.replace(/@.*$/, "")) })
    } else if (section === "hostname") {
      for (const token of line.split(/\s+/)) {
        if (ipv4.test(token)) found.push({ address: token, interface: Option.none() })
      }
    }
  }
  const usable = found.filter((a) => !isSkippedAddress(a.address, a.interface))
  const rank = (a: DistroAddress): number => {
    if (Option.isNone(a.interface)) return 2
    const i = defaultDevs.indexOf(a.interface.value)
    if (i !== -1) return -100 + i
    return a.interface.value === "eth0" ? 0 : 1
  }
  return usable.map((a, i) => ({ a, i })).toSorted((x, y) => rank(x.a) - rank(y.a) || x.i - y.i).map((x) => x.a)
}

/** The host a Windows UI should connect to, and why. */
export interface ReachableHost {
  /** `127.0.0.1`, or the distro's address. */
  readonly host: string
  readonly mode: NetworkingMode
  /** How the mode was found. */
  readonly modeSource: ModeSource
  readonly reason: string
}

/** Decides the reachable host from the mode and the distro address. */
export const reachableHost = (
  distro: string,
  mode: NetworkingModeReport,
  address: Option.Option<DistroAddress>
): ReachableHost => {
  const base = { mode: mode.mode, modeSource: mode.source }
  if (mode.mode === "mirrored") {
    return {
      ...base,
      host: "127.0.0.1",
      reason: `${distro} uses mirrored networking: Windows and Linux share 127.0.0.1`
    }
  }
  if (mode.mode === "wsl1") {
    return {
      ...base,
      host: "127.0.0.1",
      reason: `${distro} is a WSL 1 distribution: it shares the Windows network stack`
    }
  }
  if (Option.isSome(address)) {
    return {
      ...base,
      host: address.value.address,
      reason: `${distro} uses ${mode.mode} networking: connect to its address ${address.value.address}${
        Option.isSome(address.value.interface) ? ` on ${address.value.interface.value}` : ""
      } (bind the server to 0.0.0.0 or that address)`
    }
  }
  return {
    ...base,
    host: "127.0.0.1",
    reason: `${distro} has no usable address (${mode.mode} networking); relying on localhost forwarding`
  }
}
