/**
 * The `Ssh` launcher: a backend on another machine, through the system OpenSSH client.
 *
 * One run (facts from `shared/reference/ssh.md`, section numbers in brackets):
 * 1. **Preflight** (before every launch): the spec is checked (connection options, identity and
 *    known-hosts files, ports, readiness), the host's master connection is opened or reused
 *    ([4]), and a probe script runs there: is the command on the login shell's PATH, is the
 *    working directory there, does Node satisfy the range, are the tools and the watchdog's needs
 *    (`cat`, `kill`, `sleep`, `setsid` or `perl`) present. Failures are classified
 *    (`SshFailure`): host key unknown or changed, key refused, no such host, a non-POSIX shell,
 *    a missing runtime are fatal with the fix; refused, timed out, dropped are transient.
 * 2. **Launch**: `ssh -T … HOST 'exec sh -s'` over the master, with stdin carrying the loader,
 *    the header (argv, cwd, environment and secrets, grace, signal) and then the bootstrap line
 *    and the lifetime pipe (`SshRemote`). On the remote the `Watchdog` leads the backend's
 *    process group, reports `@@pgid` first and stops the group (signal, grace, KILL) when stdin
 *    reaches EOF: our close, our death, or the connection's. Nothing variable is in any remote
 *    argv of ssh's command; the backend's own argv is, as on any host [6].
 * 3. **Port**: the backend binds 127.0.0.1 on the remote (port 0 is fine) and reports its URL
 *    (the `child` helper's `signalReady`, or a `LogLine`); the launcher forwards it on the master
 *    (`-O forward -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE`, a free local port picked and retried on
 *    `Port forwarding failed` [5]; or a Unix socket, owner-only), checks the path end to end and
 *    reports the local URL. A `Fixed` port is forwarded at launch, so polling readiness checks
 *    (`Http`, `Tcp`, `Rpc`) probe the local end.
 * 4. **Stop**: the `Watchdog`'s stop loop runs on the remote over the master (signal to the group,
 *    grace, KILL, until the group is empty) and reports how it went [7]; then the session's stdin
 *    is closed and the local ssh awaited. When the remote cannot be reached, closing stdin leaves
 *    the stop to the remote watchdog and the outcome says it is unverified.
 *
 * Without ControlMaster (Windows' OpenSSH, or `multiplex: "never"`) every run, stop and probe is
 * a connection of its own and each forward a standalone `ssh -N -L` [8].
 *
 * @module
 */
