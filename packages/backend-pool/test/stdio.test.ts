/**
 * Stdio backends under the pool: the fake codex app-server (examples/fake-app-server) run by the
 * real `Local` launcher, talked to over its stdin/stdout through each run's channel; a crash
 * restarts it and the channels stream follows; awaitReady never answers a run that has ended.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec } from "@isthmus/backend-pool"
import { Effect, Fiber, Option, Stream } from "effect"
import { fileURLToPath } from "node:url"
import { fixture, livePool } from "./helpers.ts"

const fakeAppServer = fileURLToPath(new URL("../../../examples/fake-app-server/src/main.ts", import.meta.url))

const spec = (id: string): BackendSpec.BackendSpec => ({
  id,
  launcher: { _tag: "Local", command: process.execPath, args: [fakeAppServer, "--delta-delay-ms", "1"] },
  stdio: { handshake: { params: { clientInfo: { name: "pool_test", version: "1" } } } },
  restart: { backoff: { initialMs: 50, maxMs: 200 } },
  stop: { graceMs: 2000 }
})

describe("stdio backends under the pool", () => {
  it.live(
    "a run's channel is handshaken before Ready, carries calls, and follows the instance across a crash",
    () =>
      Effect.gen(function*() {
        const pool = yield* BackendPool
        yield* pool.reconcile([spec("app")])
        const instance = yield* pool.get("app")
        const channels = yield* Effect.forkChild(instance.channels.pipe(Stream.take(2), Stream.runCollect), {
          startImmediately: true
        })
        const ready = yield* instance.awaitReady
        assert.strictEqual(ready.runId, 1)
        const first = yield* instance.channels.pipe(Stream.runHead, Effect.map(Option.getOrThrow))
        assert.strictEqual(first.runId, 1)
        // The pool ran the handshake: the answer is kept, and a second initialize is codex's refusal.
        assert.match(String((first.handshake as { userAgent: string }).userAgent), /^pool_test\//)
        const again = yield* Effect.flip(first.peer.request("initialize", { clientInfo: { name: "x", version: "1" } }))
        assert.strictEqual(again.message, "Already initialized")
        const started = (yield* first.peer.request("thread/start", {})) as { thread: { id: string } }
        assert.strictEqual(started.thread.id, "thr_1")
        // stderr is in the log; stdout (the channel) is not.
        const lines = instance.log.tail(100)
        assert.isTrue(lines.some((l) => l.source === "stderr" && l.text.includes("listening on stdio")))
        assert.isFalse(lines.some((l) => l.source === "stdout"))
        // Crash it: the old channel closes, the pid leaves the snapshot, and awaitReady waits for run 2.
        process.kill(ready.pid!, "SIGKILL")
        yield* first.peer.closed
        yield* instance.changes.pipe(Stream.filter((s) => s.runId === 1 && s.pid === undefined), Stream.runHead)
        const next = yield* instance.awaitReady
        assert.strictEqual(next.runId, 2)
        const both = yield* Fiber.join(channels)
        assert.deepStrictEqual(both.map((c) => c.runId), [1, 2])
        const second = both[1]!
        assert.strictEqual(
          ((yield* second.peer.request("thread/start", {})) as { thread: { id: string } }).thread.id,
          "thr_1"
        )
      }).pipe(Effect.provide(livePool)),
    60_000
  )

  it.live(
    "refuses a bootstrap on stdin, Signal readiness or Stdio readiness without a channel",
    () =>
      Effect.gen(function*() {
        const pool = yield* BackendPool
        const bad: ReadonlyArray<BackendSpec.BackendSpec> = [
          { ...spec("a"), bootstrap: { delivery: "stdin", envelope: {} } },
          { ...spec("b"), readiness: { check: { _tag: "Signal" } } },
          { id: "c", launcher: { _tag: "Local", command: "true" }, readiness: { check: { _tag: "Stdio" } } }
        ]
        for (const one of bad) {
          const error = yield* Effect.flip(pool.reconcile([one]))
          assert.strictEqual(error._tag, "InvalidDesiredStateError")
          assert.include(error.message, one.id)
        }
        assert.strictEqual((yield* pool.list).length, 0)
      }).pipe(Effect.provide(livePool)),
    30_000
  )
})

describe("a stdio backend that uses the child helper", () => {
  it.live(
    "gets its own control pipe (ISTHMUS_LIFETIME_FD 3), keeps stdin for the channel, and runs its hook on stop",
    () =>
      Effect.gen(function*() {
        const pool = yield* BackendPool
        const instance = yield* pool.register({
          id: "helper",
          launcher: { _tag: "Local", command: process.execPath, args: [fixture("stdio-helper.mjs")] },
          // (fd 4 after a fd 3 bootstrap: checked on the Windows model in windows.test.ts.)
          bootstrap: { delivery: "env", envelope: { token: "t", greeting: "hello from env" } },
          stdio: { handshake: {} },
          restart: { mode: "never" },
          stop: { graceMs: 2_000 }
        })
        yield* instance.start
        yield* instance.awaitReady
        const channel = yield* instance.channels.pipe(Stream.runHead, Effect.map(Option.getOrThrow))
        // Still serving after the handshake: the helper neither read nor released its stdin.
        const seen = (yield* channel.peer.request("whoami", {})) as { greeting: string; lifetimeFd: string | null }
        assert.deepStrictEqual([seen.greeting, seen.lifetimeFd], ["hello from env", "3"])
        assert.strictEqual((yield* instance.snapshot).phase, "Ready")
        const outcome = yield* instance.stop
        assert.strictEqual(outcome.method, "graceful")
        const lines = instance.log.tail(100).map((l) => l.text)
        assert.isTrue(lines.some((t) => t.startsWith("stdio-helper: host gone:")))
        assert.isFalse(lines.some((t) => t.includes("not JSON on the channel")))
      }).pipe(Effect.provide(livePool)),
    60_000
  )
})
