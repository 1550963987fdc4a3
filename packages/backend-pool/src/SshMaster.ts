/**
 * Master connections (OpenSSH `ControlMaster`): one per host, shared by every run on that host,
 * owned by the pool and closed with it; and the short `ssh` commands that go over them.
 *
 * Design from `shared/reference/ssh.md` §4:
 * - a **foreground** master, a child of this process: `ssh -M -o ControlPersist=no … HOST
 *   "exec sh -c 'echo <marker>; exec cat >/dev/null'"` with stdin a pipe from us. Closing that pipe (or our
 *   death) ends its session and then the master; a backgrounded `ControlPersist` master would
 *   outlive a killed host by the persist time (§4.5);
 * - control sockets in a private directory (`mkdtemp`, 0700) with short names: the usable
 *   `ControlPath` is at most 90 bytes on Linux, 86 on macOS (§4.2);
 * - at most {@link MastersOptions.sessionsPerMaster} long-lived sessions per master (default 8):
 *   sshd's `MaxSessions` is 10 per connection and an 11th session silently opens its own TCP
 *   connection (§4.4); a further master is opened for the same host instead;
 * - a session starts in ~36 ms over a master against ~307 ms fresh (§4.4).
 *
 * Windows' OpenSSH has no ControlMaster (§8): there, and with `multiplex: "never"`, there is no
 * master and every invocation is a connection of its own.
 *
 * @module
 */
