/**
 * A model of Windows process semantics that runs on Linux, so the real `LocalLauncher` and
 * `ProcessControl.windows` code runs against it (`shared/reference/windows-reality.md` §1, the
 * minimum spec of §1.15). What it models, with the fact each rests on:
 *
 * - **No groups, no signals** (1.1, 1.2, 1.4): {@link WindowsModel.kill} follows Node on Windows:
 *   SIGTERM/SIGINT/SIGKILL/SIGQUIT terminate exactly that process (exit code 1), any other signal
 *   throws ENOSYS, a negative pid throws ESRCH (so `kill(-pgid, 0)` never finds a group), pid 0
 *   terminates the caller, signal 0 answers liveness.
 * - **`taskkill /PID p /T /F`** (1.7): a snapshot walk from `p` through *living* parent links
 *   only (pids are never reparented, so a grandchild whose parent already exited is not found),
 *   each found process terminated with exit code 1; exit 0, 128 when `p` is not running, 1
 *   without `/F` ("can only be terminated forcefully"). Every call is recorded.
 * - **The host's job** (1.5): a child spawned not detached is in the host's kill-on-close job;
 *   {@link WindowsModel.hostDies} terminates exactly those, never their children (silent
 *   breakaway) nor detached ones.
 * - **Consoles** (1.6): each process records `console`: `hidden` with `windowsHide`, `window`
 *   without it (a GUI host's console child gets a visible window).
 * - **Exit reporting** (1.3): a process ended through its own handle (`ChildProcess.kill`)
 *   reports the signal; any other death reports exit code 1.
 * - **No graceful signal** (1.9): the only graceful channels are stdin EOF and the `child`
 *   helper's stop message, per program. The helper reads its control channel where
 *   `ISTHMUS_LIFETIME_FD` says (stdin, or a descriptor of its own: a Node child sees fds 3 and
 *   up through the CRT's table, 1.10), and nowhere when it is not set; what was written on stdin
 *   and on the control descriptor is kept per process (`stdinLines`, `controlLines`).
 * - **Stdout held by a grandchild** (1.11): a child can keep its parent's stdout open after the
 *   parent died; the parent's stdout ends only when every holder is gone.
 * - **PID reuse** (1.8): with `reusePids`, a new process takes the lowest pid of a dead one.
 * - **Shims** (1.12) are not modelled here: `CommandCheck` refuses `.cmd`/`.bat` before a spawn.
 *
 * @module
 */
import { type Cause, Deferred, Effect, Exit, Queue, Sink, Stream } from "effect"
import * as PlatformError from "effect/PlatformError"
import { ChildProcessSpawner } from "effect/process"
import type { CheckerShape } from "../CommandCheck.ts"
import { type ProcessControlShape, windows, type WindowsOs } from "../ProcessControl.ts"
import { ENV_LIFETIME_FD, STOP_MESSAGE } from "../Protocol.ts"

/** What a modelled program does. */
export interface ModelProgram {
  /** Lines it prints on stdout once started. */
  readonly output?: ReadonlyArray<string> | undefined
  /**
   * On the stop message on its control channel (`ISTHMUS_LIFETIME_FD`): `exit` (the `child`
   * helper: runs its shutdown hooks, exit 0; it also exits on that channel's EOF), or `ignore`
   * (a program that does not use the helper). Default `ignore`.
   */
  readonly onStopMessage?: "exit" | "ignore" | undefined
  /** On stdin EOF: `exit` (code 0) or `ignore` (default). */
  readonly onStdinEof?: "exit" | "ignore" | undefined
  /** Answers each line on stdin with lines on stdout (a program that speaks a protocol on stdio). */
  readonly respond?: ((line: string) => ReadonlyArray<string>) | undefined
  /** Children it starts at once (each `image` must be registered). */
  readonly children?:
    | ReadonlyArray<{
      readonly image: string
      /** The child keeps this process's stdout open (it inherited it). */
      readonly holdsStdout?: boolean | undefined
    }>
    | undefined
  /** Exits by itself (code 0) right after starting its children: they become escapees. */
  readonly exitAfterStart?: boolean | undefined
}

