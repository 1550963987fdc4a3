/**
 * An in-memory WSL host. The real `Wsl` service runs against it unchanged (it only replaces
 * {@link WslHost.WslHost}), so host code can be unit-tested with distros, states, addresses,
 * networking modes, homes, tools, Node versions and a file tree for `wslpath` — no Windows, no
 * processes. Linux commands are small programs (`true`, `echo`, `cat`, `printenv`, `sleep`, …,
 * extensible) run by a small interpreted shell (`sh -c`, `bash -l -s`, quoting, `$$`, `"$@"`,
 * `exec`, `trap`, `kill`, `&&`, `||`).
 *
 * Linux processes live in a process table, each command launched by `wsl.exe` leading its own
 * group (pid = pgid, windows-reality.md §2.4). As on Windows, killing `wsl.exe` (a timeout or an
 * interruption of the run) does **not** end the command (microsoft/WSL#2496): only the relay's
 * acts reach it — its output goes nowhere and its pid gets SIGHUP — so one that ignores SIGHUP
 * runs on until something kills it inside the distro (`kill`). A signal's death is its number
 * as the exit status (SIGTERM 15, SIGKILL 9; §2.3); `--terminate` and `--shutdown` end every
 * process of the distro at once and their runs return 1 (§2.7).
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
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as DistroList from "../DistroList.ts"
import * as DistroName from "../internal/distroNameRule.ts"
import * as LinuxProcess from "../internal/linuxProcess.ts"
import * as Wsl from "../node/Wsl.ts"
import * as WslHost from "../node/WslHost.ts"
import * as Wslenv from "../Wslenv.ts"
import { WslUnavailableError } from "../WslError.ts"
import * as FakeShell from "./fakeShell.ts"
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
  /** The pid of the Linux process running the program (`$$` for a shell). */
  readonly pid: number
  /** Writes output now rather than with the result (what a long-running program does). */
  readonly write: (stream: "stdout" | "stderr", text: string) => Effect.Effect<void>
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

/** A Linux process of the fake host, as a test sees it. */
export interface ProcessInfo {
  readonly pid: number
  /** Its process group (a command launched by wsl.exe leads its own: pid = pgid, §2.4). */
  readonly pgid: number
  readonly distro: string
  readonly argv: ReadonlyArray<string>
  readonly alive: boolean
  /** Its exit status: the program's code, or the signal number that ended it. */
  readonly exitCode: number | undefined
  /** Signals it received, in order (`HUP`, `TERM`, `KILL`, …), ignored ones included. */
  readonly signals: ReadonlyArray<string>
}

/** Inspect and change the fake host from a test. */
export interface FakeWslHostShape {
  /** Every `wsl.exe` run so far, in order. */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
  /** Runs whose `wsl.exe` was killed (timeout or interruption): their arguments. */
  readonly killed: Effect.Effect<ReadonlyArray<ReadonlyArray<string>>>
  /**
   * Every Linux process started so far. Killing `wsl.exe` does not end one (windows-reality.md
   * §2.1): only what WSL's relay does reaches it (SIGHUP to the leader; output dropped).
   */
  readonly processes: Effect.Effect<ReadonlyArray<ProcessInfo>>
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

/** The programs every fake distro has (in `/usr/bin` and `/bin`). */
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
  sleep: (i) => Effect.sleep(Duration.seconds(parseSeconds(i.argv[1]))).pipe(Effect.as({ exitCode: 0 }))
}

/** The distro's Node (`FakeDistro.node`), at its own path: `--version` prints its version. */
const nodeProgram: Program = (i) =>
  Effect.succeed(
    i.argv[1] === "--version" ? { exitCode: 0, stdout: `${i.distro.node?.version ?? "v0.0.0"}\n` } : { exitCode: 0 }
  )

const shells = new Set(["sh", "bash", "dash", "zsh"])

/** Program names of the model's executables that are not named after themselves. */
const windowsShim = "\0windows-shim"
const tool = "\0tool"
const nodeName = "\0node"

interface FakeProcess {
  readonly pid: number
  readonly pgid: number
  readonly distro: string
  readonly argv: ReadonlyArray<string>
  readonly ignored: Set<string>
  readonly signals: Array<string>
  alive: boolean
  exitCode: number | undefined
  /** The relay is gone (wsl.exe was killed): output goes nowhere. */
  broken: boolean
  fiber: Fiber.Fiber<unknown> | undefined
  readonly done: Deferred.Deferred<number>
}

