/**
 * Windows process control, on Linux: the model of `WindowsModel` (checked against the facts of
 * `shared/reference/windows-reality.md` §1 first), then the real `LocalLauncher` and
 * `ProcessControl.windows` code run against it through the whole pool.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  BackendPool,
  type BackendSpec,
  CommandCheck,
  Launchers,
  LocalLauncher,
  ProcessControl
} from "@isthmus/backend-pool"
import { WindowsModel } from "@isthmus/backend-pool/testing"
import { Effect, Layer, Option, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"

const thrown = (f: () => unknown): string | undefined => {
  try {
    f()
    return undefined
  } catch (error) {
    return (error as NodeJS.ErrnoException).code
  }
}

const ready = `@@isthmus:ready {"url":"http://127.0.0.1:7000"}`

/** A model with a helper backend, a helper-less one with children (one of which escapes), and a tool. */
const model = () =>
  WindowsModel.make()
    .program("C:\\app\\helper.exe", { output: [ready], onStopMessage: "exit", onStdinEof: "exit" })
    .program("C:\\app\\plain.exe", {
      output: [ready],
      children: [{ image: "C:\\app\\worker.exe", holdsStdout: true }, { image: "C:\\app\\launcher.exe" }]
    })
    .program("C:\\app\\worker.exe", {})
    // Starts a daemon and exits at once: the daemon's parent link is stale from then on.
    .program("C:\\app\\launcher.exe", { children: [{ image: "C:\\app\\daemon.exe" }], exitAfterStart: true })
    .program("C:\\app\\daemon.exe", {})

describe("the Windows model follows windows-reality §1", () => {
  it("kill: one process, exit 1, no groups, no other signals, pid 0 is the caller (1.1, 1.2, 1.4)", () => {
    const m = model()
    const spawn = Effect.runSync(Effect.scoped(Effect.gen(function*() {
      const h = yield* m.spawner.spawn(command("C:\\app\\plain.exe"))
      return h.pid as number
    })))
    const children = m.alive.filter((p) => p.ppid === spawn)
    assert.deepStrictEqual(children.map((p) => p.image), ["C:\\app\\worker.exe"]) // launcher.exe exited
    assert.strictEqual(thrown(() => m.kill(-spawn, 0)), "ESRCH") // the old group probe: "no group"
    assert.strictEqual(thrown(() => m.kill(spawn, "SIGHUP")), "ENOSYS")
    assert.isTrue(m.kill(spawn, 0))
    m.kill(spawn, "SIGTERM")
    assert.deepStrictEqual(m.table.get(spawn)!.exit, { code: 1, signal: null })
    assert.isTrue(m.table.get(children[0]!.pid)!.alive) // its children keep running
    assert.strictEqual(thrown(() => m.kill(spawn, 0)), "ESRCH")
    m.kill(0, "SIGTERM")
    assert.isFalse(m.host.alive)
  })

  it("taskkill /T /F walks living parent links only; 128 when not found; 1 without /F (1.7)", () => {
    const m = model()
    const pid = Effect.runSync(
      Effect.scoped(Effect.map(m.spawner.spawn(command("C:\\app\\plain.exe")), (h) => h.pid as number))
    )
    const daemon = m.alive.find((p) => p.image === "C:\\app\\daemon.exe")!
    assert.isFalse(m.table.get(daemon.ppid)!.alive) // its parent (launcher.exe) already exited
    assert.strictEqual(m.taskkill(["/PID", String(pid), "/T"]).code, 1)
    const result = m.taskkill(["/PID", String(pid), "/T", "/F"])
    assert.strictEqual(result.code, 0)
    assert.deepStrictEqual(m.alive.map((p) => p.image), ["C:\\app\\daemon.exe"]) // the escapee survives
    assert.strictEqual(m.taskkill(["/PID", String(pid), "/T", "/F"]).code, 128)
  })

  it("host death closes the job: non-detached direct children die, their children and detached ones live (1.5)", () => {
    const m = model()
    Effect.runSync(Effect.scoped(Effect.gen(function*() {
      yield* m.spawner.spawn(command("C:\\app\\plain.exe"))
      yield* m.spawner.spawn(command("C:\\app\\helper.exe", { detached: true }))
    })))
    m.hostDies()
    assert.deepStrictEqual(m.alive.map((p) => p.image).toSorted(), [
      "C:\\app\\daemon.exe",
      "C:\\app\\helper.exe",
      "C:\\app\\worker.exe"
    ])
  })

  it("a reused pid belongs to a new, unrelated process (1.8)", () => {
    const m = model()
    m.reusePids = true
    const first = Effect.runSync(
      Effect.scoped(Effect.map(m.spawner.spawn(command("C:\\app\\worker.exe")), (h) => h.pid as number))
    )
    m.kill(first, "SIGKILL")
    const second = Effect.runSync(
      Effect.scoped(Effect.map(m.spawner.spawn(command("C:\\app\\daemon.exe")), (h) => h.pid as number))
    )
    assert.strictEqual(second, first)
    assert.strictEqual(m.table.get(second)!.image, "C:\\app\\daemon.exe")
  })
})

