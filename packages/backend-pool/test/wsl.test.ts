/**
 * A WSL backend through `fake-wsl` (from `@isthmus/wsl/testing`), which behaves like `wsl.exe`
 * and runs the Linux command here.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec, type InstanceLog, Watchdog, WslLauncher } from "@isthmus/backend-pool"
import { DistroName } from "@isthmus/wsl"
import { Wsl } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, Layer, Redacted, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fixture } from "./helpers.ts"

const secret = "sk-wsl-9d8c7b6a"

const setup = (wslConfig?: string) => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-wsl-"))
  const record = NodePath.join(dir, "record.jsonl")
  const host = fakeWslHostOptions({
    record,
    ...(wslConfig === undefined ? {} : { wslConfig }),
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
    Layer.provide(WslLauncher.layer({ host, requirements: { node: ">=22" } })),
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

/** Live (non-zombie) members of Linux process group `pgid`, from `/proc` (fake-wsl runs them here). */
const members = (pgid: number): Array<number> =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(fields[2]) === pgid && fields[0] !== "Z"
    } catch {
      return false
    }
  })

/** The Linux process group a child-helper backend reported in its ready line. */
const linuxGroup = (lines: ReadonlyArray<InstanceLog.LogLine>): number => {
  const ready = lines.map((l) => l.text).find((t) => t.startsWith("@@isthmus:ready "))!
  return (JSON.parse(ready.slice("@@isthmus:ready ".length)) as { pgid: number }).pgid
}

/** The process group of the one live process running `script` (from `/proc`). */
const linuxGroupOf = (script: string): number => {
  for (const e of NodeFs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const cmdline = NodeFs.readFileSync(`/proc/${e}/cmdline`, "latin1").split("\0")
      if (cmdline[0] === process.execPath && cmdline[1]?.endsWith(script)) {
        const stat = NodeFs.readFileSync(`/proc/${e}/stat`, "latin1")
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2])
      }
    } catch {
      // gone
    }
  }
  throw new Error(`no process runs ${script}`)
}

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
        // The daemon bound 127.0.0.1 inside the distro; under NAT (localhost forwarding on, WSL's
        // default) Windows reaches it at its own 127.0.0.1 through the relay, not at 172.28.1.5.
        assert.match(ready.url ?? "", /^http:\/\/127\.0\.0\.1:\d+$/)
        const lines = (yield* ubuntu.log.recent).map((l) => l.text)
        assert.include(lines, "bootstrap: received greeting=hello from Ubuntu")
        assert.include(lines, "secret present: true")

        const launch = invocations().find((i) => i.argv.includes(process.execPath))!
        assert.deepStrictEqual(launch.argv.slice(0, 4), ["--distribution", "Ubuntu", "--exec", "sh"])
        assert.strictEqual(launch.argv[5], Watchdog.script) // the watchdog runs inside the distro
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
    "every stop acts inside the distro in one wsl.exe call: a TERM-ignoring backend is killed there, not left under init",
    () =>
      Effect.gen(function*() {
        const { dir: dir2, invocations: calls, layer: inDistro } = setup()
        yield* Effect.gen(function*() {
          const pool = yield* BackendPool
          yield* pool.reconcile([inDistroSpec("polite", "daemon.mjs"), inDistroSpec("stubborn", "wsl-stubborn.mjs")])
          const polite = yield* pool.get("polite")
          const stubborn = yield* pool.get("stubborn")
          yield* polite.awaitReady
          yield* stubborn.awaitReady
          const group = linuxGroup(yield* stubborn.log.recent)
          assert.isAbove(members(group).length, 0)
          const graceful = yield* polite.stop
          assert.strictEqual(graceful.method, "graceful")
          const forced = yield* stubborn.stop
          assert.strictEqual(forced.method, "forced")
          assert.isTrue(forced.complete)
          assert.deepStrictEqual(members(group), []) // nothing of it left "under init" (WSL#2496)
          assert.include((yield* stubborn.log.recent).map((l) => l.text), "ignoring SIGTERM")
          const stops = calls().filter((c) => c.argv.includes("isthmus-stop"))
          assert.strictEqual(stops.length, 2) // one wsl.exe call per stop, whatever the grace
          const mine = stops.find((c) => c.argv.includes(String(group)))!
          assert.deepStrictEqual(mine.argv.slice(mine.argv.indexOf("isthmus-stop") + 1), [String(group), "600", "TERM"])
        }).pipe(Effect.provide(inDistro))
        NodeFs.rmSync(dir2, { recursive: true, force: true })
      }),
    120_000
  )

  it.live(
    "a stop before readiness and a startup timeout end the Linux group too (the pgid comes at launch)",
    () =>
      Effect.gen(function*() {
        const { dir: dir2, layer: inDistro } = setup()
        yield* Effect.gen(function*() {
          const pool = yield* BackendPool
          const early = yield* pool.register({ ...inDistroSpec("early", "neverready.mjs"), restart: { mode: "never" } })
          yield* early.start
          yield* early.log.follow.pipe(Stream.filter((l) => l.text === "booting step 5"), Stream.runHead)
          const earlyGroup = linuxGroupOf("neverready.mjs")
          assert.isAbove(members(earlyGroup).length, 0)
          const outcome = yield* early.stop
          assert.include(["graceful", "forced"], outcome.method)
          assert.deepStrictEqual(members(earlyGroup), [])

          const late = yield* pool.register({
            ...inDistroSpec("late", "neverready.mjs"),
            readiness: { startupTimeoutMs: 3_000 },
            restart: { mode: "never" }
          })
          yield* late.start
          yield* late.log.follow.pipe(Stream.filter((l) => l.text === "booting step 5"), Stream.runHead)
          const lateGroup = linuxGroupOf("neverready.mjs")
          const error = yield* Effect.flip(late.awaitReady)
          assert.strictEqual(error.phase, "Failed")
          assert.strictEqual((yield* late.snapshot).lastExit?.reason, "StartupTimeout")
          assert.deepStrictEqual(members(lateGroup), [])
        }).pipe(Effect.provide(inDistro))
        NodeFs.rmSync(dir2, { recursive: true, force: true })
      }),
    120_000
  )

  it.live("a loopback bind under NAT without localhost forwarding: fatal, with the fix", () =>
    Effect.gen(function*() {
      const { dir: dir2, layer: noForwarding } = setup("[wsl2]\nlocalhostForwarding=false\n")
      yield* Effect.gen(function*() {
        const pool = yield* BackendPool
        const instance = yield* pool.register(inDistroSpec("unreachable", "daemon.mjs"))
        yield* instance.start
        const error = yield* Effect.flip(instance.awaitReady)
        assert.strictEqual(error.phase, "Failed")
        const s = yield* instance.snapshot
        assert.strictEqual(s.failure?.failureClass, "fatal")
        assert.include(s.failure?.message, "which Windows cannot reach")
        assert.include(s.failure?.message, "0.0.0.0")
      }).pipe(Effect.provide(noForwarding))
      NodeFs.rmSync(dir2, { recursive: true, force: true })
    }), 120_000)

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
  })
})
