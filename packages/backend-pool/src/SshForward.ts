/**
 * Port forwards from this machine to a host, for the `Ssh` and `Attach` launchers
 * (`shared/reference/ssh.md` §5):
 * - over a master: `ssh -O forward -L LOCAL:TARGET_HOST:TARGET_PORT` (19–45 ms), cancelled with
 *   `-O cancel` (which exits 0 even when it fails, §4.3; nothing depends on it: the master ends
 *   with the pool anyway);
 * - without one (Windows' OpenSSH, `multiplex: "never"`): a standalone `ssh -N -o
 *   ExitOnForwardFailure=yes -L …` for the life of the scope, up once its local end accepts;
 * - the local end is a TCP port on 127.0.0.1 (ssh cannot allocate one, `-L 0:` is rejected: a free
 *   port is picked and the forward retried on `Port forwarding failed`, the race lost) or a Unix
 *   socket in the pool's private directory, created owner-only (`StreamLocalBindMask` 0177).
 *
 * @module
 */
import { Effect, Scope, Stream } from "effect"
import { ChildProcess, type ChildProcessSpawner } from "effect/process"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodeNet from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { allocatePort } from "./BackendInstance.ts"
import * as SshConnection from "./SshConnection.ts"
import * as SshFailure from "./SshFailure.ts"
import * as SshMaster from "./SshMaster.ts"

/** The local end of a forward. */
export type LocalEnd = { readonly port: number } | { readonly path: string }

/** What a forward goes to, as seen from the host. */
export interface Target {
  readonly host: string
  readonly port: number
}

/** What {@link open} needs. */
export interface ForwardContext {
  readonly spawner: ChildProcessSpawner.ChildProcessSpawner["Service"]
  readonly masters: SshMaster.Masters
  readonly connection: SshConnection.SshConnection
  /** The master the forward is opened on (`undefined`: a standalone tunnel). */
  readonly master: SshMaster.Master | undefined
  /** The forward lives until this scope closes. */
  readonly scope: Scope.Scope
  readonly timeoutMs: number
}

let serial = 0

/** Whether something accepts a connection at `end` now. */
const accepts = (end: LocalEnd) =>
  Effect.callback<boolean>((resume) => {
    const s = "path" in end ? NodeNet.connect(end.path) : NodeNet.connect(end.port, "127.0.0.1")
    s.once("connect", () => {
      s.destroy()
      resume(Effect.succeed(true))
    })
    s.once("error", () => resume(Effect.succeed(false)))
    return Effect.sync(() => s.destroy())
  })

const openOnce = (context: ForwardContext, target: Target, kind: "tcp" | "unix") =>
  Effect.gen(function*() {
    const { connection, masters, spawner, scope } = context
    let end: LocalEnd
    if (kind === "unix") {
      const dir = masters.dir !== "" ? masters.dir : NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "ism-"))
      end = { path: NodePath.join(dir, `f-${process.pid.toString(36)}-${++serial}.sock`) }
    } else {
      end = { port: yield* allocatePort }
    }
    const spec = `${"path" in end ? end.path : `127.0.0.1:${end.port}`}:${target.host}:${target.port}`
    const removeSocket = Effect.sync(() => {
      if ("path" in end) NodeFs.rmSync(end.path, { force: true })
    })
    if (context.master !== undefined) {
      const live = context.master.isAlive() ? context.master : yield* masters.any(connection)
      const r = yield* SshMaster.run(
        spawner,
        connection,
        SshConnection.sessionArgs(connection, SshMaster.modeOf(live), ["-O", "forward", "-L", spec]),
        { timeoutMs: context.timeoutMs }
      )
      if (r.code !== 0) return yield* SshMaster.failure(connection, r.stderr || "forward request failed")
      yield* Scope.addFinalizer(
        scope,
        SshMaster.run(
          spawner,
          connection,
          SshConnection.sessionArgs(connection, SshMaster.modeOf(live), ["-O", "cancel", "-L", spec]),
          { timeoutMs: 10_000 }
        ).pipe(Effect.ignore, Effect.andThen(removeSocket))
      )
      return end
    }
    // No master: a tunnel of its own, for the life of the scope.
    const tunnel = yield* spawner.spawn(
      ChildProcess.make(
        connection.executable ?? SshConnection.defaults.executable,
        SshConnection.sessionArgs(connection, { _tag: "None" }, ["-N", "-o", "ExitOnForwardFailure=yes", "-L", spec]),
        { stdin: "ignore", stdout: "ignore", stderr: "pipe", killSignal: "SIGTERM", forceKillAfter: 2_000 }
      )
    ).pipe(
      Effect.provideService(Scope.Scope, scope),
      Effect.mapError(() =>
        SshMaster.toError(
          SshFailure.clientMissing(connection.executable ?? "ssh", SshMaster.contextOf(connection))
        )
      )
    )
    let stderr = ""
    yield* tunnel.stderr.pipe(
      Stream.decodeText,
      Stream.runForEach((t) => Effect.sync(() => (stderr = (stderr + t).slice(-8_192)))),
      Effect.ignore,
      Effect.forkIn(scope, { startImmediately: true })
    )
    yield* Scope.addFinalizer(scope, removeSocket)
    // Up when the local end accepts; a tunnel that exits has failed (ExitOnForwardFailure).
    const up = Effect.gen(function*() {
      while (!(yield* accepts(end))) yield* Effect.sleep(50)
      return true
    })
    const first = yield* Effect.raceFirst(
      up,
      tunnel.exitCode.pipe(Effect.as(false), Effect.orElseSucceed(() => false))
    ).pipe(Effect.timeoutOption(context.timeoutMs))
    if (first._tag === "None" || !first.value) {
      yield* Effect.sleep(20)
      return yield* SshMaster.failure(connection, stderr || "the port forward did not come up")
    }
    return end
  })

/**
 * Opens a forward from a new local end to `target` on the host; TCP forwards are retried on a
 * new port when the race for the local port was lost (3 more times).
 */
export const open = (
  context: ForwardContext,
  target: Target,
  kind: "tcp" | "unix"
): Effect.Effect<LocalEnd, SshMaster.SshError> =>
  Effect.gen(function*() {
    let attempt = 0
    while (true) {
      const r = yield* Effect.result(openOnce(context, target, kind))
      if (r._tag === "Success") return r.success
      if (r.failure.reason !== "ForwardRefused" || kind === "unix" || ++attempt > 3) return yield* r.failure
    }
  })

/**
 * Whether something answers through the forward: an HTTP response (any status) for web URLs, else
 * a connection that stays open (ssh accepts locally and closes at once when the host refuses the
 * channel). One attempt, at most 3 s.
 */
export const answers = (end: LocalEnd, http: boolean): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(Effect.succeed(ok))
    }
    const timer = setTimeout(() => finish(false), 3_000)
    if (http) {
      const request = NodeHttp.request(
        { ...("path" in end ? { socketPath: end.path } : { host: "127.0.0.1", port: end.port }), path: "/" },
        (response) => {
          response.resume()
          finish(true)
        }
      )
      request.once("error", () => finish(false))
      request.end()
      return Effect.sync(() => request.destroy())
    }
    const socket = "path" in end ? NodeNet.connect(end.path) : NodeNet.connect(end.port, "127.0.0.1")
    socket.once("connect", () =>
      setTimeout(() => {
        finish(!socket.destroyed && socket.readyState === "open")
        socket.destroy()
      }, 150))
    socket.once("close", () => finish(false))
    socket.once("error", () => finish(false))
    return Effect.sync(() => socket.destroy())
  })