/** One process of the model's table. */
export interface ModelProcess {
  readonly pid: number
  /** The creator's pid, fixed at creation; never reparented (it may point at a dead pid). */
  readonly ppid: number
  readonly image: string
  readonly args: ReadonlyArray<string>
  readonly detached: boolean
  /** In the host's kill-on-close job (a direct, non-detached child of the host). */
  readonly inJob: boolean
  readonly console: "none" | "hidden" | "window"
  alive: boolean
  /** How it ended: an exit code, or the signal its own handle asked for. */
  exit: { readonly code: number | null; readonly signal: string | null } | undefined
  /** Shutdown hooks ran (the helper got the stop message). */
  hooksRan: boolean
  /** Whose stdout this process keeps open. */
  readonly holdsStdoutOf: number | undefined
  /** The lines written on its stdin (for a stdio backend: its RPC channel). */
  readonly stdinLines: Array<string>
  /** The lines written on its control descriptor, when it has one besides stdin. */
  readonly controlLines: Array<string>
  /** The `child` helper's control descriptor (`ISTHMUS_LIFETIME_FD`), when set. */
  readonly controlFd: number | undefined
}

interface Runtime {
  readonly exited: Deferred.Deferred<number | string>
  readonly stdout: Queue.Queue<Uint8Array, Cause.Done>
}

const encoder = new TextEncoder()

/** Node's errors on Windows, with their `code`. */
const errno = (code: string, syscall: string) => Object.assign(new Error(`${syscall} ${code}`), { code, syscall })

/** A Windows machine as the pool sees it; see the module documentation. */
export class WindowsModel {
  /** Every process ever started, by pid (dead ones stay, with their exit). */
  readonly table = new Map<number, ModelProcess>()
  /** The host process (Electron's main process or a Node host). */
  readonly host: ModelProcess
  /** The arguments of every `taskkill` run, in order (the real implementation's command lines). */
  readonly taskkillCalls: Array<ReadonlyArray<string>> = []
  /** Programs by image path: the model's file system (an unregistered image does not exist). */
  readonly programs = new Map<string, ModelProgram>()
  /** Give a new process the lowest pid of a dead one. */
  reusePids = false
  private nextPid = 1000
  private readonly runtime = new Map<number, Runtime>()

  constructor() {
    this.host = this.create({
      image: "C:\\Program Files\\App\\app.exe",
      args: [],
      ppid: 4,
      detached: false,
      console: "window",
      inJob: false
    })
  }

  /** Registers a program at `image` (e.g. `C:\\app\\backend.exe`). */
  program(image: string, program: ModelProgram): this {
    this.programs.set(image, program)
    return this
  }

  /** Live processes. */
  get alive(): ReadonlyArray<ModelProcess> {
    return [...this.table.values()].filter((p) => p.alive && p !== this.host)
  }

  private allocatePid(): number {
    if (this.reusePids) {
      const dead = [...this.table.values()].filter((p) => !p.alive && p !== this.host).map((p) => p.pid)
      if (dead.length > 0) return Math.min(...dead)
    }
    const pid = this.nextPid
    this.nextPid += 4 // Windows pids are multiples of 4
    return pid
  }

  private create(options: {
    image: string
    args: ReadonlyArray<string>
    ppid: number
    detached: boolean
    console: ModelProcess["console"]
    inJob: boolean
    holdsStdoutOf?: number | undefined
    controlFd?: number | undefined
  }): ModelProcess {
    const pid = this.table.size === 0 ? 5000 : this.allocatePid()
    const process: ModelProcess = {
      pid,
      ppid: options.ppid,
      image: options.image,
      args: options.args,
      detached: options.detached,
      inJob: options.inJob,
      console: options.console,
      alive: true,
      exit: undefined,
      hooksRan: false,
      holdsStdoutOf: options.holdsStdoutOf,
      stdinLines: [],
      controlLines: [],
      controlFd: options.controlFd
    }
    this.table.set(pid, process)
    return process
  }

  /** Ends process `pid` (TerminateProcess or a normal exit) and what depends on it. */
  private end(pid: number, exit: { code: number | null; signal: string | null }) {
    const p = this.table.get(pid)
    if (p === undefined || !p.alive) return
    p.alive = false
    p.exit = exit
    const rt = this.runtime.get(pid)
    if (rt !== undefined) Deferred.doneUnsafe(rt.exited, Exit.succeed(exit.signal ?? exit.code ?? 1))
    this.closeStdoutIfFree(pid)
    if (p.holdsStdoutOf !== undefined) this.closeStdoutIfFree(p.holdsStdoutOf)
  }

  private closeStdoutIfFree(pid: number) {
    const owner = this.table.get(pid)
    const rt = this.runtime.get(pid)
    if (owner === undefined || rt === undefined || owner.alive) return
    const held = [...this.table.values()].some((q) => q.alive && q.holdsStdoutOf === pid)
    if (!held) Queue.endUnsafe(rt.stdout)
  }

