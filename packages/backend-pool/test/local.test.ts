import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec } from "@isthmus/backend-pool"
import { Effect, Redacted } from "effect"
import { fixture, livePool } from "./helpers.ts"

const daemon = (id: string, extra: ReadonlyArray<string> = []): BackendSpec.BackendSpec => ({
  id,
  launcher: { _tag: "Local", command: process.execPath, args: [fixture("daemon.mjs"), ...extra] },
  secrets: { API_KEY: Redacted.make("sk-very-secret-value") },
  bootstrap: { delivery: "stdin", envelope: { token: "tok", greeting: "hello" } },
  stop: { graceMs: 2_000 }
})

describe("Local launcher", () => {
  it.live("starts a child-helper daemon, captures its URL, stops it gracefully", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const plan = yield* pool.reconcile([daemon("a")])
      assert.deepStrictEqual(plan.started, ["a"])
      const instance = yield* pool.get("a")
      const ready = yield* instance.awaitReady
      assert.match(ready.url ?? "", /^http:\/\/127\.0\.0\.1:\d+$/)
      const body = yield* Effect.promise(() => fetch(ready.url!).then((r) => r.text()))
      assert.strictEqual(body, "hello")
      const lines = (yield* instance.log.recent).map((l) => l.text)
      assert.include(lines, "bootstrap: received greeting=hello")
      assert.include(lines, "secret present: true")
      const outcome = yield* instance.stop
      assert.strictEqual(outcome.method, "graceful")
      assert.strictEqual((yield* instance.snapshot).phase, "Stopped")
    }).pipe(Effect.provide(livePool)))
})
