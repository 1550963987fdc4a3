/**
 * `WslHost`: the Windows host as the `Wsl` service sees it — a way to run `wsl.exe` with bytes in
 * and out, the host's own IPv4 addresses and the text of `%UserProfile%\.wslconfig`.
 *
 * `WslHost.layer` runs a real executable through `effect/process` (killing it, and its process
 * group, on timeout or interruption). `@isthmus/wsl/testing` provides an in-memory host, so the
 * same `Wsl` service runs unchanged against a model.
 * @module
 */
import { NodeServices } from "@effect/platform-node"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as Stream from "effect/Stream"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { networkInterfaces } from "node:os"
import { MarkerScanner } from "../internal/linuxProcess.ts"
import { WslSpawnError, WslTimeoutError, WslUnavailableError } from "../WslError.ts"

/** One run of `wsl.exe`. */
export interface RunRequest {
  /** What this run is for, used in spans and errors (e.g. `"Wsl.listDistros"`). */
  readonly operation: string
  /** Arguments after the executable. */
  readonly args: ReadonlyArray<string>
  /** Variables to set for `wsl.exe` on top of the host environment (secrets go here, never in `args`). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Bytes written to stdin, then stdin is closed. Without it stdin is empty. */
  readonly stdin?: Uint8Array | undefined
  /** How long the run may take; after it the process (group) is killed. */
  readonly timeout: Duration.Duration
  /** The distribution concerned, for errors. */
  readonly distro?: string | undefined
  /**
   * The run's Linux command was wrapped to report its process group first (`WslCommand`'s pgid
   * wrapper with this `token`): the host removes the marker line from stderr and calls
   * `onGroup` with the pgid as soon as it arrives, so a stop can act inside the distro.
   */
  readonly linuxGroup?: {
    /** The marker the wrapper prints before the pgid. */
    readonly token: string
    /** Called once with the Linux process group of the run. */
    readonly onGroup: (pgid: number) => Effect.Effect<void>
  } | undefined
}

/** What a run produced. `exitCode` is wsl.exe's (or the Linux command's) exit code. */
export interface RunResult {
  readonly exitCode: number
  readonly stdout: Uint8Array
  /** stderr; with `linuxGroup`, only the Linux command's. */
  readonly stderr: Uint8Array
  /**
   * With `linuxGroup`: what wsl.exe itself wrote to stderr before the Linux command started (its
   * `wsl: …` warnings, e.g. a networking fallback when the call booted the VM).
   */
  readonly warnings?: Uint8Array | undefined
}

/** The `WslHost` service shape. */
export interface WslHostShape {
  /** The `wsl.exe` being run (for display and for launchers that spawn it themselves). */
  readonly executable: string
  /** The environment `wsl.exe` starts from (its `WSLENV` is what `Wsl.exec` appends to). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Whether the executable exists here (the installer stub counts: see `Wsl.state`). */
  readonly isAvailable: Effect.Effect<boolean>
  /** Runs `wsl.exe` once; never uses a shell. */
  readonly run: (request: RunRequest) => Effect.Effect<RunResult, WslUnavailableError | WslSpawnError | WslTimeoutError>
  /** The host's non-internal IPv4 addresses (for the mirrored-networking collision check). */
  readonly hostAddresses: Effect.Effect<ReadonlyArray<string>>
  /** The text of `%UserProfile%\.wslconfig`, when there is one. */
  readonly wslConfig: Effect.Effect<Option.Option<string>>
}

/** The Windows host: runs `wsl.exe`, knows its interfaces and `.wslconfig`. */
export class WslHost extends Context.Service<WslHost, WslHostShape>()("@isthmus/wsl/WslHost") {}

/** Options of the live host layer. */
export interface WslHostOptions {
  /**
   * The executable to run. Default: {@link defaultExecutable} on Windows (`System32`, or `Sysnative` for a 32-bit host); elsewhere there is
   * none (WSL is reported unavailable) unless one is given, e.g. `fakeWslExecutable`.
   */
  readonly executable?: string | undefined
  /** Where `.wslconfig` is. Default: `%USERPROFILE%\.wslconfig` on Windows, none elsewhere. */
  readonly wslConfigPath?: string | undefined
  /** The environment `wsl.exe` starts from. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Upper bound on collected stdout/stderr bytes per run (default 16 MiB); the rest is dropped. */
  readonly maxOutputBytes?: number | undefined
  /** Grace period between SIGTERM and SIGKILL when a run is cut short (default 1 second). */
  readonly forceKillAfter?: Duration.Input | undefined
}

/**
 * Bounds a run by `request.timeout`: when it passes, the run is interrupted (a live host kills
 * what it started) and fails with a `WslTimeoutError` naming the operation. Every host uses it.
 */