  /** Starts `image`'s program as a child of `ppid`, and its children. */
  private startProgram(proc: ModelProcess) {
    const program = this.programs.get(proc.image) ?? {}
    const rt = this.runtime.get(proc.pid)
    for (const line of program.output ?? []) {
      if (rt !== undefined) Queue.offerUnsafe(rt.stdout, encoder.encode(line + "\n"))
    }
    for (const child of program.children ?? []) {
      const c = this.create({
        image: child.image,
        args: [],
        ppid: proc.pid,
        detached: false,
        console: proc.console === "window" ? "window" : "hidden",
        // Silent breakaway: a backend's own children are not in the host's job (1.5).
        inJob: false,
        holdsStdoutOf: child.holdsStdout === true ? proc.pid : undefined
      })
      this.startProgram(c)
    }
    if (program.exitAfterStart === true) this.end(proc.pid, { code: 0, signal: null })
  }

  /** A line on `pid`'s descriptor `fd` (0: stdin), or its EOF (`undefined`). */
  private input(pid: number, fd: number, line: string | undefined) {
    const p = this.table.get(pid)
    if (p === undefined || !p.alive) return
    const program = this.programs.get(p.image) ?? {}
    if (line !== undefined && fd === 0) {
      p.stdinLines.push(line)
      const rt = this.runtime.get(pid)
      for (const out of program.respond?.(line) ?? []) {
        if (rt !== undefined) Queue.offerUnsafe(rt.stdout, encoder.encode(out + "\n"))
      }
    } else if (line !== undefined && fd === p.controlFd) p.controlLines.push(line)
    if (fd === 0 && line === undefined && program.onStdinEof === "exit") {
      return this.end(pid, { code: 0, signal: null })
    }
    // The helper's control channel: the stop message runs its hooks; a separate pipe's EOF too.
    if (fd !== p.controlFd || program.onStopMessage !== "exit") return
    if (line === undefined ? fd !== 0 : line.replace(/\r$/, "") === STOP_MESSAGE) {
      p.hooksRan = true
      this.end(pid, { code: 0, signal: null })
    }
  }

  /**
   * Node's `process.kill(pid, signal)` on Windows (throws as Node does). `caller` is the process
   * calling it (default the host).
   */
  kill(pid: number, signal: NodeJS.Signals | 0, caller: number = this.host.pid): boolean {
    if (pid < 0) throw errno("ESRCH", "kill")
    if (pid === 0) {
      if (signal === 0) return true
      this.end(caller, { code: 1, signal: null })
      return true
    }
    const target = this.table.get(pid)
    if (signal === 0) {
      if (target === undefined || !target.alive) throw errno("ESRCH", "kill")
      return true
    }
    if (signal !== "SIGTERM" && signal !== "SIGINT" && signal !== "SIGKILL" && signal !== "SIGQUIT") {
      throw errno("ENOSYS", "kill")
    }
    if (target === undefined || !target.alive) throw errno("ESRCH", "kill")
    this.end(pid, { code: 1, signal: null })
    return true
  }

  /** `taskkill.exe` with `args` (see the module documentation). */
  taskkill(args: ReadonlyArray<string>): { readonly code: number; readonly output: string } {
    this.taskkillCalls.push(args)
    const upper = args.map((a) => a.toUpperCase())
    const at = upper.indexOf("/PID")
    const pid = at === -1 ? Number.NaN : Number(args[at + 1])
    const target = this.table.get(pid)
    if (target === undefined || !target.alive) {
      return { code: 128, output: `ERROR: The process "${args[at + 1]}" not found.\r\n` }
    }
    if (!upper.includes("/F")) {
      return {
        code: 1,
        output:
          `ERROR: The process with PID ${pid} could not be terminated.\r\nReason: This process can only be terminated forcefully (with /F option).\r\n`
      }
    }
    // A snapshot of the living processes; the tree follows parent links between living ones.
    const snapshot = this.alive
    const tree = [target]
    if (upper.includes("/T")) {
      for (let i = 0; i < tree.length; i++) {
        for (const q of snapshot) if (q.ppid === tree[i]!.pid && !tree.includes(q)) tree.push(q)
      }
    }
    const lines: Array<string> = []
    for (const q of tree.toReversed()) {
      this.end(q.pid, { code: 1, signal: null })
      lines.push(`SUCCESS: The process with PID ${q.pid} (child process of PID ${q.ppid}) has been terminated.`)
    }
    return { code: 0, output: lines.join("\r\n") + "\r\n" }
  }

  /** The host dies (a crash, Task Manager): its job closes and terminates the processes in it. */
  hostDies(): void {
    for (const p of this.alive) if (p.inJob) this.end(p.pid, { code: 1, signal: null })
    this.host.alive = false
  }