import { type Cause, Clock, Deferred, Effect, Exit, Layer, Queue, Redacted, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import semver from "semver"
import * as AttachLauncher from "./AttachLauncher.ts"
import {
  type BackendSpec,
  type PreflightError,
  type ReadyInfo,
  resolveReadiness,
  type SshLaunch
} from "./BackendSpec.ts"
import {
  type Launcher,
  LaunchError,
  Launchers,
  type ProcessExit,
  type RunningProcess,
  type StopOutcome,
  wrongLauncher
} from "./Launcher.ts"
import { bootstrapEnv, make as makeLocal, substitutePort } from "./LocalLauncher.ts"
import { portOfUrl } from "./Protocol.ts"
import * as SshConnection from "./SshConnection.ts"
import * as SshFailure from "./SshFailure.ts"
import * as SshForward from "./SshForward.ts"
import * as SshMaster from "./SshMaster.ts"
import { checkConnection, fatal, toPreflight } from "./SshPreflight.ts"
import * as SshRemote from "./SshRemote.ts"
import * as Watchdog from "./Watchdog.ts"

/** Options of the `Ssh` launcher. */
export interface SshLauncherOptions {
  /** How long a short command (probe, stop, forward) may take, beyond a stop's grace (default 30 000 ms). */
  readonly commandTimeoutMs?: number | undefined
}

const loopback = new Set(["127.0.0.1", "localhost", "0.0.0.0", "::", "[::]", "::1", "[::1]"])

const encode = (text: string) => new TextEncoder().encode(text)

/**
 * Checks an `Ssh` spec without touching the network: the connection ({@link checkConnection}),
 * the port and readiness kinds, the command's text, the Node range.
 */
export const checkSpec = (spec: BackendSpec, launch: SshLaunch): PreflightError | undefined => {
  const bad = checkConnection(spec.id, "connection", launch.connection)
  if (bad !== undefined) return bad
  if (spec.port?._tag === "Allocated") {
    return fatal(
      `${spec.id}: an Ssh backend cannot use an Allocated port (the pool can only see this machine's ports): ` +
        `use Reported (the backend binds 127.0.0.1:0 on the host and reports it) or a Fixed port`
    )
  }
  const check = resolveReadiness(spec).check
  const reported = (spec.port ?? { _tag: "Reported" })._tag === "Reported"
  if (reported && check._tag !== "Signal" && check._tag !== "LogLine" && check._tag !== "Stdio") {
    return fatal(
      `${spec.id}: with a Reported port, an Ssh backend's readiness must be Signal or LogLine (its ready line ` +
        `carries the port to forward); to probe it with ${check._tag}, give it a Fixed port`
    )
  }
  for (const text of [launch.command, ...(launch.args ?? []), launch.cwd ?? ""]) {
    if (!SshConnection.isSendable(text)) return fatal(`${spec.id}: the command, an argument or cwd contains a NUL byte`)
  }
  const range = launch.requirements?.node
  if (range !== undefined && semver.validRange(range) === null) {
    return fatal(`${spec.id}: requirements.node ${JSON.stringify(range)} is not a semver range (e.g. ">=22.19")`)
  }
  return undefined
}

/** The verdict on a probe, as a preflight failure (undefined: fine). */
export const judgeProbe = (
  target: string,
  launch: SshLaunch,
  probe: SshRemote.ProbeResult
): PreflightError | undefined => {
  const problems: Array<string> = []
  if (probe.commandPath === undefined) {
    problems.push(
      `${JSON.stringify(launch.command)} was not found on ${target} (the PATH of a non-interactive login shell, ` +
        `which does not load nvm, fnm or ~/.profile): install it there or give its absolute path`
    )
  }
  const range = launch.requirements?.node
  if (range !== undefined) {
    if (probe.nodePath === undefined) {
      problems.push(`Node.js is not on the PATH of ${target}: install Node.js ${range} there`)
    } else {
      const version = semver.coerce(probe.nodeVersion ?? "")
      if (version === null || !semver.satisfies(version, range, { includePrerelease: true })) {
        problems.push(
          `Node.js ${probe.nodeVersion ?? "(version unknown)"} at ${probe.nodePath} on ${target} does not satisfy ` +
            `${range}: install a matching version there (or point command at one)`
        )
      }
    }
  }
  if (probe.missing.length > 0) {
    problems.push(
      `missing on ${target}: ${probe.missing.join(", ")} (install them with the host's package manager)`
    )
  }
  if (probe.cwdMissing) problems.push(`the working directory ${launch.cwd ?? ""} does not exist on ${target}`)
  if (!probe.complete) problems.push(`the preflight probe on ${target} did not finish`)
  return problems.length === 0 ? undefined : fatal(problems.join("; "))
}

/** Host and port to forward to, from the URL (or port) the backend reported where it runs. */
export const forwardTarget = (
  info: ReadyInfo
): { host: string; port: number; url: URL | undefined; reported: string | undefined } | undefined => {
  let url: URL | undefined
  try {
    url = info.url === undefined ? undefined : new URL(info.url)
  } catch {
    url = undefined
  }
  const port = info.port ?? (url === undefined ? undefined : portOfUrl(url.toString()))
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) return undefined
  const hostname = url?.hostname ?? "127.0.0.1"
  return {
    host: loopback.has(hostname) ? "127.0.0.1" : hostname,
    port,
    url,
    reported: url === undefined ? undefined : info.url
  }
}