export const timeoutRun = (request: RunRequest) => <A, E, R>(run: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(run, {
    duration: request.timeout,
    orElse: () =>
      Effect.fail(
        new WslTimeoutError({
          operation: request.operation,
          distro: request.distro,
          timeoutMillis: Duration.toMillis(request.timeout)
        })
      )
  })

/**
 * The default `wsl.exe` location for this process, if any: `%SystemRoot%\System32\wsl.exe` on
 * Windows, or `%SystemRoot%\Sysnative\wsl.exe` when this is a 32-bit process on 64-bit Windows
 * (`PROCESSOR_ARCHITEW6432` is set): WOW64 shows it `SysWOW64` under `System32`, which has no
 * `wsl.exe` (microsoft/WSL#5319; VS Code `wsl.ts` `getSystem32Path`). Existing says nothing about
 * WSL working (the installer stub is there too): ask `Wsl.state`.
 */
export const defaultExecutable = (
  platform: string = process.platform,
  env: Readonly<Record<string, string | undefined>> = process.env
): string | undefined => {
  if (platform !== "win32") return undefined
  const root = env["SystemRoot"] ?? env["SYSTEMROOT"] ?? env["WINDIR"] ?? "C:\\Windows"
  return `${root}\\${env["PROCESSOR_ARCHITEW6432"] === undefined ? "System32" : "Sysnative"}\\wsl.exe`
}

/**
 * stderr without the pgid marker line and without what wsl.exe wrote before it (handed to
 * `onPreamble`); reports the pgid when the line passes.
 */
export const watchGroup = <E, R>(
  stderr: Stream.Stream<Uint8Array, E, R>,
  group: NonNullable<RunRequest["linuxGroup"]>,
  onPreamble: (bytes: Uint8Array) => void = () => undefined
): Stream.Stream<Uint8Array, E, R> =>
  Stream.suspend(() => {
    const scanner = new MarkerScanner(group.token)
    let reported = false
    return stderr.pipe(
      Stream.mapEffect((chunk) => {
        const kept = scanner.push(chunk)
        const pgid = scanner.pgid
        if (pgid === undefined || reported) return Effect.succeed(kept)
        reported = true
        onPreamble(scanner.preamble)
        return Effect.as(group.onGroup(pgid), kept)
      }),
      Stream.concat(Stream.sync(() => scanner.flush())),
      Stream.filter((chunk) => chunk.byteLength > 0)
    )
  })

const collect = (stream: Stream.Stream<Uint8Array, unknown>, max: number) =>
  stream.pipe(
    Stream.runFold(() => ({ chunks: [] as Array<Uint8Array>, size: 0 }), (acc, chunk) => {
      if (acc.size < max) {
        const take = chunk.byteLength <= max - acc.size ? chunk : chunk.subarray(0, max - acc.size)
        acc.chunks.push(take)
        acc.size += take.byteLength
      }
      return acc
    }),
    Effect.map(({ chunks, size }) => {
      const out = new Uint8Array(size)
      let offset = 0
      for (const c of chunks) {
        out.set(c, offset)
        offset += c.byteLength
      }
      return out
    })
  )

/** Builds the live host from a `ChildProcessSpawner`. */
export const make = Effect.fnUntraced(function*(options: WslHostOptions = {}) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const baseEnv = options.env ?? process.env
  const executable = options.executable ?? defaultExecutable(process.platform, baseEnv)
  const display = executable ?? "wsl.exe"
  const max = options.maxOutputBytes ?? 16 * 1024 * 1024
  const forceKillAfter = options.forceKillAfter ?? "1 second"
  const wslConfigPath = options.wslConfigPath ??
    (process.platform === "win32" && baseEnv["USERPROFILE"] !== undefined
      ? `${baseEnv["USERPROFILE"]}\\.wslconfig`
      : undefined)

  const isAvailable = Effect.sync(() => executable !== undefined && existsSync(executable))

  const run = (request: RunRequest) =>
    Effect.gen(function*() {
      if (executable === undefined) {
        return yield* new WslUnavailableError({
          executable: display,
          reason: `this is ${process.platform}, not Windows, and no executable was given`
        })
      }
      const env: Record<string, string> = {}
      for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined) env[k] = v
      // Ask for UTF-8 output (WSL ≥ 0.64); DistroList.decode still detects UTF-16LE from older builds.
      env["WSL_UTF8"] = "1"
      if (request.env !== undefined) Object.assign(env, request.env)
      const command = ChildProcess.make(executable, [...request.args], {
        env,
        extendEnv: false,
        stdin: request.stdin === undefined ? Stream.empty : Stream.make(request.stdin),
        forceKillAfter
      })
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const handle = yield* spawner.spawn(command)
        const group = request.linuxGroup
        let warnings: Uint8Array | undefined
        const stderrStream = group === undefined ? handle.stderr : watchGroup(handle.stderr, group, (bytes) => {
          warnings = bytes
        })
        const [stdout, stderr, exitCode] = yield* Effect.all(
          [collect(handle.stdout, max), collect(stderrStream, max), handle.exitCode],
          { concurrency: 3 }
        )
        return { exitCode: Number(exitCode), stdout, stderr, warnings } satisfies RunResult
      })).pipe(
        Effect.mapError((cause) => new WslSpawnError({ executable: display, operation: request.operation, cause })),
        timeoutRun(request)
      )
      return result
    }).pipe(Effect.withSpan("WslHost.run", { attributes: { operation: request.operation } }))

  const hostAddresses = Effect.sync(() => {
    const out: Array<string> = []
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) {
        const family: unknown = info.family
        if ((family === "IPv4" || family === 4) && !info.internal) out.push(info.address)
      }
    }
    return out
  })

  const wslConfig = wslConfigPath === undefined
    ? Effect.succeed(Option.none<string>())
    : Effect.promise(() => readFile(wslConfigPath, "utf8").then((t) => Option.some(t), () => Option.none<string>()))

  return WslHost.of({ executable: display, env: baseEnv, isAvailable, run, hostAddresses, wslConfig })
})

/** The live host, needing a `ChildProcessSpawner`. */
export const layerNoDeps = (
  options: WslHostOptions = {}
): Layer.Layer<WslHost, never, ChildProcessSpawner.ChildProcessSpawner> => Layer.effect(WslHost, make(options))

/** The live host on Node (`NodeServices.layer`). */
export const layer = (options: WslHostOptions = {}): Layer.Layer<WslHost> =>
  layerNoDeps(options).pipe(Layer.provide(NodeServices.layer))