  /** The OS operations `ProcessControl.windows` needs, answered by this model. */
  get os(): WindowsOs {
    return { taskkill: (args) => Effect.sync(() => this.taskkill(args)) }
  }

  /** The real Windows process control over this model. */
  get control(): ProcessControlShape {
    return windows(this.os)
  }

  /** The command check over this model's "file system": the registered images. */
  get checker(): CheckerShape {
    return {
      check: (id, command) =>
        Effect.succeed(
          this.programs.has(command) ? undefined : {
            code: "ENOENT" as const,
            message: `${JSON.stringify(command)} (the command of ${id}) does not exist: fix the spec's command`
          }
        )
    }
  }

  /**
   * A `ChildProcessSpawner` whose processes are this model's: the spawn options the launcher
   * passes decide `detached`, the job and the console; stdin lines and EOF reach the program.
   */
  get spawner(): ChildProcessSpawner.ChildProcessSpawner["Service"] {
    return ChildProcessSpawner.make((command) =>
      Effect.gen({ self: this }, function*() {
        if (command._tag !== "StandardCommand") {
          return yield* Effect.die(new Error("the Windows model spawns standard commands only"))
        }
        if (!this.programs.has(command.command)) {
          return yield* Effect.fail(
            PlatformError.systemError({
              _tag: "NotFound",
              module: "ChildProcess",
              method: "spawn",
              pathOrDescriptor: command.command
            })
          )
        }
        const options = command.options
        const detached = options.detached ?? false
        const lifetime = (options.env as Record<string, unknown> | undefined)?.[ENV_LIFETIME_FD]
        const proc = this.create({
          image: command.command,
          args: command.args.map(String),
          ppid: this.host.pid,
          detached,
          inJob: !detached,
          console: options.windowsHide === true ? "hidden" : "window",
          controlFd: typeof lifetime === "string" && /^\d+$/.test(lifetime) ? Number(lifetime) : undefined
        })
        const exited = yield* Deferred.make<number | string>()
        const stdout = yield* Queue.unbounded<Uint8Array, Cause.Done>()
        this.runtime.set(proc.pid, { exited, stdout })
        const stdinConfig = options.stdin
        const inputs: Array<[number, unknown]> = [[
          0,
          typeof stdinConfig === "object" && stdinConfig !== null && "stream" in stdinConfig
            ? stdinConfig.stream
            : undefined
        ]]
        for (const [name, config] of Object.entries(options.additionalFds ?? {})) {
          if (config.type === "input" && config.stream !== undefined) {
            inputs.push([Number(name.slice(2)), config.stream])
          }
        }
        for (const [fd, input] of inputs) {
          if (input === undefined || typeof input !== "object") continue
          let buffered = ""
          yield* (input as Stream.Stream<Uint8Array>).pipe(
            Stream.runForEach((chunk) =>
              Effect.sync(() => {
                buffered += new TextDecoder().decode(chunk)
                let nl = buffered.indexOf("\n")
                while (nl !== -1) {
                  this.input(proc.pid, fd, buffered.slice(0, nl))
                  buffered = buffered.slice(nl + 1)
                  nl = buffered.indexOf("\n")
                }
              })
            ),
            Effect.andThen(Effect.sync(() => this.input(proc.pid, fd, undefined))),
            Effect.ignore,
            Effect.forkScoped({ startImmediately: true })
          )
        }
        this.startProgram(proc)
        return ChildProcessSpawner.makeHandle({
          pid: ChildProcessSpawner.ProcessId(proc.pid),
          exitCode: Effect.flatMap(Deferred.await(exited), (result) =>
            typeof result === "number"
              ? Effect.succeed(ChildProcessSpawner.ExitCode(result))
              : Effect.fail(
                PlatformError.systemError({
                  _tag: "Unknown",
                  module: "ChildProcess",
                  method: "exitCode",
                  description: `terminated by signal: '${result}'`
                })
              )),
          isRunning: Effect.sync(() => proc.alive),
          // Through its own handle: TerminateProcess of this one process, the signal recorded (1.3).
          kill: (killOptions) =>
            Effect.sync(() =>
              this.end(proc.pid, { code: null, signal: killOptions?.killSignal?.toString() ?? "SIGTERM" })
            ),
          stdin: Sink.drain,
          stdout: Stream.fromQueue(stdout),
          stderr: Stream.empty,
          all: Stream.fromQueue(stdout),
          getInputFd: () => Sink.drain,
          getOutputFd: () => Stream.empty,
          unref: Effect.succeed(Effect.void)
        })
      })
    )
  }
}

/** A fresh model. */
export const make = (): WindowsModel => new WindowsModel()
