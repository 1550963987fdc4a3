/**
 * The orchestrator: a BackendPool following a settings file, a terminal view, a dashboard, RPC
 * calls to every daemon, and (by default) a scripted walk through what supervision is for.
 */
import { NodeServices } from "@effect/platform-node"
import { serveDashboard } from "@isthmus-examples/dashboard/server"
import {
  AttachLauncher,
  BackendPool,
  type BackendSpec,
  Launchers,
  LocalLauncher,
  SshLauncher,
  SshMaster
} from "@isthmus/backend-pool"
import {
  Data,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  Redacted,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { randomBytes } from "node:crypto"
import { copyFileSync, mkdtempSync, readFileSync, renameSync, watch, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { connectDaemonTcp, connectDaemonWs } from "./DaemonClient.ts"
import { parseSettings, type Settings, type SpecContext, toSpec } from "./Settings.ts"
import { sshLab, type SshSetup } from "./SshSetup.ts"
import { describeEvent, describeExit } from "./Status.ts"
import { makeOutput, type Output } from "./Terminal.ts"
import { wslLaunchers, type WslSetup } from "./WslSetup.ts"

export interface OrchestratorOptions {
  readonly watch: boolean
  readonly settingsFile?: string | undefined
  /** Where output goes (default stdout) and whether it is a TTY. */
  readonly write?: ((text: string) => void) | undefined
  readonly tty?: boolean | undefined
}

const defaultSettings = fileURLToPath(new URL("../backends.json", import.meta.url))
const daemonEntry = fileURLToPath(new URL("../../daemon/src/main.ts", import.meta.url))
type Snapshot = Effect.Success<BackendPool["Service"]["status"]>[number]

export const runOrchestrator = (options: OrchestratorOptions): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const workdir = mkdtempSync(join(tmpdir(), "isthmus-orchestrator-"))
    // --watch follows the user's file in place; the scripted run edits a copy, never their file.
    const settingsFile = options.watch && options.settingsFile !== undefined
      ? options.settingsFile
      : join(workdir, "backends.json")
    if (settingsFile !== options.settingsFile) copyFileSync(options.settingsFile ?? defaultSettings, settingsFile)
    const wsl = yield* wslLaunchers
    // An SSH server for the demo, only when an ssh backend names no host of its own. Started
    // before the pool, so it goes away after it.
    const wanted = yield* parseSettings(settingsFile, readFileSync(settingsFile, "utf8")).pipe(
      Effect.map((s) => s.backends.some((b) => b.kind === "ssh" && b.connection === undefined)),
      Effect.orElseSucceed(() => false)
    )
    const ssh = yield* sshLab(wanted)
    const launchers = [LocalLauncher.make, ...wsl.launchers, SshLauncher.make(), AttachLauncher.make()]
    const layer = BackendPool.layer.pipe(
      Layer.provide(Layer.effect(Launchers, Effect.map(Effect.all(launchers), Launchers.fromLaunchers))),
      Layer.provide(Layer.mergeAll(wsl.layer, SshMaster.SshMasters.layer())),
      Layer.provide(NodeServices.layer)
    )
    yield* supervise({ ...options, settingsFile, workdir, wsl, ssh }).pipe(Effect.provide(layer))
  })

/**
 * A step of the scripted run did not happen in time. The message names the step, what it waited
 * for, where every backend was, and what to look at.
 */
export class DemoStepError extends Data.TaggedError("DemoStepError")<{ readonly message: string }> {}

/** How long a scripted step may take. About 10 s when quiet; this is generous for a loaded machine. */
const stepTimeout: Duration.Input = "90 seconds"

/** One line per backend for a timeout message: phase, run, last exit and failure. */
const describeForTimeout = (snapshots: ReadonlyArray<Snapshot>) =>
  snapshots.length === 0 ?
    "    (no backends registered)" :
    snapshots.map((s) =>
      `    ${s.id}: ${s.phase}, run ${s.runId}${
        s.lastExit === undefined ? "" : `, last exit ${describeExit(s.lastExit)}`
      }${s.failure === undefined ? "" : `, failure: ${s.failure.reason}: ${s.failure.message}`}`
    ).join("\n")

/** The message of anything thrown or failed with, without a stack. */
export const errorMessage = (error: unknown): string =>
  error instanceof Error || (typeof error === "object" && error !== null && "message" in error)
    ? String((error as { message: unknown }).message)
    : String(error)

/** Phases a backend stays in until someone acts. */
const terminal: ReadonlySet<string> = new Set(["Failed", "CrashLoop"])

