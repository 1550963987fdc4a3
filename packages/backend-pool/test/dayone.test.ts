/**
 * Day-one errors: a spec that cannot run (no such command, not executable, no such working
 * directory) fails at once as `Failed` with a fatal class and a message naming the path and the
 * fix, under the default `restart: always`, and nothing is retried.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec } from "@isthmus/backend-pool"
import { Effect, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { livePool } from "./helpers.ts"

const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-dayone-"))
const notExecutable = NodePath.join(dir, "server.sh")
NodeFs.writeFileSync(notExecutable, "#!/bin/sh\necho hi\n", { mode: 0o644 })
const aFile = NodePath.join(dir, "a-file")
NodeFs.writeFileSync(aFile, "")

/** Starts `spec` (default restart policy) and returns its failure once it is parked. */
const failureOf = (spec: BackendSpec.BackendSpec) =>
  Effect.gen(function*() {
    const pool = yield* BackendPool
    const instance = yield* pool.register(spec)
    yield* instance.start
    const error = yield* Effect.flip(instance.awaitReady)
    const snapshot = yield* instance.snapshot
    return { error, snapshot, lines: (yield* instance.log.recent).map((l) => l.text) }
  })

const local = (id: string, command: string, extra: Partial<BackendSpec.LocalLaunch> = {}): BackendSpec.BackendSpec => ({
  id,
  launcher: { _tag: "Local", command, ...extra }
})

describe("day-one errors are final and precise", () => {
  it.live("a missing binary (absolute path): Failed at once, fatal, the path and the fix, no retry", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const events: Array<string> = []
      yield* pool.events.pipe(
        Stream.runForEach((e) => Effect.sync(() => e._tag === "Transition" && events.push(e.to))),
        Effect.forkScoped
      )
      yield* Effect.yieldNow
      const { error, snapshot } = yield* failureOf(local("missing", "/nonexistent/bp-no-such-binary"))
      assert.strictEqual(error.phase, "Failed")
      assert.strictEqual(snapshot.failure?.reason, "LaunchFailed")
      assert.strictEqual(snapshot.failure?.failureClass, "fatal")
      assert.include(
        snapshot.failure?.message,
        `"/nonexistent/bp-no-such-binary" (the command of missing) does not exist`
      )
      assert.include(snapshot.failure?.message, "fix the spec's command")
      assert.include(error.message, "missing is Failed")
      assert.strictEqual(snapshot.restartCount, 0)
      assert.notInclude(events, "Backoff")
      assert.strictEqual(snapshot.pid, undefined)
    }).pipe(Effect.provide(livePool)))

  it.live("a command not on PATH: the PATH searched and the fix", () =>
    Effect.gen(function*() {
      const { snapshot } = yield* failureOf({
        ...local("nopath", "bp-no-such-binary"),
        env: { PATH: `${dir}:/nonexistent-dir` }
      })
      assert.strictEqual(snapshot.failure?.failureClass, "fatal")
      assert.include(
        snapshot.failure?.message,
        `the command "bp-no-such-binary" of nopath was not found on PATH (${dir}:/nonexistent-dir): install it, or give its absolute path`
      )
    }).pipe(Effect.provide(livePool)))

  it.live("a file that is not executable (EACCES): the path and chmod", () =>
    Effect.gen(function*() {
      const { snapshot } = yield* failureOf(local("noexec", notExecutable))
      assert.strictEqual(snapshot.phase, "Failed")
      assert.strictEqual(snapshot.failure?.failureClass, "fatal")
      assert.include(
        snapshot.failure?.message,
        `"${notExecutable}" (the command of noexec) is not executable by this user`
      )
      assert.include(snapshot.failure?.message, `chmod +x ${notExecutable}`)
    }).pipe(Effect.provide(livePool)))

  it.live("a missing working directory is blamed on the cwd, not on the command", () =>
    Effect.gen(function*() {
      const { snapshot } = yield* failureOf(local("nocwd", process.execPath, { cwd: NodePath.join(dir, "gone") }))
      assert.strictEqual(snapshot.failure?.failureClass, "fatal")
      assert.include(
        snapshot.failure?.message,
        `the working directory "${
          NodePath.join(dir, "gone")
        }" of nocwd does not exist: create it, or fix the spec's cwd`
      )
      assert.notInclude(snapshot.failure?.message, "command")
      const { snapshot: file } = yield* failureOf(local("filecwd", process.execPath, { cwd: aFile }))
      assert.include(file.failure?.message, `the working directory "${aFile}" of filecwd is not a directory`)
    }).pipe(Effect.provide(livePool)))

  it.live("a relative command resolves against the cwd, and says so when missing", () =>
    Effect.gen(function*() {
      const { snapshot } = yield* failureOf(local("relative", "./bin/server", { cwd: dir }))
      assert.include(
        snapshot.failure?.message,
        `"${NodePath.join(dir, "bin/server")}" (the command of relative) does not exist`
      )
      assert.include(snapshot.failure?.message, `it is relative to the cwd "${dir}"`)
    }).pipe(Effect.provide(livePool)))

  it.live("a directory given as the command", () =>
    Effect.gen(function*() {
      const { snapshot } = yield* failureOf(local("isdir", dir))
      assert.include(snapshot.failure?.message, `"${dir}" (the command of isdir) is a directory`)
    }).pipe(Effect.provide(livePool)))
})

