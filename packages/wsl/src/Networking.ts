/**
 * Networking facts about a distro (`wsl.md` §5): the networking mode from `wslinfo`,
 * `.wslconfig` or an IP collision with the host, the distro's address (its primary interface,
 * never a docker/bridge/virtual one) and the host a Windows UI should connect to.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Ini from "./internal/ini.ts"
import { WslUnreachableError } from "./WslError.ts"

/** The modes WSL knows (`wslinfo --networking-mode` words; `wsl1` for a WSL 1 distro). */
export type NetworkingMode = "nat" | "mirrored" | "bridged" | "consomme" | "none" | "wsl1"

/**
 * Which source decided the mode. Only `wslinfo` reports the mode in use (it asks the distro's
 * init); `.wslconfig` is what was asked for, which WSL may have silently replaced (mirrored falls
 * back to NAT on Windows 10 and early Windows 11, `none` when networking fails to start;
 * windows-reality.md §6.5); `inbox` is an inbox `wsl.exe`, which predates mirrored networking.
 */
export type ModeSource = "wslinfo" | "distroVersion" | "inbox" | "wslconfig" | "ipCollision" | "default"

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

/**
 * `[wsl2] localhostForwarding` from `.wslconfig` text (`true` unless it says `false`; WSL's
 * default). It only matters in NAT, bridged and consomme modes (windows-reality.md §6).
 */
export const parseLocalhostForwarding = (text: string | undefined): boolean =>
  text === undefined || Ini.iniValue(text, "wsl2", "localhostForwarding")?.toLowerCase() !== "false"

/**
 * `[experimental] hostAddressLoopback` from `.wslconfig` text (default `false`): in mirrored mode,
 * whether Windows reaches a Linux server through the host's own LAN address.
 */
export const parseHostAddressLoopback = (text: string | undefined): boolean =>
  text !== undefined && Ini.iniValue(text, "experimental", "hostAddressLoopback")?.toLowerCase() === "true"

/** What decides whether Windows can reach a server inside a distro (`Wsl.networkFacts` gathers it). */
export interface NetworkFacts {
  /** The distribution (for messages). */
  readonly distro: string
  /** The networking mode and how it was found. */
  readonly mode: NetworkingModeReport
  /** `[wsl2] localhostForwarding` (default `true`). */
  readonly localhostForwarding: boolean
  /** `[experimental] hostAddressLoopback` (default `false`). */
  readonly hostAddressLoopback: boolean
  /** The distro's own IPv4 address (its primary interface), when known. */
  readonly distroAddress: Option.Option<DistroAddress>
}

/**
 * How Windows gets to the server:
 * - `localhostRelay`: WSL's localhost forwarding (NAT, bridged, consomme): `wslrelay.exe` listens
 *   on Windows loopback up to about one second after the Linux `listen()` (it polls the distro's
 *   listeners once a second), so retry `ECONNREFUSED` for a moment after the server says it is
 *   ready;
 * - `sharedLoopback`: the same loopback on both sides (mirrored mode, WSL 1);
 * - `distroAddress`: the distro's own address, straight through the virtual switch;
 * - `hostAddress`: the address the server bound, shared with Windows (mirrored with
 *   `hostAddressLoopback`, WSL 1).
 */
export type Route = "localhostRelay" | "sharedLoopback" | "distroAddress" | "hostAddress"

/** One address Windows can connect to. */
export interface Endpoint {
  /** A literal address (`127.0.0.1`, `::1`, `172.20.1.5`), never `localhost`. */
  readonly host: string
  /** The host as written in a URL (`[::1]` for IPv6). */
  readonly urlHost: string
  readonly route: Route
  /** Reachable only some time after the server listens (the relay polls once a second). */
  readonly delayed: boolean
}

/** Where Windows should connect for a server bound to a given address, and why. */
export interface ReachableHost extends Endpoint {
  /** The bind address this answers for. */
  readonly bind: string
  readonly mode: NetworkingMode
  /** How the mode was found. */
  readonly modeSource: ModeSource
  /** Other addresses that also work, best first. */
  readonly alternatives: ReadonlyArray<Endpoint>
  /** Why, in words. */
  readonly reason: string
}

type BindKind = "loopback4" | "wildcard4" | "wildcard6" | "loopback6" | "specific4" | "specific6"

const classifyBind = (bind: string): BindKind | undefined => {
  if (bind === "127.0.0.1") return "loopback4"
  if (bind === "0.0.0.0") return "wildcard4"
  if (bind === "::" || bind === "::0" || bind === "0:0:0:0:0:0:0:0") return "wildcard6"
  if (bind === "::1" || bind === "0:0:0:0:0:0:0:1") return "loopback6"
  const m = ipv4.exec(bind)
  if (m !== null) return [m[1], m[2], m[3], m[4]].every((o) => Number(o) <= 255) ? "specific4" : undefined
  return /^[0-9a-f:.]+$/i.test(bind) && bind.includes(":") ? "specific6" : undefined
}

