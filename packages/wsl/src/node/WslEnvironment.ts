/**
 * `WslEnvironment`: what a process running *inside* a distro can learn about WSL (`wsl.md` §6):
 * whether this is WSL at all (kernel string, `WSL_DISTRO_NAME`, the interop binfmt entry,
 * `/run/WSL`; containers excluded), version 1 or 2, the distro name, whether interop is
 * enabled, the automount root from `/etc/wsl.conf` and the networking mode.
 *
 * The verdict is a pure function of {@link Facts} ({@link detect}); `WslEnvironment.layer` reads
 * the facts from this machine, `layerFromFacts` takes them from a test.
 * @module
 */
import { NodeServices } from "@effect/platform-node"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as Stream from "effect/Stream"
import { existsSync, readFileSync } from "node:fs"
import * as os from "node:os"
import * as Ini from "../internal/ini.ts"
import * as Networking from "../Networking.ts"

/** What the detection looks at. Every field is optional evidence. */
export interface Facts {
  /** `process.platform`. */
  readonly platform: string
  /** `os.release()`. */
  readonly kernelRelease: string
  /** `/proc/version`. */
  readonly procVersion: Option.Option<string>
  /** The process environment. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** `/proc/sys/fs/binfmt_misc/WSLInterop` (or `WSLInterop-late`, before WSL 2.6.2). */
  readonly interopBinfmt: Option.Option<string>
  /** `/run/WSL` exists. */
  readonly runWslExists: boolean
  /** `/etc/wsl.conf`. */
  readonly wslConf: Option.Option<string>
  /** Container markers were found (`/.dockerenv`, `/run/.containerenv`, a container cgroup). */
  readonly inContainer: boolean
  /** What `wslinfo --networking-mode` printed, when it ran. */
  readonly wslinfoNetworkingMode: Option.Option<string>
}

/** The verdict. */
export interface Detection {
  readonly isWsl: boolean
  readonly version: Option.Option<1 | 2>
  readonly distro: Option.Option<string>
  /** Windows executables can be started (interop binfmt registered and enabled). */
  readonly interop: boolean
  /** `[automount] root` (with a trailing `/`); `/mnt/` by default. */
  readonly automountRoot: string
  /** `[automount] enabled` is not `false`. */
  readonly automountEnabled: boolean
  readonly networkingMode: Option.Option<Networking.NetworkingMode>
  readonly inContainer: boolean
  /** Which facts led to the verdict, in words. */
  readonly evidence: ReadonlyArray<string>
}

/** Reads `key` of `[section]` from an INI text (`/etc/wsl.conf` style; case-insensitive names). */
export const iniValue = (text: string, section: string, key: string): Option.Option<string> =>
  Option.fromNullishOr(Ini.iniValue(text, section, key))

/** Decides from the facts. */
export const detect = (facts: Facts): Detection => {
  const evidence: Array<string> = []
  const linux = facts.platform === "linux"
  const release = facts.kernelRelease
  const proc = Option.getOrElse(facts.procVersion, () => "")
  const kernelSaysWsl = /microsoft/i.test(release) || /microsoft/i.test(proc)
  if (kernelSaysWsl) evidence.push(`kernel ${release.length > 0 ? release : proc.trim()} mentions Microsoft`)
  const distroVar = facts.env["WSL_DISTRO_NAME"]
  if (distroVar !== undefined && distroVar.length > 0) evidence.push(`WSL_DISTRO_NAME=${distroVar}`)
  if (Option.isSome(facts.interopBinfmt)) evidence.push("the WSLInterop binfmt entry is registered")
  if (facts.runWslExists) evidence.push("/run/WSL exists")
  if (facts.inContainer) evidence.push("container markers found: this is a container, not a WSL distro")
  const markers = kernelSaysWsl || Option.isSome(facts.interopBinfmt) || facts.runWslExists ||
    (distroVar !== undefined && distroVar.length > 0)
  const isWsl = linux && markers && !facts.inContainer
  const infoMode = Option.flatMap(facts.wslinfoNetworkingMode, Networking.parseWslinfo)
  let version: Option.Option<1 | 2> = Option.none()
  if (isWsl) {
    if (/-Microsoft\b/.test(release) || /-Microsoft\b/.test(proc) || Option.contains(infoMode, "wsl1")) {
      version = Option.some(1)
    } else if (
      /microsoft-standard|WSL2/i.test(release) || /microsoft-standard|WSL2/i.test(proc) ||
      facts.env["WSL_INTEROP"] !== undefined || Option.isSome(infoMode)
    ) version = Option.some(2)
  }
  const conf = Option.getOrElse(facts.wslConf, () => "")
  const rootValue = Option.getOrElse(iniValue(conf, "automount", "root"), () => "/mnt/")
  const automountRoot = rootValue.endsWith("/") ? rootValue : `${rootValue}/`
  const automountEnabled = Option.getOrElse(iniValue(conf, "automount", "enabled"), () => "true").toLowerCase() !==
    "false"
  const interopConf = Option.getOrElse(iniValue(conf, "interop", "enabled"), () => "true").toLowerCase() !== "false"
  const binfmtEnabled = Option.match(facts.interopBinfmt, {
    onNone: () => false,
    onSome: (text) => !/^disabled/m.test(text)
  })
  return {
    isWsl,
    version,
    distro: isWsl && distroVar !== undefined && distroVar.length > 0 ? Option.some(distroVar) : Option.none(),
    interop: isWsl && binfmtEnabled && interopConf,
    automountRoot,
    automountEnabled,
    networkingMode: isWsl ? infoMode : Option.none(),
    inContainer: facts.inContainer,
    evidence
  }
}

