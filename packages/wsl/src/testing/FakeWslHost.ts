/**
 * An in-memory WSL host. The real `Wsl` service runs against it unchanged (it only replaces
 * {@link WslHost.WslHost}), so host code can be unit-tested with distros, states, addresses,
 * networking modes, homes, tools, Node versions and a file tree for `wslpath` — no Windows, no
 * processes. Linux commands are played by small programs (`true`, `echo`, `cat`, `printenv`,
 * `sleep`, …) that you can extend.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Wsl } from "@isthmus/wsl/node"
 * import { FakeWslHost } from "@isthmus/wsl/testing"
 *
 * const layer = FakeWslHost.layer({ distros: [{ name: "Ubuntu", state: "Running", default: true }] })
 * const names = Effect.runPromise(Wsl.Wsl.use((wsl) => wsl.listDistros).pipe(Effect.provide(layer)))
 * ```
 * @module
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as DistroList from "../DistroList.ts"
import * as Wsl from "../node/Wsl.ts"
import * as WslHost from "../node/WslHost.ts"
import * as Wslenv from "../Wslenv.ts"
import { WslUnavailableError } from "../WslError.ts"
import * as Model from "./FakeWslModel.ts"

/** What a fake Linux program sees. */
export interface Invocation {
  readonly argv: ReadonlyArray<string>
  readonly stdin: string
  /** The Linux environment: `WSLENV`-listed variables translated, plus `WSL_DISTRO_NAME`. */
  readonly env: Readonly<Record<string, string>>
  readonly distro: Model.FakeDistro
  readonly cwd: string | undefined
  readonly user: string | undefined
}

/** What a fake Linux program returns. */
export interface ProgramResult {
  readonly exitCode: number
  readonly stdout?: string | undefined
  readonly stderr?: string | undefined
}

/** A fake Linux program. It may sleep (on the `Clock`, so `TestClock` drives it). */
export type Program = (invocation: Invocation) => Effect.Effect<ProgramResult>

/** One recorded run of the fake `wsl.exe`. */
export interface Call {
  readonly args: ReadonlyArray<string>
  /** `WSLENV` as the fake `wsl.exe` received it. */
  readonly wslenv: string | undefined
  /** Names of the variables given for this run (values are not recorded). */
  readonly envNames: ReadonlyArray<string>
  readonly stdin: string
}

/** Options of the fake host. */
export interface FakeWslHostOptions {
  /** Extra or replacement programs by name (`argv[0]` basename). */
  readonly programs?: Readonly<Record<string, Program>> | undefined
  /** The host environment (its `WSLENV` is what the service appends to). Default `{}`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Answer in UTF-8, as under `WSL_UTF8=1` (default: UTF-16LE, wsl.exe's default). */
  readonly utf8?: boolean | undefined
  /** `false` models a machine without WSL (default `true`). */
  readonly available?: boolean | undefined
}

/** Inspect and change the fake host from a test. */
export interface FakeWslHostShape {
  /** Every `wsl.exe` run so far, in order. */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
  /** Runs that were cut short (timeout or interruption): their arguments. */
  readonly killed: Effect.Effect<ReadonlyArray<ReadonlyArray<string>>>
  /** The current model (states change with `--exec`, `--terminate` and `--shutdown`). */
  readonly config: Effect.Effect<Model.FakeWslConfig>
  /** Replaces the model. */
  readonly update: (f: (config: Model.FakeWslConfig) => Model.FakeWslConfig) => Effect.Effect<void>
}

/** The fake host's control service. */
export class FakeWslHost extends Context.Service<FakeWslHost, FakeWslHostShape>()("@isthmus/wsl/testing/FakeWslHost") {}

const encoder = new TextEncoder()

const parseSeconds = (s: string | undefined): number => {
  const n = Number(s)
  return Number.isFinite(n) && n >= 0 ? n : 0
}