/** A command for the model's spawner. */
const command = (image: string, options: { detached?: boolean } = {}) =>
  ChildProcess.make(image, [], { detached: options.detached ?? false, windowsHide: true })

/** The pool with the real `Local` launcher, on the model with `platform` win32. */
const poolOn = (m: WindowsModel.WindowsModel) =>
  BackendPool.layer.pipe(
    Layer.provide(Launchers.layer(LocalLauncher.make)),
    Layer.provide(Layer.succeed(ChildProcessSpawner.ChildProcessSpawner, m.spawner)),
    Layer.provide(Layer.succeed(ProcessControl.ProcessControl, m.control)),
    Layer.provide(Layer.succeed(CommandCheck.Checker, m.checker))
  )

const spec = (id: string, image: string, graceMs = 300): BackendSpec.BackendSpec => ({
  id,
  launcher: { _tag: "Local", command: image },
  stop: { graceMs }
})

describe("the real LocalLauncher on the Windows model", () => {
  it.live("spawns not detached, in the host's job, with no console window", () => {
    const m = model()
    return Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(spec("helper", "C:\\app\\helper.exe"))
      yield* instance.start
      const s = yield* instance.awaitReady
      const proc = m.table.get(s.pid!)!
      assert.strictEqual(proc.image, "C:\\app\\helper.exe")
      assert.isFalse(proc.detached)
      assert.isTrue(proc.inJob)
      assert.strictEqual(proc.console, "hidden")
      yield* instance.stop
    }).pipe(Effect.provide(poolOn(m)))
  })

  it.live("a helper backend stops gracefully through the stop message: hooks ran, no taskkill", () => {
    const m = model()
    return Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(spec("helper", "C:\\app\\helper.exe", 10_000))
      yield* instance.start
      const s = yield* instance.awaitReady
      const outcome = yield* instance.stop
      assert.strictEqual(outcome.method, "graceful")
      assert.strictEqual(outcome.gracefulStep, "message")
      assert.isFalse(outcome.complete) // descendants are not enumerated on Windows
      assert.isTrue(m.table.get(s.pid!)!.hooksRan)
      assert.deepStrictEqual(m.taskkillCalls, [])
    }).pipe(Effect.provide(poolOn(m)))
  })

  it.live("a backend without the helper: killed after the grace by taskkill /PID p /T /F; the escapee is not found", () => {
    const m = model()
    return Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(spec("plain", "C:\\app\\plain.exe", 300))
      yield* instance.start
      const s = yield* instance.awaitReady
      const outcome = yield* instance.stop
      assert.strictEqual(outcome.method, "forced")
      assert.strictEqual(outcome.gracefulStep, "message")
      assert.isAtLeast(outcome.durationMs, 300)
      assert.isFalse(outcome.complete)
      assert.deepStrictEqual(m.taskkillCalls, [["/PID", String(s.pid), "/T", "/F"]])
      // worker.exe (a living link) is gone; daemon.exe, whose parent had exited, is not.
      assert.deepStrictEqual(m.alive.map((p) => p.image), ["C:\\app\\daemon.exe"])
    }).pipe(Effect.provide(poolOn(m)))
  })

  it.live("a leader that already exited is never looked up by pid again (it may be another process now)", () => {
    const m = model()
    m.reusePids = true
    return Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register({ ...spec("short", "C:\\app\\launcher.exe"), restart: { mode: "never" } })
      yield* instance.start
      yield* Effect.flip(instance.awaitReady)
      assert.deepStrictEqual(m.taskkillCalls, [])
      assert.isTrue(m.alive.some((p) => p.image === "C:\\app\\daemon.exe"))
    }).pipe(Effect.provide(poolOn(m)))
  })

  it.live("a missing executable is a fatal launch failure naming it", () => {
    const m = model()
    return Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(spec("nothere", "C:\\app\\nothere.exe"))
      yield* instance.start
      const error = yield* Effect.flip(instance.awaitReady)
      assert.strictEqual(error.phase, "Failed")
      assert.include(error.message, `"C:\\\\app\\\\nothere.exe" (the command of nothere) does not exist`)
    }).pipe(Effect.provide(poolOn(m)))
  })
})

