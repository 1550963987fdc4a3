/**
 * A WSL backend through `fake-wsl` (from `@isthmus/wsl/testing`), which behaves like `wsl.exe`
 * and runs the Linux command here.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec, WslLauncher } from "@isthmus/backend-pool"
import { DistroName } from "@isthmus/wsl"
import { Wsl } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, Layer, Redacted } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fixture } from "./helpers.ts"

const secret = "sk-wsl-9d8c7b6a"

const setup = (launcherOptions: { readonly stopInDistro?: boolean } = {}) => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-wsl-"))
  const record = NodePath.join(dir, "record.jsonl")
  const host = fakeWslHostOptions({
    record,
    distros: [
      {
        name: "Ubuntu",
        state: "Running",
        default: true,
        interfaces: [{ name: "eth0", address: "172.28.1.5" }],
        networkingMode: "nat",
        node: { path: "/usr/bin/node", version: "v22.23.3" }
      },
      { name: "Debian-Old", state: "Running", node: { path: "/usr/bin/node", version: "v16.20.0" } }
    ]
  }, { ...process.env, WSLENV: "GOPATH/p::USERPROFILE/pu" })
  const layer = BackendPool.layer.pipe(
    Layer.provide(WslLauncher.layer({ host, requirements: { node: ">=22" }, ...launcherOptions })),
    Layer.provide(Wsl.layer({ host })),
    Layer.provide(NodeServices.layer)
  )
  const invocations = () =>
    NodeFs.existsSync(record)
      ? NodeFs.readFileSync(record, "utf8").trim().split("\n").map((l) =>
        JSON.parse(l) as { argv: Array<string>; wslenv: string | null; forwarded: Array<string> }
      )
      : []
  return { dir, layer, invocations }
}

const wslDaemon = (id: string, distro: string): BackendSpec.BackendSpec => ({
  id,
  launcher: { _tag: "Wsl", distro, command: process.execPath, args: [fixture("daemon.mjs")] },
  env: { MODE: "wsl" },
  secrets: { API_KEY: Redacted.make(secret) },
  bootstrap: { delivery: "stdin", envelope: { token: "tok", greeting: `hello from ${distro}` } },
  restart: { mode: "on-failure" },
  stop: { graceMs: 2_000 }
})

const inDistroSpec = (id: string, script: string): BackendSpec.BackendSpec => ({
  ...wslDaemon(id, "Ubuntu"),
  launcher: { _tag: "Wsl", distro: "Ubuntu", command: process.execPath, args: [fixture(script)] },
  stop: { graceMs: 600 }
})

describe("Wsl launcher through fake-wsl", () => {
  const { dir, invocations, layer } = setup()

  it.live(
    "bootstrap on stdin, secrets through WSLENV, URL from the reachable host; a failing preflight never spawns",
    () =>
      Effect.gen(function*() {
        const pool = yield* BackendPool
        const plan = yield* pool.reconcile([
          wslDaemon("wsl:Ubuntu", "Ubuntu"),
          wslDaemon("wsl:Debian-Old", "Debian-Old")
        ])
        assert.deepStrictEqual(plan.started.toSorted(), ["wsl:Debian-Old", "wsl:Ubuntu"])

        const ubuntu = yield* pool.get("wsl:Ubuntu")
        const ready = yield* ubuntu.awaitReady
        // The daemon bound 127.0.0.1 inside the distro; under NAT the host reaches the distro address.
        assert.match(ready.url ?? "", /^http:\/\/172\.28\.1\.5:\d+$/)
        const lines = (yield* ubuntu.log.recent).map((l) => l.text)
        assert.include(lines, "bootstrap: received greeting=hello from Ubuntu")
        assert.include(lines, "secret present: true")

        const launch = invocations().find((i) => i.argv.includes(process.execPath))!
        assert.deepStrictEqual(launch.argv.slice(0, 3), ["--distribution", "Ubuntu", "--exec"])
        assert.include(launch.argv, "MODE=wsl")
        assert.include(launch.argv, process.execPath)
        assert.notInclude(JSON.stringify(launch.argv), secret)
        // The user's WSLENV is kept verbatim; the secret's name is appended, its value never written.
        assert.strictEqual(launch.wslenv, "GOPATH/p::USERPROFILE/pu:API_KEY")
        assert.include(launch.forwarded, "API_KEY")

        const legacy = yield* pool.get("wsl:Debian-Old")
        const error = yield* Effect.flip(legacy.awaitReady)
        assert.strictEqual(error.phase, "Failed")
        const s = yield* legacy.snapshot
        assert.strictEqual(s.failure?.reason, "PreflightFailed")
        assert.strictEqual(s.failure?.failureClass, "fatal")
        assert.match(s.failure?.message ?? "", /16\.20\.0/)
        assert.strictEqual(s.runId, 0)
        // The preflight ran (the user's shell, interactive: bash -ilc); the backend itself was never spawned.
        assert.isTrue(
          invocations().some((i) => i.argv.includes("Debian-Old") && i.argv.some((a) => a.endsWith("bash")))
        )
        assert.isFalse(invocations().some((i) => i.argv.includes("Debian-Old") && i.argv.includes(process.execPath)))

        const outcome = yield* ubuntu.stop
        assert.strictEqual(outcome.method, "graceful")
        assert.notInclude(NodeFs.readFileSync(NodePath.join(dir, "record.jsonl"), "utf8"), secret)
      }).pipe(Effect.provide(layer)),
    120_000
  )

  it.live(
    "stop inside the distro: kill -s TERM -- -<pgid> through wsl.exe, then KILL after the grace period",
    () =>
      Effect.gen(function*() {
        const { dir: dir2, invocations: calls, layer: inDistro } = setup({ stopInDistro: true })
        yield* Effect.gen(function*() {
          const pool = yield* BackendPool
          yield* pool.reconcile([inDistroSpec("polite", "daemon.mjs"), inDistroSpec("stubborn", "wsl-stubborn.mjs")])
          const polite = yield* pool.get("polite")
          const stubborn = yield* pool.get("stubborn")
          yield* polite.awaitReady
          yield* stubborn.awaitReady
          const graceful = yield* polite.stop
          assert.strictEqual(graceful.method, "graceful")
          const started = Date.now()
          const forced = yield* stubborn.stop
          assert.strictEqual(forced.method, "forced")
          // Every check is one wsl.exe call (a Node start for fake-wsl), so this is slower than a local
          // stop: ~2 s when quiet, 5–10 s on a loaded machine; the bound is 10x the quiet figure.
          assert.isBelow(Date.now() - started, 600 + 20_000)
          assert.include((yield* stubborn.log.recent).map((l) => l.text), "ignoring SIGTERM")
          const kills = calls().filter((c) => c.argv.includes("kill")).map((c) => c.argv.slice(c.argv.indexOf("kill")))
          assert.isTrue(kills.some((k) => k[1] === "-s" && k[2] === "TERM" && /^-\d+$/.test(k[4] ?? "")))
          assert.isTrue(kills.some((k) => k[2] === "KILL"))
        }).pipe(Effect.provide(inDistro))
        NodeFs.rmSync(dir2, { recursive: true, force: true })
      }),
    120_000
  )

  it.live("no WSL on this machine: the preflight fails as fatal, says how to fix it, and nothing is spawned", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register(wslDaemon("nowsl", "Ubuntu"))
      yield* instance.start
      const error = yield* Effect.flip(instance.awaitReady)
      assert.strictEqual(error.phase, "Failed")
      const s = yield* instance.snapshot
      assert.strictEqual(s.failure?.reason, "PreflightFailed")
      assert.strictEqual(s.failure?.failureClass, "fatal")
      assert.include(s.failure?.message, "WSL is not available")
      assert.include(s.failure?.message, "install WSL")
      assert.strictEqual(s.runId, 0)
    }).pipe(Effect.provide(
      // The defaults on Linux: no wsl.exe.
      BackendPool.layer.pipe(
        Layer.provide(WslLauncher.layer()),
        Layer.provide(Wsl.layer()),
        Layer.provide(NodeServices.layer)
      )
    )))

  it("classifies preflight failures", () => {
    assert.strictEqual(
      WslLauncher.classify(new DistroName.InvalidDistroNameError({ name: "a/b", reason: "bad" })).failureClass,
      "fatal"
    )
    assert.strictEqual(WslLauncher.rewriteToHost("http://0.0.0.0:8080", "172.1.2.3"), "http://172.1.2.3:8080")
    assert.strictEqual(WslLauncher.rewriteToHost("http://10.0.0.1:8080", "172.1.2.3"), "http://10.0.0.1:8080")
  })
})