const base = { id: "bad", launcher: { _tag: "Local", command: process.execPath } } as const
const refused = (spec: unknown) =>
  Effect.gen(function*() {
    const pool = yield* BackendPool
    const viaRegister = yield* Effect.flip(pool.register(spec as BackendSpec.BackendSpec))
    const viaReconcile = yield* Effect.flip(pool.reconcile([spec as BackendSpec.BackendSpec]))
    assert.strictEqual(viaRegister._tag, "InvalidDesiredStateError")
    assert.strictEqual(viaReconcile._tag, "InvalidDesiredStateError")
    assert.deepStrictEqual(yield* pool.status, []) // nothing was registered or started
    return { register: viaRegister.message, reconcile: viaReconcile.message }
  })

describe("specs that cannot work are refused by register and reconcile, naming the field", () => {
  it.live("an invalid readiness regular expression", () =>
    Effect.gen(function*() {
      const m = yield* refused({ ...base, readiness: { check: { _tag: "LogLine", pattern: "listening on (\\d+" } } })
      assert.include(m.register, "register (id \"bad\") cannot run as written")
      assert.include(m.register, "- readiness.check.pattern is not a valid regular expression")
      assert.include(m.reconcile, "desired[0] (id \"bad\") cannot run as written")
      const flags = yield* refused({ ...base, readiness: { check: { _tag: "LogLine", pattern: "x", flags: "q" } } })
      assert.include(flags.register, "readiness.check.pattern is not a valid regular expression")
    }).pipe(Effect.provide(livePool)))

  it.live("an unknown readiness kind", () =>
    Effect.gen(function*() {
      const m = yield* refused({ ...base, readiness: { check: { _tag: "Htpp", url: "http://x" } } })
      assert.include(m.register, "is not a valid BackendSpec")
      assert.include(m.register, "readiness")
      assert.include(m.register, "check")
    }).pipe(Effect.provide(livePool)))

  it.live("impossible combinations: a port-less check with a Reported port, a one-shot liveness, a backoff above its cap", () =>
    Effect.gen(function*() {
      const tcp = yield* refused({ ...base, readiness: { check: { _tag: "Tcp" } } })
      assert.include(tcp.register, "- readiness.check.port is missing and the port is Reported")
      const http = yield* refused({ ...base, readiness: { check: { _tag: "Http", url: "http://{host}:{port}/" } } })
      assert.include(http.register, "- readiness.check.url uses {port}, but the port is Reported")
      const rpc = yield* refused({ ...base, liveness: { check: { _tag: "Rpc" } } })
      assert.include(rpc.register, "- liveness.check.url defaults to tcp://{host}:{port}")
      const once = yield* refused({ ...base, liveness: { check: { _tag: "LogLine", pattern: "ok" } } })
      assert.include(once.register, "- liveness.check is LogLine, which happens once")
      const backoff = yield* refused({ ...base, restart: { backoff: { initialMs: 5_000, maxMs: 1_000 } } })
      assert.include(backoff.register, "- restart.backoff.initialMs (5000) is above restart.backoff.maxMs (1000)")
      // The same checks with a port the pool knows are fine.
      const pool = yield* BackendPool
      const ok = yield* pool.register({ ...base, port: { _tag: "Allocated" }, readiness: { check: { _tag: "Tcp" } } })
      assert.strictEqual(ok.id, "bad")
    }).pipe(Effect.provide(livePool)))
})