/** The programs every fake distro has. */
export const defaultPrograms: Readonly<Record<string, Program>> = {
  true: () => Effect.succeed({ exitCode: 0 }),
  false: () => Effect.succeed({ exitCode: 1 }),
  echo: (i) => Effect.succeed({ exitCode: 0, stdout: `${i.argv.slice(1).join(" ")}\n` }),
  cat: (i) => Effect.succeed({ exitCode: 0, stdout: i.stdin }),
  pwd: (i) => Effect.succeed({ exitCode: 0, stdout: `${i.cwd ?? i.distro.home ?? "/"}\n` }),
  whoami: (i) => Effect.succeed({ exitCode: 0, stdout: `${i.env["USER"]}\n` }),
  printenv: (i) => {
    const names = i.argv.slice(1)
    if (names.length === 0) {
      return Effect.succeed({
        exitCode: 0,
        stdout: Object.entries(i.env).map(([k, v]) => `${k}=${v}\n`).join("")
      })
    }
    const values = names.flatMap((n) => i.env[n] === undefined ? [] : [`${i.env[n]}\n`])
    return Effect.succeed({ exitCode: values.length === names.length ? 0 : 1, stdout: values.join("") })
  },
  sleep: (i) => Effect.sleep(Duration.seconds(parseSeconds(i.argv[1]))).pipe(Effect.as({ exitCode: 0 })),
  node: (i) => {
    const node = i.distro.node
    if (node === null || node === undefined) {
      return Effect.succeed({ exitCode: 127, stderr: "node: command not found\n" })
    }
    if (i.argv[1] === "--version") return Effect.succeed({ exitCode: 0, stdout: `${node.version}\n` })
    return Effect.succeed({ exitCode: 0 })
  }
}