/** The `WslEnvironment` service shape. */
export interface WslEnvironmentShape {
  /** The full verdict (computed once per layer). */
  readonly detection: Detection
  /** Whether this process runs in a WSL distro (not in a container on it). */
  readonly isWsl: boolean
  /** WSL 1 or 2, when it can be told. */
  readonly version: Option.Option<1 | 2>
  /** `WSL_DISTRO_NAME` (lost under `sudo` or `env -i`). */
  readonly distro: Option.Option<string>
  /** Windows executables can be started from here. */
  readonly interop: boolean
  /** Where Windows drives are mounted (`/mnt/` by default, with a trailing `/`). */
  readonly automountRoot: string
  /** What `wslinfo --networking-mode` said, when it ran. */
  readonly networkingMode: Option.Option<Networking.NetworkingMode>
}

/** WSL as seen from inside a distro. */
export class WslEnvironment extends Context.Service<WslEnvironment, WslEnvironmentShape>()(
  "@isthmus/wsl/WslEnvironment"
) {}

const fromDetection = (detection: Detection): WslEnvironmentShape => ({
  detection,
  isWsl: detection.isWsl,
  version: detection.version,
  distro: detection.distro,
  interop: detection.interop,
  automountRoot: detection.automountRoot,
  networkingMode: detection.networkingMode
})

/** A layer from given facts (tests, or facts gathered elsewhere). */
export const layerFromFacts = (facts: Facts): Layer.Layer<WslEnvironment> =>
  Layer.succeed(WslEnvironment, WslEnvironment.of(fromDetection(detect(facts))))

const readOption = (path: string): Option.Option<string> => {
  try {
    return Option.some(readFileSync(path, "utf8"))
  } catch {
    return Option.none()
  }
}

/** Reads the facts of this machine from files and the environment (no processes). */
export const readFacts = (): Omit<Facts, "wslinfoNetworkingMode"> => {
  const cgroup = Option.getOrElse(readOption("/proc/1/cgroup"), () => "")
  return {
    platform: process.platform,
    kernelRelease: os.release(),
    procVersion: readOption("/proc/version"),
    env: process.env,
    interopBinfmt: Option.orElse(
      readOption("/proc/sys/fs/binfmt_misc/WSLInterop"),
      () => readOption("/proc/sys/fs/binfmt_misc/WSLInterop-late")
    ),
    runWslExists: existsSync("/run/WSL"),
    wslConf: readOption("/etc/wsl.conf"),
    inContainer: existsSync("/.dockerenv") || existsSync("/run/.containerenv") ||
      /docker|kubepods|containerd|lxc/.test(cgroup)
  }
}

/** The live layer: reads this machine's facts and, inside WSL, runs `wslinfo --networking-mode` (5 s). */
export const layerNoDeps: Layer.Layer<WslEnvironment, never, ChildProcessSpawner.ChildProcessSpawner> = Layer.effect(
  WslEnvironment,
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const base = readFacts()
    const pre = detect({ ...base, wslinfoNetworkingMode: Option.none() })
    const wslinfoNetworkingMode = pre.isWsl
      ? yield* spawner.string(ChildProcess.make("wslinfo", ["--networking-mode", "-n"], {
        stdin: Stream.empty,
        forceKillAfter: "500 millis"
      })).pipe(
        Effect.map((s) => s.trim().length > 0 ? Option.some(s.trim()) : Option.none()),
        Effect.timeout("5 seconds"),
        Effect.orElseSucceed(() => Option.none<string>())
      )
      : Option.none<string>()
    return WslEnvironment.of(fromDetection(detect({ ...base, wslinfoNetworkingMode })))
  }).pipe(Effect.withSpan("WslEnvironment.detect"))
)

/** The live layer on Node. */
export const layer: Layer.Layer<WslEnvironment> = layerNoDeps.pipe(Layer.provide(NodeServices.layer))
