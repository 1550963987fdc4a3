/**
 * `Ledger`: a state file per pool that records the process groups it runs on this machine, so a
 * pool started after a crashed one (same state directory) ends what the crashed one left behind.
 *
 * - Each entry: the group leader's pid **and start time** (`/proc/<pid>/stat`, clock ticks since
 *   boot), the boot id, and a random run token that every process of the run inherits in its
 *   environment (`ISTHMUS_RUN_TOKEN`).
 * - The sweep (when the ledger layer is built): a leader whose pid is alive with the recorded start
 *   time gets the group stop (signal, grace, KILL); a pid that is alive with another start time
 *   was reused by an unrelated process and is never touched. Then every process whose environment
 *   holds one of the recorded tokens (members whose leader died, processes that left the group
 *   with `setsid`) is ended the same way, checked again by start time before the KILL. Entries of
 *   an earlier boot are dropped. Then the file is cleared.
 * - Written atomically (a temporary file renamed over it), mode 0600 in a 0700 directory.
 *
 * Scope: local POSIX backends with `/proc` (Linux). WSL backends rely on the watchdog inside the
 * distro (stdin EOF crosses `wsl.exe`), Windows backends on the host's kill-on-close job.
 *
 * @module
 */
import { Context, Effect, Layer, Schema, Semaphore } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as ProcessControl from "./ProcessControl.ts"
import * as ProcTable from "./ProcTable.ts"

/** The environment variable holding a run's token (not a secret: it only names the run). */
export const ENV_RUN_TOKEN = "ISTHMUS_RUN_TOKEN"

/** One recorded process group. */
export const LedgerEntry = Schema.Struct({
  id: Schema.String,
  pid: Schema.Int,
  startTime: Schema.Int,
  token: Schema.String.check(Schema.isPattern(/^[0-9a-f]{32}$/)),
  graceMs: Schema.Int
})
/** One recorded process group. */
export type LedgerEntry = typeof LedgerEntry.Type

/** The state file. */
export const LedgerFile = Schema.Struct({
  version: Schema.Literal(1),
  bootId: Schema.String,
  entries: Schema.Array(LedgerEntry)
})
/** The state file. */
export type LedgerFile = typeof LedgerFile.Type

const decodeFile = Schema.decodeUnknownExit(Schema.fromJsonString(LedgerFile))

/** What a sweep did. */
export interface SweepReport {
  /** Leaders verified by start time whose groups were stopped. */
  readonly groups: ReadonlyArray<number>
  /** Other processes carrying a recorded run token that were ended. */
  readonly processes: ReadonlyArray<number>
  /** Recorded pids now used by other processes (different start time): left alone. */
  readonly reused: ReadonlyArray<number>
  /** Entries of an earlier boot, dropped. */
  readonly staleBoot: number
}

/** The ledger a launcher records its groups in. */
export interface LedgerShape {
  /** The state file, when there is one. */
  readonly file: string | undefined
  /** A fresh run token (32 hex digits) to put in the run's environment. */
  readonly token: () => string
  /** Records a started group. */
  add(entry: LedgerEntry): Effect.Effect<void>
  /** Forgets a group (stopped with nothing left). */
  remove(pid: number): Effect.Effect<void>
  /** What the sweep at start-up did (empty without a state file). */
  readonly swept: SweepReport
}

const emptyReport: SweepReport = { groups: [], processes: [], reused: [], staleBoot: 0 }

const newToken = () => NodeCrypto.randomBytes(16).toString("hex")

/** No state file: nothing recorded, nothing swept. */
export const none: LedgerShape = {
  file: undefined,
  token: newToken,
  add: () => Effect.void,
  remove: () => Effect.void,
  swept: emptyReport
}

/** The ledger launchers use (default: none). Provide {@link layer} to keep one. */
export const Ledger = Context.Reference<LedgerShape>("@isthmus/backend-pool/Ledger", { defaultValue: () => none })

const bootId = (): Effect.Effect<string> =>
  Effect.promise(() =>
    NodeFs.promises.readFile("/proc/sys/kernel/random/boot_id", "utf8").then((t) => t.trim(), () => "unknown")
  )

/** Processes (pid and start time) whose environment holds one of `tokens`. */
const carriers = (tokens: ReadonlySet<string>): Effect.Effect<ReadonlyArray<ProcTable.ProcStat>> =>
  Effect.gen(function*() {
    if (tokens.size === 0) return []
    const table = yield* ProcTable.scan
    const found = yield* Effect.forEach(
      table,
      (s) =>
        Effect.promise(() =>
          NodeFs.promises.readFile(`/proc/${s.pid}/environ`, "latin1").then((env) => {
            for (const entry of env.split("\0")) {
              if (entry.startsWith(`${ENV_RUN_TOKEN}=`) && tokens.has(entry.slice(ENV_RUN_TOKEN.length + 1))) return s
            }
            return undefined
          }, () => undefined)
        ),
      { concurrency: 16 }
    )
    return found.filter((s): s is ProcTable.ProcStat => s !== undefined && ProcTable.isLive(s))
  })