import { type Cause, Context, Deferred, Effect, Exit, Layer, Queue, Schema, Scope, Semaphore, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { FailureClass, hashString } from "./BackendSpec.ts"
import * as SshConnection from "./SshConnection.ts"
import * as SshFailure from "./SshFailure.ts"
import { remoteCommand } from "./SshRemote.ts"

/** An ssh invocation failed; `reason` and `failureClass` come from {@link SshFailure.classify}. */
export class SshError extends Schema.TaggedError<SshError>()("SshError", {
  reason: Schema.String,
  failureClass: FailureClass,
  message: Schema.String,
  /** ssh's own last lines, for the log. */
  detail: Schema.String
}) {}

/** Turns a classified failure into the typed error. */
export const toError = (failure: SshFailure.SshFailure): SshError =>
  new SshError({
    reason: failure.reason,
    failureClass: failure.failureClass,
    message: failure.message,
    detail: failure.detail
  })

/** The context messages about `connection` mention. */
export const contextOf = (connection: SshConnection.SshConnection): SshFailure.FailureContext => ({
  target: SshConnection.describe(connection),
  host: connection.host,
  port: connection.port,
  user: connection.user,
  identityFile: connection.identityFile,
  knownHostsFile: connection.knownHostsFile
})

/** Classifies `stderr` for `connection` into the typed error. */
export const failure = (connection: SshConnection.SshConnection, stderr: string): SshError =>
  toError(SshFailure.classify(stderr, contextOf(connection)))

const executableOf = (connection: SshConnection.SshConnection) =>
  connection.executable ?? SshConnection.defaults.executable

// ---------------------------------------------------------------------------------------------
// Short commands
// ---------------------------------------------------------------------------------------------

/** What a short ssh command printed. */
export interface CommandResult {
  /** ssh's exit code (`-1` when a signal ended it). */
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Output kept per stream of a short command. */
const maxOutputBytes = 256 * 1024

const collect = (stream: Stream.Stream<Uint8Array, unknown>) =>
  stream.pipe(
    Stream.runFold(() => ({ text: "", bytes: 0 }), (acc, chunk: Uint8Array) => {
      if (acc.bytes >= maxOutputBytes) return acc
      const piece = chunk.subarray(0, maxOutputBytes - acc.bytes)
      return { text: acc.text + new TextDecoder().decode(piece, { stream: true }), bytes: acc.bytes + piece.length }
    }),
    Effect.map((acc) => acc.text),
    Effect.orElseSucceed(() => "")
  )

/**
 * Runs `ssh <args>` to completion with `stdin` (default: none, i.e. EOF at once) within
 * `timeoutMs`; the process is killed when the time is up (then `code` is -1 and stderr says so).
 * A client that cannot be started is the `ClientMissing` failure.
 */
export const run = (
  spawner: ChildProcessSpawner.ChildProcessSpawner["Service"],
  connection: SshConnection.SshConnection,
  args: ReadonlyArray<string>,
  options: { readonly stdin?: string | undefined; readonly timeoutMs: number }
): Effect.Effect<CommandResult, SshError> =>
  Effect.scoped(Effect.gen(function*() {
    const executable = executableOf(connection)
    const handle = yield* spawner.spawn(
      ChildProcess.make(executable, [...args], {
        stdin: options.stdin === undefined
          ? "ignore"
          : { stream: Stream.make(new TextEncoder().encode(options.stdin)), endOnDone: true },
        stdout: "pipe",
        stderr: "pipe",
        killSignal: "SIGKILL"
      })
    ).pipe(Effect.mapError(() => toError(SshFailure.clientMissing(executable, contextOf(connection)))))
    const outcome = yield* Effect.all([
      collect(handle.stdout),
      collect(handle.stderr),
      handle.exitCode.pipe(Effect.map(Number), Effect.orElseSucceed(() => -1))
    ], { concurrency: "unbounded" }).pipe(Effect.timeoutOption(options.timeoutMs))
    if (outcome._tag === "None") {
      yield* Effect.ignore(handle.kill({ killSignal: "SIGKILL" }))
      return { code: -1, stdout: "", stderr: `ssh did not finish within ${options.timeoutMs} ms` }
    }
    const [stdout, stderr, code] = outcome.value
    return { code, stdout, stderr }
  }))

/**
 * Runs a POSIX `sh` script on the remote: ssh's command is `exec sh -s [-- ARGS]` and the script
 * is its whole stdin (nothing variable in the command beyond `args`, which must not be secret).
 */
export const runScript = (
  spawner: ChildProcessSpawner.ChildProcessSpawner["Service"],
  connection: SshConnection.SshConnection,
  master: Master | undefined,
  script: string,
  options: { readonly args?: ReadonlyArray<string> | undefined; readonly timeoutMs: number }
): Effect.Effect<CommandResult, SshError> =>
  run(
    spawner,
    connection,
    SshConnection.sessionArgs(
      connection,
      modeOf(master),
      [],
      options.args === undefined || options.args.length === 0
        ? remoteCommand
        : `${remoteCommand} -- ${options.args.map(SshConnection.quoteWord).join(" ")}`
    ),
    { stdin: script, timeoutMs: options.timeoutMs }
  )

// ---------------------------------------------------------------------------------------------
// One master
// ---------------------------------------------------------------------------------------------

/** The line the master's remote command prints once the session runs. */
export const masterMarker = "@@isthmus-master"

/** A running master connection. */
export interface Master {
  readonly connection: SshConnection.SshConnection
  readonly controlPath: string
  readonly pid: number
  /** False once the master process exited (the control socket is then stale). */
  readonly isAlive: () => boolean
  /** Completes when the master process has exited. */
  readonly exited: Effect.Effect<void>
  /** ssh's messages so far (bounded). */
  readonly stderr: () => string
  /** Long-lived sessions (runs) currently using it. */
  sessions: number
}

/**
 * Starts a master for `connection` on `controlPath` and waits until it is usable (its session
 * printed {@link masterMarker} and the socket exists), at most the connect timeout plus 10 s.
 * A failure is classified from ssh's stderr. The master is closed (stdin EOF, then killed after
 * `closeGraceMs`) when the scope closes.
 */
export const startMaster = (
  spawner: ChildProcessSpawner.ChildProcessSpawner["Service"],
  connection: SshConnection.SshConnection,
  controlPath: string,
  options: { readonly closeGraceMs?: number | undefined } = {}
): Effect.Effect<Master, SshError, Scope.Scope> =>
  Effect.gen(function*() {
    const executable = executableOf(connection)
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const args = SshConnection.sessionArgs(
      connection,
      { _tag: "Master", path: controlPath },
      [],
      // A marker, then nothing but waiting for EOF on stdin: our pipe is the master's lifetime.
      // Through `exec sh -c` so a login shell that is not POSIX (cmd.exe, PowerShell) fails at
      // once with its own message, and fish or tcsh run it unchanged (no quote or newline inside).
      `exec sh -c 'echo ${masterMarker}; exec cat >/dev/null'`
    )
    const handle = yield* spawner.spawn(
      ChildProcess.make(executable, args, {
        stdin: { stream: Stream.fromQueue(input), endOnDone: true },
        stdout: "pipe",
        stderr: "pipe",
        killSignal: "SIGTERM",
        forceKillAfter: 2_000
      })
    ).pipe(Effect.mapError(() => toError(SshFailure.clientMissing(executable, contextOf(connection)))))
    let stderrText = ""
    const exited = yield* Deferred.make<void>()
    const ready = yield* Deferred.make<void>()
    let alive = true
    yield* handle.stderr.pipe(
      Stream.decodeText,
      Stream.runForEach((text) => Effect.sync(() => (stderrText = (stderrText + text).slice(-16_384)))),
      Effect.ignore,
      Effect.forkScoped({ startImmediately: true })
    )
    yield* handle.stdout.pipe(
      Stream.decodeText,
      Stream.splitLines,
      Stream.runForEach((line) => line.trim() === masterMarker ? Deferred.succeed(ready, undefined) : Effect.void),
      Effect.ignore,
      Effect.forkScoped({ startImmediately: true })
    )
    yield* handle.exitCode.pipe(
      Effect.ignore,
      Effect.ensuring(Effect.sync(() => (alive = false)).pipe(Effect.andThen(Deferred.succeed(exited, undefined)))),
      Effect.forkScoped({ startImmediately: true })
    )
    // Closing: EOF on stdin ends the remote `cat`, the session, then the master (which waits
    // for its remaining channels); the spawner's finalizer kills it if that takes too long.
    yield* Effect.addFinalizer(() =>
      Queue.end(input).pipe(
        Effect.andThen(Deferred.await(exited).pipe(Effect.timeout(options.closeGraceMs ?? 3_000), Effect.ignore)),
        Effect.andThen(Effect.sync(() => NodeFs.rmSync(controlPath, { force: true })))
      )
    )
    const timeoutMs = (connection.connectTimeoutSeconds ?? SshConnection.defaults.connectTimeoutSeconds) * 1_000 +
      10_000
    const first = yield* Effect.raceFirst(
      Deferred.await(ready).pipe(Effect.as("ready" as const)),
      Deferred.await(exited).pipe(Effect.as("exited" as const))
    ).pipe(Effect.timeoutOption(timeoutMs))
    if (first._tag === "None") {
      return yield* toError(
        SshFailure.classify(
          stderrText.length > 0 ? stderrText : `master connection not ready within ${timeoutMs} ms`,
          contextOf(connection)
        )
      )
    }
    if (first.value === "exited") {
      // Let the stderr reader finish, so the classification sees ssh's last message.
      yield* Effect.sleep(20)
      return yield* failure(connection, stderrText.length > 0 ? stderrText : "the master connection exited")
    }
    const master: Master = {
      connection,
      controlPath,
      pid: handle.pid as number,
      isAlive: () => alive,
      exited: Deferred.await(exited),
      stderr: () => stderrText,
      sessions: 0
    }
    return master
  })

// ---------------------------------------------------------------------------------------------
// The registry: masters per host, shared by the pool's runs
// ---------------------------------------------------------------------------------------------

/** Options of {@link makeMasters}. */
export interface MastersOptions {
  /** Long-lived sessions per master before another is opened (default 8; sshd's MaxSessions is 10). */
  readonly sessionsPerMaster?: number | undefined
  /** Whether this client supports ControlMaster (default: not on Windows). */
  readonly supportsMultiplexing?: boolean | undefined
  /** Where the control directory is made (default `os.tmpdir()`, or `/tmp` when that is too long). */
  readonly tmpdir?: string | undefined
}

/** The masters of one pool. */
export interface Masters {
  /** The private control directory (0700). */
  readonly dir: string
  /** Whether `connection` runs over masters (its `multiplex` and the client's support). */
  readonly multiplexed: (connection: SshConnection.SshConnection) => boolean
  /**
   * A live master for `connection` with room for one more long-lived session, which is counted
   * until the scope closes; `undefined` when the connection is not multiplexed.
   */
  readonly session: (
    connection: SshConnection.SshConnection
  ) => Effect.Effect<Master | undefined, SshError, Scope.Scope>
  /** A live master for `connection` (opening one if needed), for short commands. */
  readonly any: (connection: SshConnection.SshConnection) => Effect.Effect<Master | undefined, SshError>
  /** What is open now, for status displays. */
  readonly list: Effect.Effect<
    ReadonlyArray<{ readonly target: string; readonly pid: number; readonly sessions: number }>
  >
}

/** The control mode for a short command of `connection` given its master (if any). */
export const modeOf = (master: Master | undefined): SshConnection.ControlMode =>
  master === undefined ? { _tag: "None" } : { _tag: "Client", path: master.controlPath }

/**
 * Creates the masters of a pool in the current scope; closing the scope closes every master and
 * removes the control directory.
 */
export const makeMasters = (
  options: MastersOptions = {}
): Effect.Effect<Masters, never, Scope.Scope | ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const scope = yield* Effect.scope
    const limit = Math.max(1, options.sessionsPerMaster ?? 8)
    const supports = options.supportsMultiplexing ?? process.platform !== "win32"
    const base = SshConnection.controlDirBase(options.tmpdir ?? NodeOs.tmpdir(), process.platform)
    // Without a short enough directory there is no multiplexing (runs use their own connections).
    const dir = base === undefined
      ? ""
      : yield* Effect.acquireRelease(
        Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(base, "ism-"))),
        (d) => Effect.sync(() => NodeFs.rmSync(d, { recursive: true, force: true }))
      )
    const shards = new Map<string, Array<Master>>()
    const locks = new Map<string, Semaphore.Semaphore>()
    let serial = 0
    const lockOf = (key: string) => {
      let lock = locks.get(key)
      if (lock === undefined) {
        lock = Semaphore.makeUnsafe(1)
        locks.set(key, lock)
      }
      return lock
    }
    const multiplexed = (connection: SshConnection.SshConnection) =>
      supports && dir !== "" && (connection.multiplex ?? "auto") === "auto"

    /** A live master of `key` with fewer than `room` sessions, else a new one (opened in the pool's scope). */
    const acquire = (connection: SshConnection.SshConnection, room: number) => {
      const key = SshConnection.key(connection)
      return lockOf(key).withPermit(Effect.gen(function*() {
        const live = (shards.get(key) ?? []).filter((m) => m.isAlive())
        shards.set(key, live)
        const free = live.find((m) => m.sessions < room)
        if (free !== undefined) return free
        const path = NodePath.join(dir, `m-${hashString(key).slice(0, 10)}-${++serial}`)
        const masterScope = yield* Scope.fork(scope)
        const exit = yield* Effect.exit(startMaster(spawner, connection, path).pipe(Scope.provide(masterScope)))
        if (Exit.isFailure(exit)) {
          yield* Scope.close(masterScope, Exit.void)
          return yield* Effect.failCause(exit.cause)
        }
        const master = exit.value
        live.push(master)
        // When it dies on its own, its scope (and socket file) goes.
        yield* master.exited.pipe(
          Effect.andThen(Scope.close(masterScope, Exit.void)),
          Effect.forkIn(scope, { startImmediately: true })
        )
        return master
      }))
    }

    const session = (connection: SshConnection.SshConnection) =>
      multiplexed(connection)
        ? Effect.acquireRelease(
          acquire(connection, limit).pipe(Effect.tap((m) => Effect.sync(() => m.sessions++))),
          (m) => Effect.sync(() => m.sessions--)
        )
        : Effect.succeed(undefined)

    // Short commands may exceed the session budget by one or two (sshd allows 10).
    const any = (connection: SshConnection.SshConnection) =>
      multiplexed(connection) ? acquire(connection, limit + 2) : Effect.succeed(undefined)

    const list = Effect.sync(() =>
      [...shards.values()].flat().filter((m) => m.isAlive()).map((m) => ({
        target: SshConnection.describe(m.connection),
        pid: m.pid,
        sessions: m.sessions
      }))
    )
    const masters: Masters = { dir, multiplexed, session, any, list }
    return masters
  })

/** The masters of a pool, as a service shared by the `Ssh` and `Attach` launchers. */
export class SshMasters extends Context.Service<SshMasters, Masters>()("@isthmus/backend-pool/SshMasters") {
  /** The masters, closed (with their control directory) when the layer is released. */
  static readonly layer = (
    options: MastersOptions = {}
  ): Layer.Layer<SshMasters, never, ChildProcessSpawner.ChildProcessSpawner> =>
    Layer.effect(SshMasters, makeMasters(options))
}