const find = (snapshots: ReadonlyArray<Snapshot>, id: string) => snapshots.find((s) => s.id === id)
const allReady = (snapshots: ReadonlyArray<Snapshot>) =>
  snapshots.length > 0 && snapshots.every((s) => s.phase === "Ready")

interface Context extends OrchestratorOptions {
  readonly settingsFile: string
  readonly workdir: string
  readonly wsl: WslSetup
  readonly ssh: SshSetup
}

const supervise = (options: Context) =>
  Effect.gen(function*() {
    const started = Date.now()
    const pool = yield* BackendPool
    /** Every daemon process we talked to (behind wsl.exe too), checked for survivors at the end. */
    const daemonPids = new Set<number>()
    /** Backends marked in the table: `simulated` (fake-wsl), `ssh lab` (the demo's SSH server). */
    const marks = new Map<string, string>()
    const tty = options.tty ?? process.stdout.isTTY === true
    const out = makeOutput({
      tty,
      marks,
      write: options.write ?? ((text) => process.stdout.write(text))
    })
    const tokens = new Map<string, Redacted.Redacted<string>>()
    const tokenFor = (id: string) => {
      let token = tokens.get(id)
      if (token === undefined) {
        token = Redacted.make(randomBytes(24).toString("base64url"))
        tokens.set(id, token)
      }
      return token
    }
    const specContext: SpecContext = {
      node: process.execPath,
      daemonEntry,
      tokenFor: (id) => Redacted.value(tokenFor(id)),
      logDir: join(options.workdir, "logs"),
      sshLab: options.ssh.connection
    }
    const readSpecs = Effect.gen(function*() {
      const settings: Settings = yield* parseSettings(options.settingsFile, readFileSync(options.settingsFile, "utf8"))
      for (const backend of settings.backends) {
        if (backend.kind === "wsl" && options.wsl.simulated) marks.set(backend.id, "simulated")
        if (backend.kind === "ssh" && backend.connection === undefined) marks.set(backend.id, "ssh lab")
      }
      return settings.backends.flatMap((backend) => {
        const spec = toSpec(backend, specContext)
        return spec === undefined ? [] : [spec]
      })
    })

    yield* out.line(
      `isthmus orchestrator — ${
        options.watch ? "watching (Ctrl-C to stop)" : "scripted run (--watch keeps it running)"
      }`
    )
    yield* out.line(`settings: ${options.settingsFile}`)
    yield* out.line(`wsl: ${options.wsl.description}`)
    yield* out.line(`ssh: ${options.ssh.description}`)

    // Events first, so nothing the pool does is missed. On a TTY every event also redraws the
    // table, and a one-second tick keeps "IN STATE" moving.
    const redraw = tty ? Effect.flatMap(pool.status, out.table) : Effect.void
    yield* pool.events.pipe(
      Stream.runForEach((event) => Effect.andThen(out.line(`  event  ${describeEvent(event)}`), redraw)),
      Effect.forkScoped({ startImmediately: true })
    )
    if (tty) yield* redraw.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)
    yield* Effect.yieldNow

    const desired = yield* SubscriptionRef.make<ReadonlyArray<BackendSpec.BackendSpec>>(yield* readSpecs)
    yield* pool.follow(desired)
    yield* watchSettings(options.settingsFile, readSpecs, desired, out)

    const dashboardToken = Redacted.make(randomBytes(24).toString("base64url"))
    const dashboard = yield* serveDashboard({ token: dashboardToken })
    yield* out.line(
      options.watch
        ? `dashboard: ${dashboard.url}#token=${Redacted.value(dashboardToken)}`
        : `dashboard: ${dashboard.url} (its token is shown with --watch)`
    )

    const status = pool.status
    /** The step being run, for the message of a step that did not happen. */
    let step = "setup"
    const stepLine = (text: string) => {
      step = text.slice(0, text.indexOf(":"))
      return out.line(text)
    }
    const stepFailed = (what: string) =>
      Effect.flatMap(status, (snapshots) =>
        Effect.fail(
          new DemoStepError({
            message: [
              `${step}: ${what}`,
              "  where every backend was:",
              describeForTimeout(snapshots),
              `  look at: each backend's log in ${specContext.logDir} (the \`logs\` lines above name the files),`,
              "  and the event lines above; `--watch` keeps the pool running to watch it live."
            ].join("\n")
          })
        ))
    /** Waits until `predicate` holds for the pool's status: re-checked on every event, and every 250 ms as a safety net. */
    const until = (
      what: string,
      predicate: (snapshots: ReadonlyArray<Snapshot>) => boolean,
      timeout: Duration.Input = stepTimeout
    ) =>
      Stream.merge(pool.events, Stream.tick("250 millis")).pipe(
        Stream.mapEffect(() => status),
        Stream.merge(Stream.fromEffect(status)),
        // A backend that gave up (Failed, CrashLoop) will not get there: say so now, not at the timeout.
        Stream.filter((snapshots) => predicate(snapshots) || snapshots.some((s) => terminal.has(s.phase))),
        Stream.runHead,
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            stepFailed(
              `timed out after ${Duration.format(Duration.fromInputUnsafe(timeout))} waiting until ${what}`
            )
        }),
        Effect.flatMap((found) =>
          Option.match(found, {
            onNone: () => stepFailed(`the pool closed before ${what}`),
            onSome: (snapshots) => {
              if (predicate(snapshots)) return Effect.succeed(snapshots)
              const stuck = snapshots.filter((s) => terminal.has(s.phase)).map((s) => `${s.id} is ${s.phase}`)
              return stepFailed(`${stuck.join(", ")}, so this will not happen: ${what}`)
            }
          })
        )
      )

    // ---- 1. start -------------------------------------------------------------------------
    yield* stepLine("step 1/5 start: the pool follows backends.json and starts every backend")
    const ids = (yield* SubscriptionRef.get(desired)).map((spec) => spec.id)
    yield* until(`${ids.join(", ")} are Ready`, (s) => allReady(s) && ids.every((id) => find(s, id) !== undefined))
    yield* out.table(yield* status)
    for (const instance of yield* pool.list) {
      yield* out.line(`  logs   ${instance.id}: ${instance.log.file ?? "(memory only)"}`)
    }

    // ---- 2. talk --------------------------------------------------------------------------
    yield* stepLine(
      "step 2/5 talk: call every daemon over TCP (token auth) and WebSocket (Bearer), and wait for a notification"
    )
    yield* talkToAll(yield* status, tokenFor, out, daemonPids).pipe(
      Effect.catch((error) => stepFailed(`a call to a daemon failed: ${errorMessage(error)}`))
    )

    if (options.watch) {
      yield* out.table(yield* status)
      yield* Effect.forever(Effect.flatMap(status, out.table).pipe(Effect.delay("1 second")))
      return
    }

    // ---- 3. crash -------------------------------------------------------------------------
    const victim = find(yield* status, "native")
    if (victim?.pid === undefined) {
      return yield* Effect.fail(new Error("the settings have no running 'native' backend to crash"))
    }
    yield* stepLine(`step 3/5 crash: SIGKILL native (pid ${victim.pid}); the pool backs off and restarts it`)
    process.kill(victim.pid, "SIGKILL")
    yield* until("native is in Backoff", (s) => find(s, "native")?.phase === "Backoff")
    const recovered = yield* until(
      "native is Ready again",
      (s) => find(s, "native")?.phase === "Ready" && find(s, "native")!.runId > victim.runId
    )
    const back = find(recovered, "native")!
    yield* out.line(
      `  native recovered: run ${back.runId}, pid ${back.pid}, restarts ${back.restartCount}, last exit ${back.lastExit?.reason} (${back.lastExit?.signal})`
    )
    yield* out.table(recovered)

    // ---- 4. settings ----------------------------------------------------------------------
    yield* stepLine("step 4/5 settings: edit backends.json — native ticks faster (replaces it), worker is removed")
    const before = find(yield* status, "native")!
    const settings = JSON.parse(readFileSync(options.settingsFile, "utf8")) as {
      backends: Array<{ id: string; tickMs?: number }>
    }
    const edited = {
      backends: settings.backends.filter((b) => b.id !== "worker").map((
        b
      ) => (b.id === "native" ? { ...b, tickMs: 500 } : b))
    }
    const temporary = join(dirname(options.settingsFile), `.${basename(options.settingsFile)}.tmp`)
    writeFileSync(temporary, JSON.stringify(edited, null, 2) + "\n")
    renameSync(temporary, options.settingsFile)
    const applied = yield* until(
      "native is replaced and worker is gone",
      (s) =>
        find(s, "worker") === undefined && find(s, "native")?.phase === "Ready" &&
        find(s, "native")!.launchHash !== before.launchHash
    )
    yield* out.line(`  now running: ${applied.map((s) => `${s.id} (run ${s.runId})`).join(", ")}`)
    yield* out.table(applied)

    // ---- 5. shutdown ----------------------------------------------------------------------
    yield* stepLine("step 5/5 shutdown: reconcile to nothing; every backend stops within its grace period")
    const pids = [...daemonPids, ...applied.flatMap((s) => (s.pid === undefined ? [] : [s.pid]))]
    const plan = yield* pool.reconcile([])
    // A zombie has exited (its orphaned exit is reaped by init a moment later): not left over.
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0)
      } catch {
        return false
      }
      try {
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
      } catch {
        return true // no /proc here: kill(pid, 0) is all we know
      }
    })
    yield* out.line(`  stopped ${plan.stopped.length} backends; processes left: ${alive.length}`)
    if (tty) yield* out.table(yield* status)
    yield* out.line(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`)
  })

/** Re-reads the settings file when it changes; a bad edit is reported and the last good state kept. */
const watchSettings = (
  file: string,
  readSpecs: Effect.Effect<ReadonlyArray<BackendSpec.BackendSpec>, unknown>,
  desired: SubscriptionRef.SubscriptionRef<ReadonlyArray<BackendSpec.BackendSpec>>,
  out: Output
) =>
  Effect.gen(function*() {
    const changes = Stream.callback<void>((queue) =>
      Effect.acquireRelease(
        Effect.sync(() =>
          watch(dirname(file), (_event, name) => {
            if (name === basename(file)) Queue.offerUnsafe(queue, undefined)
          })
        ),
        (watcher) => Effect.sync(() => watcher.close())
      )
    )
    yield* changes.pipe(
      Stream.debounce("100 millis"),
      Stream.runForEach(() =>
        readSpecs.pipe(
          Effect.flatMap((specs) => SubscriptionRef.set(desired, specs)),
          Effect.andThen(out.line(`  file   ${basename(file)} changed: the pool follows`)),
          Effect.catch((error) =>
            out.line(`  file   ${basename(file)} ignored: ${String((error as Error).message ?? error)}`)
          )
        )
      ),
      Effect.forkScoped({ startImmediately: true })
    )
  })

const talkToAll = (
  snapshots: ReadonlyArray<Snapshot>,
  tokenFor: (id: string) => Redacted.Redacted<string>,
  out: Output,
  daemonPids: Set<number>
) =>
  Effect.forEach(snapshots, (s) =>
    Effect.scoped(
      Effect.gen(function*() {
        if (s.url === undefined) return yield* out.line(`  rpc    ${s.id}: no URL`)
        const token = tokenFor(s.id)
        const tcp = yield* connectDaemonTcp(s.url, token)
        const ticks = yield* tcp.subscribe
        const info = yield* tcp.call("daemon_info", undefined)
        daemonPids.add(info.pid)
        yield* out.line(
          `  rpc    ${s.id}: daemon_info over TCP → pid ${info.pid}, mode ${info.mode}${
            info.distro === null ? "" : ` (${info.distro})`
          }, node ${info.node}, on ${s.location}`
        )
        if (s.location.startsWith("ssh:")) {
          // Only the port the daemon reported (TCP) is forwarded; its WebSocket port stays on the
          // host's loopback, where nothing from here can reach it.
          yield* out.line(`  rpc    ${s.id}: its WebSocket port is not forwarded (only the reported TCP port is)`)
        } else {
          const ws = yield* connectDaemonWs(info.endpoints.ws, token)
          const stats = yield* ws.call("process_stats", undefined)
          yield* out.line(
            `  rpc    ${s.id}: process_stats over WebSocket → rss ${(stats.rssBytes / 1048576).toFixed(1)} MiB`
          )
          const refused = yield* Effect.exit(connectDaemonWs(info.endpoints.ws, Redacted.make("wrong-token")))
          yield* out.line(
            `  rpc    ${s.id}: a wrong Bearer token is ${
              refused._tag === "Failure" ? "refused before the upgrade" : "ACCEPTED (bug)"
            }`
          )
        }
        // A tick comes every second or two; the wait is generous for a loaded machine.
        const tick = yield* ticks.pipe(
          Stream.filter((n) => n.method === "daemon_tick"),
          Stream.runHead,
          Effect.timeout("60 seconds")
        )
        yield* out.line(
          `  notify ${s.id}: ${tick._tag === "Some" ? `daemon_tick ${JSON.stringify(tick.value.params)}` : "no tick"}`
        )
      }).pipe(Effect.retry(Schedule.recurs(1)))
    ), { discard: true })