/** Answers every JSON-RPC request line (lite dialect) with its method and params. */
const respond = (line: string): ReadonlyArray<string> => {
  const message = JSON.parse(line) as { id?: number; method?: string; params?: unknown }
  return message.id === undefined
    ? []
    : [JSON.stringify({ id: message.id, result: { method: message.method, params: message.params } })]
}
const stdioModel = () =>
  model()
    // Leaves shutdown to its helper (stdin EOF alone does not end it): only the message can.
    .program("C:\\app\\stdio-helper.exe", { respond, onStopMessage: "exit", onStdinEof: "ignore" })
    .program("C:\\app\\codex.exe", { respond, onStdinEof: "exit" })
const stdioSpec = (id: string, image: string): BackendSpec.BackendSpec => ({
  ...spec(id, image, 10_000),
  stdio: { handshake: { params: { clientInfo: { name: "win_test", version: "1" } } } }
})
/** Every line is a JSON-RPC message: nothing else went into the channel. */
const onlyProtocol = (lines: ReadonlyArray<string>) =>
  lines.every((l) => {
    try {
      return typeof JSON.parse(l) === "object"
    } catch {
      return false
    }
  })

/**
 * A stdio backend on Windows: stdin is its RPC channel, so the graceful step (the `child` helper's
 * stop message) goes to a control pipe of its own (`ISTHMUS_LIFETIME_FD`), never into the channel;
 * stdin only gets EOF, on which codex-like backends exit.
 */
describe("a stdio backend on the Windows model", () => {
  it.live("the helper's stop message goes to its control pipe, not into the RPC channel; no taskkill", () => {
    const m = stdioModel()
    return Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(stdioSpec("app", "C:\\app\\stdio-helper.exe"))
      yield* instance.start
      const s = yield* instance.awaitReady
      const channel = yield* instance.channels.pipe(Stream.runHead, Effect.map(Option.getOrThrow))
      assert.deepStrictEqual(yield* channel.peer.request("echo", { n: 1 }), { method: "echo", params: { n: 1 } })
      const proc = m.table.get(s.pid!)!
      assert.strictEqual(proc.controlFd, 3) // a pipe of its own, not stdin
      const outcome = yield* instance.stop
      assert.strictEqual(outcome.method, "graceful")
      assert.strictEqual(outcome.gracefulStep, "message")
      assert.isTrue(proc.hooksRan)
      assert.deepStrictEqual(m.taskkillCalls, [])
      assert.deepStrictEqual(proc.controlLines, ["@@isthmus:stop"])
      assert.deepStrictEqual(proc.stdinLines.map((l) => (JSON.parse(l) as { method?: string }).method), [
        "initialize",
        "initialized",
        "echo"
      ])
      assert.isTrue(onlyProtocol(proc.stdinLines))
    }).pipe(Effect.provide(poolOn(m)))
  })

  it.live("with a fd3 bootstrap the control pipe is fd 4; a helper-less backend stops on its channel's EOF", () => {
    const m = stdioModel()
    return Effect.gen(function*() {
      const pool = yield* BackendPool
      const boot = yield* pool.register({
        ...stdioSpec("boot", "C:\\app\\stdio-helper.exe"),
        bootstrap: { delivery: "fd3", envelope: { token: "t" } }
      })
      yield* boot.start
      const b = yield* boot.awaitReady
      assert.strictEqual(m.table.get(b.pid!)!.controlFd, 4)
      assert.strictEqual((yield* boot.stop).method, "graceful")
      assert.isTrue(m.table.get(b.pid!)!.hooksRan)

      const codex = yield* pool.register(stdioSpec("codex", "C:\\app\\codex.exe"))
      yield* codex.start
      const c = yield* codex.awaitReady
      const outcome = yield* codex.stop
      assert.strictEqual(outcome.method, "graceful") // stdin EOF: the end of its protocol
      assert.deepStrictEqual(m.taskkillCalls, [])
      assert.isTrue(onlyProtocol(m.table.get(c.pid!)!.stdinLines))
    }).pipe(Effect.provide(poolOn(m)))
  })
})