/** Builds the fake host (both the `WslHost` and its control service). */
export const make = Effect.fnUntraced(function*(config: Model.FakeWslConfig, options: FakeWslHostOptions = {}) {
  const state = yield* Ref.make(config)
  const calls = yield* Ref.make<ReadonlyArray<Call>>([])
  const killed = yield* Ref.make<ReadonlyArray<ReadonlyArray<string>>>([])
  const programs: Record<string, Program> = { ...defaultPrograms, ...options.programs }
  // A very small shell: one simple command per line (or `;`), words split on blanks, `exit N`.
  const shell: Program = (invocation) =>
    Effect.gen(function*() {
      const c = invocation.argv.indexOf("-c")
      const text = c !== -1 ? invocation.argv[c + 1] ?? "" : invocation.argv.includes("-s") ? invocation.stdin : ""
      let stdout = ""
      let stderr = ""
      let exitCode = 0
      for (const line of text.split(/\n|;/)) {
        const words = line.trim().split(/\s+/).filter((x) => x.length > 0)
        const name = words[0]
        if (name === undefined || name.startsWith("#")) continue
        if (name === "exit") return { exitCode: Number(words[1] ?? exitCode), stdout, stderr }
        const program = programs[name]
        if (program === undefined) {
          stderr += `sh: ${name}: not found\n`
          exitCode = 127
          continue
        }
        const r = yield* program({ ...invocation, argv: words, stdin: "" })
        stdout += r.stdout ?? ""
        stderr += r.stderr ?? ""
        exitCode = r.exitCode
      }
      return { exitCode, stdout, stderr }
    })
  for (const name of ["sh", "bash", "dash"]) programs[name] ??= shell
  const hostEnv = options.env ?? {}
  const utf8 = options.utf8 === true
  // The Windows side of the fake: where the host looks for wsl.exe (the live host's own rule)
  // and whether it is there. A 32-bit host sees SysWOW64 under System32, which has no wsl.exe;
  // only Sysnative has it (windows-reality.md §3, microsoft/WSL#5319).
  const is32bit = Model.hostStateOf(config) === "32bit-host"
  const executable = WslHost.defaultExecutable("win32", {
    SystemRoot: "C:\\Windows",
    ...(is32bit ? { PROCESSOR_ARCHITEW6432: "AMD64" } : {})
  })!
  const available = options.available !== false && (!is32bit || executable.endsWith("\\Sysnative\\wsl.exe"))

  const bytes = (out: Model.Output) => ({
    exitCode: out.exitCode,
    stdout: out.fromWslExe ? DistroList.encode(out.stdout, { utf8 }) : encoder.encode(out.stdout),
    stderr: encoder.encode(out.stderr)
  })

  const execute = (step: Model.Exec, stdin: string, env: Readonly<Record<string, string | undefined>>) =>
    Effect.gen(function*() {
      const answered = Model.answer(step, Model.readsScript(step) ? stdin : undefined)
      if (answered !== undefined) return answered
      const translated = Wslenv.translate(env, "toLinux", Model.pathContext(step.distro))
      const user = Model.userOf(step) ?? "user"
      const linuxEnv = { ...translated.env, USER: user, LOGNAME: user, WSL_DISTRO_NAME: step.distro.name }
      const name = step.argv[0]!.split("/").pop()!
      const program = programs[name]
      if (program === undefined) {
        return {
          kind: "Output",
          exitCode: 127,
          stdout: "",
          stderr: `${name}: command not found\n`,
          fromWslExe: false
        } satisfies Model.Output
      }
      const r = yield* program({
        argv: step.argv,
        stdin,
        env: linuxEnv,
        distro: step.distro,
        cwd: step.cwd,
        user: step.user
      })
      return {
        kind: "Output",
        exitCode: r.exitCode,
        stdout: r.stdout ?? "",
        stderr: r.stderr ?? "",
        fromWslExe: false
      } satisfies Model.Output
    })

  const run = (request: WslHost.RunRequest) =>
    Effect.gen(function*() {
      if (!available) {
        return yield* new WslUnavailableError({ executable, reason: "the fake host has no WSL" })
      }
      const env = { ...hostEnv, ...request.env }
      const stdin = request.stdin === undefined ? "" : new TextDecoder().decode(request.stdin)
      yield* Ref.update(calls, (cs) => [
        ...cs,
        { args: request.args, wslenv: env["WSLENV"], envNames: Object.keys(request.env ?? {}), stdin }
      ])
      const current = yield* Ref.get(state)
      const step = Model.interpret(current, request.args)
      const next = Model.afterRun(current, request.args, step)
      if (next !== undefined) yield* Ref.set(state, next)
      return bytes(step.kind === "Output" ? step : yield* execute(step, stdin, env))
    }).pipe(
      Effect.onInterrupt(() => Ref.update(killed, (ks) => [...ks, request.args])),
      WslHost.timeoutRun(request)
    )

  const host = WslHost.WslHost.of({
    executable,
    env: hostEnv,
    isAvailable: Effect.succeed(available),
    run,
    hostAddresses: Ref.get(state).pipe(Effect.map((c) => c.hostAddresses ?? [])),
    wslConfig: Ref.get(state).pipe(Effect.map((c) => Option.fromNullishOr(c.wslConfig)))
  })
  const control = FakeWslHost.of({
    calls: Ref.get(calls),
    killed: Ref.get(killed),
    config: Ref.get(state),
    update: (f) => Ref.update(state, f)
  })
  return { host, control }
})

/** The fake `WslHost` plus its control service {@link FakeWslHost}. */
export const layerHost = (
  config: Model.FakeWslConfig,
  options?: FakeWslHostOptions
): Layer.Layer<WslHost.WslHost | FakeWslHost> =>
  Layer.effectContext(
    make(config, options).pipe(
      Effect.map(({ control, host }) => Context.make(WslHost.WslHost, host).pipe(Context.add(FakeWslHost, control)))
    )
  )

/** The real `Wsl` service running on the fake host, plus the control service. */
export const layer = (
  config: Model.FakeWslConfig,
  options?: FakeWslHostOptions & { readonly wsl?: Wsl.WslOptions | undefined }
): Layer.Layer<Wsl.Wsl | FakeWslHost> =>
  Wsl.layerNoDeps(options?.wsl).pipe(Layer.provideMerge(layerHost(config, options)))