/** Builds the fake host (both the `WslHost` and its control service). */
export const make = Effect.fnUntraced(function*(config: Model.FakeWslConfig, options: FakeWslHostOptions = {}) {
  const scope = yield* Effect.scope
  const state = yield* Ref.make(config)
  const calls = yield* Ref.make<ReadonlyArray<Call>>([])
  const killed = yield* Ref.make<ReadonlyArray<ReadonlyArray<string>>>([])
  const programs: Record<string, Program> = {
    ...defaultPrograms,
    wslpath: (i) => Effect.succeed(Model.wslpath(i.distro, i.argv, i.cwd)),
    ...options.programs
  }
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

  // The Linux processes of every distro.
  const table = new Map<number, FakeProcess>()
  let nextPid = 200

  /**
   * The executables of `distro` by path: the programs in /usr/bin and /bin, `wslinfo` when
   * present, and the model's own (`node`, `tools`, `executables`).
   */
  const executablesOf = (distro: Model.FakeDistro): ReadonlyMap<string, string> => {
    const out = new Map<string, string>()
    const names = [...Object.keys(programs), ...shells]
    if (distro.version === 1 || distro.networkingMode !== undefined) names.push("wslinfo")
    for (const name of names) {
      out.set(`/usr/bin/${name}`, name)
      out.set(`/bin/${name}`, name)
    }
    for (const [path, kind] of Model.executables(distro)) {
      out.set(path, kind === "node" ? nodeName : kind === "windowsShim" ? windowsShim : tool)
    }
    return out
  }

  const resolveIn = (distro: Model.FakeDistro) => (name: string, path: string): string | undefined => {
    const executables = executablesOf(distro)
    if (name.includes("/")) return executables.has(name) ? name : undefined
    return path.split(":").map((dir) => `${dir.replace(/\/$/, "")}/${name}`).find((p) => executables.has(p))
  }

  /** Delivers `signal` to `proc`; `false` when it is not running. */
  const deliver = (proc: FakeProcess, signal: string): Effect.Effect<boolean> =>
    Effect.gen(function*() {
      if (!proc.alive) return false
      if (signal === "0") return true
      proc.signals.push(signal)
      if (signal === "CONT" || signal === "STOP" || (signal !== "KILL" && proc.ignored.has(signal))) return true
      yield* terminate(proc, FakeShell.signalNumbers[signal] ?? 15)
      return true
    })

  /** Ends `proc` with `status` (a signal's number: the raw wait status, §2.3). */
  const terminate = (proc: FakeProcess, status: number) =>
    Effect.gen(function*() {
      if (!proc.alive) return
      proc.alive = false
      proc.exitCode = status
      yield* Deferred.succeed(proc.done, status)
      if (proc.fiber !== undefined) yield* Effect.forkDetach(Fiber.interrupt(proc.fiber))
    })

  const kill = (distro: string) => (signal: string, targets: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const reached: Array<number> = []
      for (const target of targets) {
        const members = [...table.values()].filter((p) =>
          p.alive && DistroName.equals(p.distro, distro) && (target < 0 ? p.pgid === -target : p.pid === target)
        )
        let any = false
        for (const p of members) any = (yield* deliver(p, signal)) || any
        if (any) reached.push(target)
      }
      return reached
    })

  /** Runs the program at `path` as `proc` (a shell is interpreted by `FakeShell`). */
  const runProgram = (
    proc: FakeProcess,
    distro: Model.FakeDistro,
    path: string,
    argv: ReadonlyArray<string>,
    io: {
      readonly env: Readonly<Record<string, string>>
      readonly cwd: string | undefined
      readonly stdin: string
      readonly user: string | undefined
      readonly write: (stream: "stdout" | "stderr", text: string) => Effect.Effect<void>
    }
  ): Effect.Effect<number> =>
    Effect.gen(function*() {
      const name = executablesOf(distro).get(path) ?? path.split("/").pop()!
      if (shells.has(name)) return yield* runShell(proc, distro, name, argv, io)
      if (name === "wslinfo") {
        const out = Model.wslinfo(distro, argv)
        yield* io.write("stdout", out.stdout)
        yield* io.write("stderr", out.stderr)
        return out.exitCode
      }
      if (name === tool) return 0
      if (name === nodeName) {
        const r = yield* nodeProgram({
          argv,
          stdin: io.stdin,
          env: io.env,
          distro,
          cwd: io.cwd,
          user: io.user,
          pid: proc.pid,
          write: io.write
        })
        yield* io.write("stdout", r.stdout ?? "")
        return r.exitCode
      }
      if (name === windowsShim) {
        // An npm shim from Windows run by a Linux sh: its CRLF line ends break it
        // (microsoft/WSL#1512, #4249).
        yield* io.write("stderr", `${path}: 2: Syntax error: word unexpected (expecting "in")\n`)
        return 2
      }
      const program = programs[name]
      if (program === undefined) {
        yield* io.write("stderr", `${name}: command not found\n`)
        return 127
      }
      const r = yield* program({
        argv,
        stdin: io.stdin,
        env: io.env,
        distro,
        cwd: io.cwd,
        user: io.user,
        pid: proc.pid,
        write: io.write
      })
      yield* io.write("stdout", r.stdout ?? "")
      yield* io.write("stderr", r.stderr ?? "")
      return r.exitCode
    })

  /** `sh`/`bash` with their options: `-c script [arg0 args…]`, `-s` (script on stdin), `-l`, `-i`. */
  const runShell = (
    proc: FakeProcess,
    distro: Model.FakeDistro,
    name: string,
    argv: ReadonlyArray<string>,
    io: Parameters<typeof runProgram>[4]
  ): Effect.Effect<number> => {
    let i = 1
    let command = false
    let fromStdin = false
    let login = false
    let interactive = false
    for (; i < argv.length; i++) {
      const a = argv[i]!
      if (a === "--") {
        i++
        break
      }
      if (a === "--login") login = true
      if (a === "--login" || a === "--norc" || a === "--noprofile") continue
      if (!a.startsWith("-") || a === "-") break
      for (const f of a.slice(1)) {
        if (f === "c") command = true
        else if (f === "s") fromStdin = true
        else if (f === "l") login = true
        else if (f === "i") interactive = true
      }
    }
    const rest = argv.slice(i)
    // The Wsl service's probe scripts read from stdin are answered from the model when it
    // has the data (`FakeWslModel.answerScript`).
    if (!command && (fromStdin || rest.length === 0)) {
      const answered = Model.answerScript(distro, io.stdin)
      if (answered !== undefined) {
        return Effect.gen(function*() {
          yield* io.write("stdout", answered.stdout)
          yield* io.write("stderr", answered.stderr)
          return answered.exitCode
        })
      }
    }
    if (!command && !fromStdin && rest.length > 0) {
      return Effect.as(io.write("stderr", `${name}: 0: cannot open ${rest[0]}: No such file\n`), 2)
    }
    const script = command ? rest[0] ?? "" : io.stdin
    const args = command ? rest.slice(2) : rest
    // Startup files (windows-reality.md §5): ~/.profile for login shells, the rc file past its
    // interactive-only guard for interactive bash/zsh; what they print goes to stdout first.
    const started = Model.startup(distro, name, { login, interactive }, io.env["PATH"] ?? "", io.env)
    const env = { ...io.env, PATH: started.path }
    return Effect.gen(function*() {
      if (interactive) {
        // bash -i without a terminal says so on stderr (job control).
        yield* io.write(
          "stderr",
          `${name}: cannot set terminal process group (-1): Inappropriate ioctl for device\n${name}: no job control in this shell\n`
        )
      }
      yield* io.write("stdout", started.output)
      if (started.delayMillis > 0) yield* Effect.sleep(Duration.millis(started.delayMillis))
      if (started.exec !== undefined) {
        // A startup file replaced the shell (`exec tmux`): the command never runs.
        const outcome = Model.execOutcome(started.exec)
        yield* io.write("stderr", outcome.stderr)
        return outcome.exitCode
      }
      return yield* runScript(proc, distro, name, { ...io, env }, script, command, rest, args)
    })
  }

  const runScript = (
    proc: FakeProcess,
    distro: Model.FakeDistro,
    name: string,
    io: Parameters<typeof runProgram>[4],
    script: string,
    command: boolean,
    rest: ReadonlyArray<string>,
    args: ReadonlyArray<string>
  ): Effect.Effect<number> =>
    FakeShell.run(
      {
        pid: proc.pid,
        write: io.write,
        resolve: resolveIn(distro),
        run: (path, childArgv, child) => runProgram(proc, distro, path, childArgv, { ...child, user: io.user }),
        kill: kill(distro.name),
        ignore: (signal, ignored) =>
          Effect.sync(() => {
            if (ignored) proc.ignored.add(signal)
            else proc.ignored.delete(signal)
          })
      },
      {
        name,
        script,
        arg0: command ? rest[1] : undefined,
        args,
        env: io.env,
        cwd: io.cwd,
        stdin: command ? io.stdin : ""
      }
    )

  const bytes = (out: Model.Output) => ({
    exitCode: out.exitCode,
    stdout: out.fromWslExe ? DistroList.encode(out.stdout, { utf8 }) : encoder.encode(out.stdout),
    stderr: encoder.encode(out.stderr)
  })

  /**
   * Starts the Linux command of `step` as a session leader and waits for it. If the wait is
   * interrupted (wsl.exe killed), the relay's acts reach the command and nothing else does
   * (windows-reality.md §2.1): its output goes nowhere and its pid gets SIGHUP; a command that
   * ignores SIGHUP keeps running.
   */
  const execute = (
    step: Model.Exec,
    stdin: string,
    env: Readonly<Record<string, string | undefined>>,
    request: WslHost.RunRequest
  ) =>
    Effect.gen(function*() {
      // wsl.exe's own warnings (a call that boots the VM) come first, in its encoding (§6.7).
      const warnings = DistroList.encode(step.warnings, { utf8 })
      const answered = Model.answer(step, Model.readsScript(step) ? stdin : undefined)
      if (answered !== undefined) {
        const out = bytes(answered)
        return { ...out, stderr: concat([warnings, out.stderr]) }
      }
      const distro = step.distro
      const translated = Wslenv.translate(env, "toLinux", Model.pathContext(distro))
      const user = Model.userOf(step) ?? "user"
      const linuxEnv = {
        PATH: Model.execPath(distro),
        SHELL: distro.shell ?? "/bin/bash",
        HOME: Model.homeOf(distro),
        ...translated.env,
        USER: user,
        LOGNAME: user,
        WSL_DISTRO_NAME: distro.name
      }
      const pid = nextPid++
      const proc: FakeProcess = {
        pid,
        pgid: pid,
        distro: distro.name,
        argv: step.argv,
        ignored: new Set(),
        signals: [],
        alive: true,
        exitCode: undefined,
        broken: false,
        fiber: undefined,
        done: yield* Deferred.make<number>()
      }
      table.set(pid, proc)
      const stdout: Array<Uint8Array> = []
      const stderr: Array<Uint8Array> = []
      const group = request.linuxGroup
      const scanner = group === undefined ? undefined : new LinuxProcess.MarkerScanner(group.token)
      let reported = false
      if (scanner === undefined) stderr.push(warnings)
      else stderr.push(scanner.push(warnings))
      const write = (stream: "stdout" | "stderr", text: string): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (proc.broken || text.length === 0) return Effect.void
          const chunk = encoder.encode(text)
          if (stream === "stdout" || scanner === undefined) {
            ;(stream === "stdout" ? stdout : stderr).push(chunk)
            return Effect.void
          }
          stderr.push(scanner.push(chunk))
          if (scanner.pgid === undefined || reported || group === undefined) return Effect.void
          reported = true
          return group.onGroup(scanner.pgid)
        })
      const path = resolveIn(distro)(step.argv[0]!, linuxEnv.PATH)
      const body = path === undefined
        // execvpe failed: the relay exits 1 with init's error line (§2.3).
        ? Effect.as(
          write(
            "stderr",
            `<3>WSL (${pid} - Relay) ERROR: CreateProcessCommon:640: execvpe(${
              step.argv[0]
            }) failed: No such file or directory\n`
          ),
          1
        )
        : runProgram(proc, distro, path, step.argv, { env: linuxEnv, cwd: step.cwd, stdin, user: step.user, write })
      proc.fiber = yield* body.pipe(
        Effect.flatMap((code) => terminate(proc, code)),
        Effect.forkIn(scope, { startImmediately: true })
      )
      const exitCode = yield* Deferred.await(proc.done).pipe(
        Effect.onInterrupt(() =>
          Effect.gen(function*() {
            proc.broken = true
            yield* deliver(proc, "HUP")
          })
        )
      )
      if (scanner !== undefined) stderr.push(scanner.flush())
      return {
        exitCode,
        stdout: concat(stdout),
        stderr: concat(stderr),
        warnings: scanner?.preamble
      }
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
      if (step.kind === "Exec") return yield* execute(step, stdin, env, request)
      // --terminate / --shutdown end every process of the distro(s) at once, and the wsl.exe
      // attached to them returns 1 (no exit status came back; §2.3, §2.7).
      if (
        step.exitCode === 0 &&
        (request.args[0] === "--terminate" || request.args[0] === "-t" || request.args[0] === "--shutdown")
      ) {
        for (const p of table.values()) {
          if (request.args[0] === "--shutdown" || DistroName.equals(p.distro, request.args[1] ?? "")) {
            yield* terminate(p, 1)
          }
        }
      }
      return bytes(step)
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
    processes: Effect.sync(() =>
      [...table.values()].map((p): ProcessInfo => ({
        pid: p.pid,
        pgid: p.pgid,
        distro: p.distro,
        argv: p.argv,
        alive: p.alive,
        exitCode: p.exitCode,
        signals: [...p.signals]
      }))
    ),
    config: Ref.get(state),
    update: (f) => Ref.update(state, f)
  })
  return { host, control }
})

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}

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