/** Whether the process `s` describes is still alive (the same pid and start time). */
const same = (s: ProcTable.ProcStat) =>
  Effect.map(
    ProcTable.readStat(s.pid),
    (now) => now !== undefined && ProcTable.isLive(now) && now.startTime === s.startTime
  )

/** Sends `sig` to the process `s` describes, if it is still that process. */
const signal = (s: ProcTable.ProcStat, sig: NodeJS.Signals) =>
  Effect.flatMap(same(s), (ok) =>
    Effect.sync(() => {
      if (!ok) return
      try {
        process.kill(s.pid, sig)
      } catch {
        // gone meanwhile
      }
    }))

/** Ends single processes (TERM, up to `graceMs`, KILL), each checked by start time before every signal. */
const endProcesses = (stats: ReadonlyArray<ProcTable.ProcStat>, graceMs: number) =>
  Effect.gen(function*() {
    yield* Effect.forEach(stats, (s) => signal(s, "SIGTERM"), { discard: true })
    const deadline = graceMs
    let waited = 0
    while (waited < deadline) {
      const left = yield* Effect.filter(stats, same)
      if (left.length === 0) return
      yield* Effect.sleep(50)
      waited += 50
    }
    yield* Effect.forEach(stats, (s) => signal(s, "SIGKILL"), { discard: true })
  })

/**
 * Ends what the ledger in `file` recorded (see the module documentation) and returns what it did.
 * The file is left in place; {@link layer} clears it.
 */
export const sweep = (file: string): Effect.Effect<SweepReport> =>
  Effect.gen(function*() {
    if (!ProcTable.available) return emptyReport
    const text = yield* Effect.promise(() => NodeFs.promises.readFile(file, "utf8").catch(() => undefined))
    if (text === undefined) return emptyReport
    const decoded = decodeFile(text)
    if (decoded._tag === "Failure") {
      yield* Effect.logWarning(`backend-pool ledger: ${file} is not a ledger this version can read; ignoring it`)
      return emptyReport
    }
    const ledger = decoded.value
    if (ledger.bootId !== (yield* bootId())) return { ...emptyReport, staleBoot: ledger.entries.length }
    const groups: Array<number> = []
    const reused: Array<number> = []
    for (const entry of ledger.entries) {
      const stat = yield* ProcTable.readStat(entry.pid)
      if (stat === undefined || !ProcTable.isLive(stat)) continue
      if (stat.startTime !== entry.startTime) {
        reused.push(entry.pid)
        continue
      }
      groups.push(entry.pid)
    }
    yield* Effect.forEach(groups, (pid) => {
      const entry = ledger.entries.find((e) => e.pid === pid)!
      return ProcessControl.posix.stop(
        { pid, exited: Effect.succeed(false), awaitExit: Effect.never },
        { signal: "SIGTERM", graceMs: entry.graceMs }
      )
    }, { concurrency: "unbounded", discard: true })
    const tokens = new Set(ledger.entries.map((e) => e.token))
    const left = yield* carriers(tokens)
    const graceMs = Math.max(0, ...ledger.entries.map((e) => e.graceMs))
    yield* endProcesses(left, graceMs)
    return { groups, processes: left.map((s) => s.pid), reused, staleBoot: 0 }
  })

/**
 * A ledger in `dir` (`<dir>/backend-pool.ledger.json`): sweeps what a crashed predecessor left,
 * then records the groups the launchers start. Provide it to the launchers:
 * `LocalLauncher.layer.pipe(Layer.provide(Ledger.layer({ dir })))`.
 */
export const layer = (options: { readonly dir: string }): Layer.Layer<never> =>
  Layer.effectContext(Effect.gen(function*() {
    const dir = options.dir
    const file = NodePath.join(dir, "backend-pool.ledger.json")
    yield* Effect.promise(() => NodeFs.promises.mkdir(dir, { recursive: true, mode: 0o700 }))
    const swept = yield* sweep(file)
    if (swept.groups.length + swept.processes.length > 0) {
      yield* Effect.logWarning(
        `backend-pool ledger: ended what a previous pool left running: groups ${swept.groups.join(", ") || "none"}, ` +
          `processes ${swept.processes.join(", ") || "none"}` +
          (swept.reused.length > 0 ? `; pids reused by other processes, left alone: ${swept.reused.join(", ")}` : "")
      )
    }
    const boot = yield* bootId()
    const entries = new Map<number, LedgerEntry>()
    const lock = yield* Semaphore.make(1)
    const write = lock.withPermit(
      Effect.promise(async () => {
        const body: LedgerFile = { version: 1, bootId: boot, entries: [...entries.values()] }
        const tmp = `${file}.${process.pid}.tmp`
        await NodeFs.promises.writeFile(tmp, JSON.stringify(body), { mode: 0o600 })
        await NodeFs.promises.rename(tmp, file)
      }).pipe(Effect.ignore)
    )
    yield* write
    const ledger: LedgerShape = {
      file,
      token: newToken,
      add: (entry) => Effect.suspend(() => (entries.set(entry.pid, entry), write)),
      remove: (pid) => Effect.suspend(() => (entries.delete(pid) ? write : Effect.void)),
      swept
    }
    return Context.make(Ledger, ledger)
  }))