const endpoint = (host: string, route: Route): Endpoint => ({
  host,
  urlHost: host.includes(":") ? `[${host}]` : host,
  route,
  delayed: route === "localhostRelay"
})

/**
 * Where Windows reaches a server that binds `bind` inside the distro, per WSL's networking
 * (windows-reality.md §6, read from `src/linux/init/localhost.cpp` and `src/windows/wslrelay`):
 *
 * | bind          | NAT/bridged/consomme, forwarding on         | forwarding off | mirrored  | WSL 1       | none |
 * | ------------- | ------------------------------------------- | -------------- | --------- | ----------- | ---- |
 * | `127.0.0.1`   | `127.0.0.1` (relay)                         | ✗              | 127.0.0.1 | 127.0.0.1   | ✗    |
 * | `0.0.0.0`     | `127.0.0.1` (relay), or the distro address  | distro address | 127.0.0.1 | 127.0.0.1   | ✗    |
 * | `::`          | `[::1]` (relay; not 127.0.0.1, WSL #4851), or the distro address | distro address | 127.0.0.1 | 127.0.0.1 | ✗ |
 * | `::1`         | `[::1]` (relay)                             | ✗              | ✗         | `[::1]`     | ✗    |
 * | distro address| that address                                | that address   | (host address) | that address | ✗ |
 *
 * The relay forwards only listeners on exactly `0.0.0.0`, `127.0.0.1`, `::` and `::1`; any other
 * loopback (`127.0.0.2`) or interface address is unreachable through it. `localhost` is refused:
 * it resolves to `127.0.0.1` or `::1` depending on the resolver, and the relay listens on only the
 * family of the Linux bind — bind a literal address.
 *
 * Fails with a {@link WslUnreachableError} that says what to change when nothing reaches it
 * (mode `none`, a loopback bind with forwarding off, a bind on another interface, …).
 *
 * @example
 * ```ts
 * import { Networking } from "@isthmus/wsl"
 * import { Option } from "effect"
 *
 * const facts: Networking.NetworkFacts = {
 *   distro: "Ubuntu",
 *   mode: { mode: "nat", source: "wslinfo", detail: "wslinfo --networking-mode printed nat" },
 *   localhostForwarding: true,
 *   hostAddressLoopback: false,
 *   distroAddress: Option.some({ address: "172.20.1.5", interface: Option.some("eth0") })
 * }
 * Networking.reachableHost("127.0.0.1", facts) // Success({ host: "127.0.0.1", route: "localhostRelay", … })
 * Networking.reachableHost("::", facts) // Success({ host: "::1", urlHost: "[::1]", … })
 * ```
 */