/** The reported URL with its host and port replaced by the local end of the forward (no slash added). */
export const localUrl = (reported: string | undefined, localPort: number): string => {
  if (reported === undefined) return `http://127.0.0.1:${localPort}`
  const u = new URL(reported)
  u.hostname = "127.0.0.1"
  u.port = String(localPort)
  const text = u.toString()
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*$/i.test(reported) ? text.replace(/\/$/, "") : text
}

/**
 * Builds the `Ssh` launcher. Requires `SshMasters` (shared with the `Attach` launcher) and a
 * `ChildProcessSpawner`.
 */
export const make = (
  options: SshLauncherOptions = {}
): Effect.Effect<Launcher, never, SshMaster.SshMasters | ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.gen(function*() {
    const masters = yield* SshMaster.SshMasters
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const commandTimeoutMs = options.commandTimeoutMs ?? 30_000

    const preflight = Effect.fn("SshLauncher.preflight")(function*(spec: BackendSpec) {
      const launch = spec.launcher
      if (launch._tag !== "Ssh") return
      const invalid = checkSpec(spec, launch)
      if (invalid !== undefined) return yield* invalid
      const connection = launch.connection
      const target = SshConnection.describe(connection)
      const master = yield* masters.any(connection).pipe(Effect.mapError(toPreflight))
      const script = SshRemote.probeScript(launch.command, { ...launch.requirements, cwd: launch.cwd })
      const result = yield* SshMaster.runScript(spawner, connection, master, script, { timeoutMs: commandTimeoutMs })
        .pipe(Effect.mapError(toPreflight))
      const probe = SshRemote.parseProbe(result.stdout)
      if (!probe.ran) {
        const failure = SshFailure.classify(`${result.stderr}\n${result.stdout}`, SshMaster.contextOf(connection))
        if (failure.reason !== "Unknown") return yield* toPreflight(SshMaster.toError(failure))
        return yield* fatal(
          `the login shell of ${target} did not run the launcher's \`exec sh -s\` (exit ${result.code}): it is ` +
            `probably not a POSIX shell, or its rc files fail. Use a host whose account has a POSIX shell. ` +
            `Output: ${
              SshFailure.classify(`${result.stderr}\n${result.stdout}`, SshMaster.contextOf(connection)).detail
            }`
        )
      }
      const verdict = judgeProbe(target, launch, probe)
      if (verdict !== undefined) return yield* verdict
    })

    const launchRun = Effect.fn("SshLauncher.launch")(function*(request: Parameters<Launcher["launch"]>[0]) {
      const launch = request.spec.launcher
      if (launch._tag !== "Ssh") return yield* wrongLauncher("Ssh", request)
      const connection = launch.connection
      const target = SshConnection.describe(connection)
      const context = SshMaster.contextOf(connection)
      const runScope = yield* Effect.scope
      const master = yield* masters.session(connection).pipe(
        Effect.mapError((e) => new LaunchError({ kind: "Ssh", message: e.message }))
      )
      // fd 3 cannot cross ssh: it goes on stdin, like WSL's — except for a stdio backend, whose
      // stdin is the protocol: its envelope goes in the environment, which travels in the header
      // over the session's stdin (never argv). No lifetime descriptor is named for it either: only
      // stdin crosses, and the remote watchdog turns the channel's EOF into the group stop.
      const stdio = request.spec.stdio !== undefined
      const requested = request.spec.bootstrap?.delivery ?? "none"
      const delivery = requested === "fd3" ? (stdio ? "env" : "stdin") : requested
      const env: Record<string, string> = { ...request.env }
      for (const [k, v] of Object.entries(bootstrapEnv(delivery, request.bootstrapLine, stdio ? null : 0))) {
        env[k] = Redacted.isRedacted(v) ? Redacted.value(v) : v
      }
      for (const [k, v] of Object.entries(request.secrets)) env[k] = Redacted.value(v)
      const header = SshRemote.header({
        command: launch.command,
        args: substitutePort(launch.args ?? [], request.port),
        cwd: launch.cwd,
        env,
        graceMs: request.stop.graceMs,
        signal: request.stop.signal
      })
      const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
      yield* Queue.offer(input, encode(SshRemote.loaderScript))
      const handle = yield* spawner.spawn(
        ChildProcess.make(
          connection.executable ?? SshConnection.defaults.executable,
          SshConnection.sessionArgs(connection, SshMaster.modeOf(master), [], SshRemote.remoteCommand),
          {
            stdin: { stream: Stream.fromQueue(input), endOnDone: true },
            stdout: "pipe",
            stderr: "pipe",
            killSignal: "SIGTERM",
            forceKillAfter: 2_000
          }
        )
      ).pipe(
        Effect.mapError(() =>
          new LaunchError({
            kind: "Ssh",
            message: SshFailure.clientMissing(connection.executable ?? "ssh", context).message
          })
        )
      )
      const pid = handle.pid as number
      let stopping: Deferred.Deferred<StopOutcome> | undefined
      const pgid = yield* Deferred.make<number | null>()
      const decoder = new Watchdog.OutputDecoder({
        reportExit: true,
        onHeader: (n) => Deferred.doneUnsafe(pgid, Exit.succeed(n))
      })
      // The backend's stdin (a stdio channel's bytes) waits until the header has gone out.
      let headerSent = false
      let stdinClosed = false
      const held: Array<Uint8Array> = []
      const handshake = new SshRemote.HandshakeDecoder(() => {
        // The loader is running and reads the header now; then the backend's stdin follows.
        Queue.offerUnsafe(input, encode(header))
        if (delivery === "stdin" && request.bootstrapLine !== undefined) {
          Queue.offerUnsafe(input, encode(Redacted.value(request.bootstrapLine)))
        }
        for (const chunk of held.splice(0)) Queue.offerUnsafe(input, chunk)
        headerSent = true
        if (stdinClosed) Queue.endUnsafe(input)
      })
      const stdin = {
        write: (chunk: Uint8Array) =>
          Effect.suspend(() => {
            if (stdinClosed) return Effect.succeed(false)
            if (headerSent) return Queue.offer(input, chunk)
            held.push(chunk)
            return Effect.succeed(true)
          }),
        close: Effect.suspend(() => {
          stdinClosed = true
          return headerSent ? Effect.asVoid(Queue.end(input)) : Effect.void
        })
      }
      let stderrTail = ""
      const stdoutDone = yield* Deferred.make<void>()
      const stdout = handle.stdout.pipe(
        Stream.map((chunk) => handshake.push(chunk)),
        Stream.concat(Stream.suspend(() => Stream.make(handshake.end()))),
        (s) => Watchdog.decodeOutput(s, decoder),
        Stream.ensuring(Deferred.succeed(stdoutDone, undefined))
      )
      // When the session ends without the watchdog's @@exit (the connection failed or dropped),
      // one more stderr line says what ssh's messages mean and what to do.
      const stderr = handle.stderr.pipe(
        Stream.tap((chunk) =>
          Effect.sync(() => {
            stderrTail = (stderrTail + new TextDecoder().decode(chunk)).slice(-8_192)
          })
        ),
        Stream.concat(Stream.suspend(() => {
          if (decoder.exitStatus !== undefined || stopping !== undefined || stderrTail.length === 0) {
            return Stream.empty
          }
          const failure = SshFailure.classify(stderrTail, context)
          return failure.reason === "Unknown"
            ? Stream.empty
            : Stream.make(encode(`isthmus-ssh: ${failure.message} (${failure.failureClass})\n`))
        }))
      )
      const exited = yield* Deferred.make<ProcessExit>()
      yield* handle.exitCode.pipe(
        Effect.map((code): number | null => code as number),
        Effect.orElseSucceed(() => null),
        // The @@exit line is in stdout: read it to its end first (bounded: a grandchild may hold it).
        Effect.tap(() => Deferred.await(stdoutDone).pipe(Effect.timeout(2_000), Effect.ignore)),
        Effect.flatMap((code) => {
          const exit: ProcessExit = decoder.exitStatus !== undefined
            ? Watchdog.decodeExit(decoder.exitStatus)
            : code === null
            ? { code: null, signal: "SIGKILL" }
            : { code, signal: null }
          return Deferred.succeed(exited, exit)
        }),
        Effect.forkScoped({ startImmediately: true })
      )

      // ------------------------------------------------------------------------------------
      // Forwards
      // ------------------------------------------------------------------------------------
      const forwards = new Map<number, { readonly local: SshForward.LocalEnd; readonly url: string }>()
      const forwardContext: SshForward.ForwardContext = {
        spawner,
        masters,
        connection,
        master,
        scope: runScope,
        timeoutMs: commandTimeoutMs
      }

      /** The forward for `remote` (opened once per remote port and run). */
      const ensureForward = (
        remote: { host: string; port: number; url: URL | undefined; reported: string | undefined }
      ) =>
        Effect.gen(function*() {
          const known = forwards.get(remote.port)
          if (known !== undefined) return known
          const local = yield* SshForward.open(forwardContext, remote, launch.forward ?? "tcp").pipe(
            Effect.mapError((e) =>
              new LaunchError({
                kind: "Ssh",
                message:
                  `${request.id}: forwarding the backend's port ${remote.port} from ${target} failed: ${e.message}`
              })
            )
          )
          const entry = { local, url: "path" in local ? `unix:${local.path}` : localUrl(remote.reported, local.port) }
          forwards.set(remote.port, entry)
          return entry
        })

      const expose = (info: ReadyInfo): Effect.Effect<ReadyInfo, LaunchError> =>
        Effect.gen(function*() {
          const remote = forwardTarget({ ...info, port: info.port ?? request.port })
          // A stdio backend is talked to over the session itself: nothing to forward.
          if (remote === undefined && request.spec.stdio !== undefined) return info
          if (remote === undefined) {
            return yield* new LaunchError({
              kind: "Ssh",
              message: `${request.id}: the backend on ${target} was ready but reported no port to forward ` +
                `(report {"url":"http://127.0.0.1:<port>"} with the child helper's signalReady, or capture <port> in a LogLine)`
            })
          }
          const entry = yield* ensureForward(remote)
          const http = remote.url === undefined || /^(https?|wss?):$/.test(remote.url.protocol)
          // The path end to end: the local end, the master, the remote connect to the backend.
          let ok = false
          for (let i = 0; i < 20 && !ok; i++) {
            ok = yield* SshForward.answers(entry.local, http)
            if (!ok) yield* Effect.sleep(100)
          }
          if (!ok) {
            const masterErr = master?.stderr() ?? ""
            return yield* new LaunchError({
              kind: "Ssh",
              message: masterErr.includes("administratively prohibited")
                ? `${request.id}: ${target} refuses port forwarding (sshd AllowTcpForwarding no?); allow it for this user`
                : `${request.id}: nothing answered through the forward to port ${remote.port} on ${target} (does the backend ` +
                  `listen on ${remote.host}:${remote.port} there?)`
            })
          }
          return {
            ...info,
            url: entry.url,
            port: "port" in entry.local ? entry.local.port : undefined
          }
        })

      // A Fixed port is known now: forward it before readiness, so polling checks probe it here.
      let reachablePort: number | undefined
      if (request.spec.port?._tag === "Fixed" && launch.forward !== "unix") {
        const entry = yield* ensureForward({
          host: "127.0.0.1",
          port: request.spec.port.port,
          url: undefined,
          reported: undefined
        })
        if ("port" in entry.local) reachablePort = entry.local.port
      }

      // ------------------------------------------------------------------------------------
      // Stop
      // ------------------------------------------------------------------------------------
      const stop = (policy: { readonly signal: Watchdog.Signal; readonly graceMs: number }) =>
        Effect.gen(function*() {
          if (stopping !== undefined) return yield* Deferred.await(stopping)
          const mine = yield* Deferred.make<StopOutcome>()
          stopping = mine
          const started = yield* Clock.currentTimeMillis
          const elapsed = Effect.map(Clock.currentTimeMillis, (t) => t - started)
          const closeSession = Queue.end(input).pipe(
            Effect.andThen(Deferred.await(exited).pipe(Effect.timeout(5_000), Effect.ignore)),
            Effect.andThen(Effect.ignore(handle.kill({ killSignal: "SIGKILL" })))
          )
          const done = (outcome: StopOutcome) => Deferred.succeed(mine, outcome).pipe(Effect.as(outcome))
          const known = (yield* Deferred.isDone(pgid)) ? (yield* Deferred.await(pgid)) ?? undefined : undefined
          if (known === undefined) {
            // The watchdog never reported: it did not start, or not yet. EOF stops whatever started.
            const ended = yield* Deferred.isDone(exited)
            yield* Queue.end(input)
            const within = yield* Deferred.await(exited).pipe(Effect.timeoutOption(policy.graceMs + 5_000))
            yield* Effect.ignore(handle.kill({ killSignal: "SIGKILL" }))
            return yield* done({
              method: ended ? "exited" : within._tag === "Some" ? "graceful" : "forced",
              durationMs: yield* elapsed,
              survivors: 0
            })
          }
          if (yield* Deferred.isDone(exited)) {
            // The session ended: the watchdog stopped the group itself (it exits after its backend).
            yield* closeSession
          }
          const live = master === undefined ? undefined : master.isAlive() ? master : undefined
          const report = yield* SshMaster.runScript(
            spawner,
            connection,
            live ?? (yield* Effect.orElseSucceed(masters.any(connection), () => undefined)),
            Watchdog.stopScript + "\n",
            {
              args: [String(known), String(policy.graceMs), policy.signal.replace(/^SIG/, "")],
              timeoutMs: policy.graceMs + commandTimeoutMs
            }
          ).pipe(
            Effect.map((r) =>
              r.stdout.split("\n").map((l) => Watchdog.parseStopLine(l.replace(/\r$/, ""))).find((x) => x !== undefined)
            ),
            Effect.orElseSucceed(() => undefined)
          )
          yield* closeSession
          if (report === undefined) {
            // The remote could not be reached: its watchdog stops the group on EOF, unseen by us.
            return yield* done({ method: "forced", durationMs: yield* elapsed, survivors: 0 })
          }
          return yield* done({
            method: report.method,
            durationMs: yield* elapsed,
            survivors: report.survivors.length
          })
        }).pipe(Effect.uninterruptible)

      yield* Effect.addFinalizer(() => stop(request.stop))

      const running: RunningProcess = {
        pid,
        host: "127.0.0.1",
        stdout,
        stderr,
        exit: Deferred.await(exited),
        stop,
        liveProcesses: Effect.succeed(undefined),
        stdin,
        reachablePort,
        expose
      }
      return running
    })

    const launcher: Launcher = { kind: "Ssh", preflight, launch: launchRun }
    return launcher
  })

/**
 * `Launchers` with the `Local`, `Ssh` and `Attach` launchers and the pool's SSH masters (closed
 * with the layer); needs a `ChildProcessSpawner`.
 */
export const layer = (
  options: SshLauncherOptions & { readonly masters?: SshMaster.MastersOptions | undefined } = {}
): Layer.Layer<Launchers, never, ChildProcessSpawner.ChildProcessSpawner> =>
  Launchers.layer(makeLocal, make(options), AttachLauncher.make(options)).pipe(
    Layer.provide(SshMaster.SshMasters.layer(options.masters))
  )