export const reachableHost = (
  bind: string,
  facts: NetworkFacts
): Result.Result<ReachableHost, WslUnreachableError> => {
  const { distro } = facts
  const mode = facts.mode.mode
  const trimmed = bind.trim().replace(/^\[(.*)\]$/, "$1").toLowerCase()
  const fail = (reason: string, fix: string) =>
    Result.fail(new WslUnreachableError({ distro, bind, mode, reason, fix }))
  const ok = (primary: Endpoint, reason: string, alternatives: ReadonlyArray<Endpoint> = []) =>
    Result.succeed<ReachableHost>({
      ...primary,
      bind,
      mode,
      modeSource: facts.mode.source,
      alternatives,
      reason
    })
  if (trimmed === "localhost" || trimmed === "") {
    return fail(
      `${
        JSON.stringify(bind)
      } is not a literal address: it resolves to 127.0.0.1 or ::1 depending on the resolver, and WSL's relay listens on the family of the Linux bind only`,
      "bind the server to 127.0.0.1 (or 0.0.0.0) explicitly"
    )
  }
  const kind = classifyBind(trimmed)
  if (kind === undefined) {
    return fail(`${JSON.stringify(bind)} is not an IP address`, "give the address the server binds, e.g. 127.0.0.1")
  }
  const address = Option.map(facts.distroAddress, (a) => a.address)
  const direct = Option.match(address, {
    onNone: () => [] as Array<Endpoint>,
    onSome: (a) => [endpoint(a, "distroAddress")]
  })
  const ownAddress = kind === "specific4" && Option.contains(address, trimmed)
  const where = `${distro} (${mode} networking, ${
    facts.mode.source === "wslinfo" ? "reported by wslinfo" : `from ${facts.mode.source}`
  })`
  switch (mode) {
    case "none":
      return fail(
        `${where} has no network Windows can reach: there is no localhost relay and no usable address`,
        "set networkingMode=nat in %UserProfile%\\.wslconfig (if it is already set, networking failed to start: look for a `wsl: ` warning when the distro boots), or talk to the server through a stdio relay over `wsl.exe --exec`"
      )
    case "wsl1":
      if (kind === "loopback6") {
        return ok(endpoint("::1", "sharedLoopback"), `${where}: WSL 1 shares the Windows network stack`)
      }
      if (kind === "specific4" || kind === "specific6") {
        return ok(endpoint(trimmed, "hostAddress"), `${where}: WSL 1 shares the Windows network stack`)
      }
      return ok(endpoint("127.0.0.1", "sharedLoopback"), `${where}: WSL 1 shares the Windows network stack`)
    case "mirrored":
      if (kind === "loopback4" || kind === "wildcard4" || kind === "wildcard6") {
        return ok(endpoint("127.0.0.1", "sharedLoopback"), `${where}: Windows and Linux share 127.0.0.1`)
      }
      if (kind === "loopback6") {
        return fail(`${where}: ::1 is not shared in mirrored mode`, "bind the server to 127.0.0.1 or 0.0.0.0")
      }
      if (trimmed.startsWith("127.")) {
        return fail(
          `${where}: of the loopback addresses only 127.0.0.1 is shared with Windows`,
          "bind the server to 127.0.0.1 or 0.0.0.0"
        )
      }
      if (facts.hostAddressLoopback) {
        return ok(
          endpoint(trimmed, "hostAddress"),
          `${where}: with [experimental] hostAddressLoopback=true Windows reaches the host's own address`
        )
      }
      return fail(
        `${where}: Windows reaches a server on the host's own address ${bind} only with [experimental] hostAddressLoopback=true`,
        "bind the server to 127.0.0.1 or 0.0.0.0, or set hostAddressLoopback=true in .wslconfig"
      )
    default: {
      // nat, bridged, consomme: the relay (when forwarding is on) or the distro's own address.
      const relay = facts.localhostForwarding
      if (ownAddress) {
        return ok(endpoint(trimmed, "distroAddress"), `${where}: the server binds the distro's own address`)
      }
      if (kind === "loopback4" || kind === "loopback6") {
        if (!relay) {
          return fail(
            `${where}: with localhostForwarding=false nothing reaches a loopback bind from Windows`,
            "bind the server to 0.0.0.0 (then Windows connects to the distro address), or remove localhostForwarding=false from .wslconfig"
          )
        }
        const host = kind === "loopback4" ? "127.0.0.1" : "::1"
        return ok(endpoint(host, "localhostRelay"), `${where}: WSL's localhost relay listens on Windows ${host}`)
      }
      if (kind === "wildcard4" || kind === "wildcard6") {
        if (relay) {
          const host = kind === "wildcard4" ? "127.0.0.1" : "::1"
          return ok(
            endpoint(host, "localhostRelay"),
            `${where}: WSL's localhost relay listens on Windows ${host}${
              kind === "wildcard6" ? " only (it does not forward a dual-stack bind to 127.0.0.1, WSL #4851)" : ""
            }${Option.isSome(address) ? `; the distro address ${address.value} works too` : ""}`,
            direct
          )
        }
        if (direct.length > 0) {
          return ok(direct[0]!, `${where}: localhostForwarding=false, so Windows connects to the distro address`)
        }
        return fail(
          `${where}: localhostForwarding=false and the distro has no usable address`,
          "remove localhostForwarding=false from .wslconfig, or check the distro's network (`ip -4 addr`)"
        )
      }
      return fail(
        `${where}: ${bind} is not the distro's address${
          Option.isSome(address) ? ` (${address.value})` : ""
        } and the localhost relay forwards only 127.0.0.1, 0.0.0.0, :: and ::1`,
        "bind the server to 127.0.0.1 or 0.0.0.0"
      )
    }
  }
}

/**
 * Rewrites the host of a URL a server printed inside the distro (`http://127.0.0.1:3000`,
 * `ws://[::]:8080/x`) to the host Windows reaches it at ({@link reachableHost} on the URL's host).
 */
export const reachableUrl = (url: string, facts: NetworkFacts): Result.Result<string, WslUnreachableError> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return Result.fail(
      new WslUnreachableError({
        distro: facts.distro,
        bind: url,
        mode: facts.mode.mode,
        reason: `${JSON.stringify(url)} is not a URL`,
        fix: "print an absolute URL such as http://127.0.0.1:3000"
      })
    )
  }
  return Result.map(reachableHost(parsed.hostname, facts), (r) => {
    parsed.hostname = r.urlHost
    return parsed.toString().replace(/\/$/, url.endsWith("/") ? "/" : "")
  })
}
