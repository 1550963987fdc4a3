/**
 * A stdio backend inside WSL: the fake codex app-server (examples/fake-app-server) in a `fake-wsl`
 * distro, its JSON-RPC over `wsl.exe`'s stdin/stdout, handshaken by the pool's run channel, shared
 * through `RpcBridge`, restarted after a crash; no Linux process of it is left after a stop or an
 * interruption although `fake-wsl` models WSL#2496 (killing `wsl.exe` leaves the Linux child
 * running: `windows-reality.md` 2.1).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec, WslLauncher } from "@isthmus/backend-pool"
import { Dialect, Framing, Handshake, type Message, RpcBridge, RpcPeer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Wsl } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Deferred, Effect, Fiber, Layer, Option, Queue, Redacted, Stream } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { fixture } from "./helpers.ts"

const fakeAppServer = fileURLToPath(new URL("../../../examples/fake-app-server/src/main.ts", import.meta.url))

const setup = () => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-wsl-stdio-"))
  const record = NodePath.join(dir, "record.jsonl")
  const host = fakeWslHostOptions({
    record,
    distros: [{
      name: "Ubuntu",
      state: "Running",
      default: true,
      interfaces: [{ name: "eth0", address: "172.28.1.5" }],
      networkingMode: "nat",
      node: { path: "/usr/bin/node", version: "v22.23.3" }
    }]
  })
  const layer = BackendPool.layer.pipe(
    Layer.provide(WslLauncher.layer({ host })),
    Layer.provide(Wsl.layer({ host })),
    Layer.provide(NodeServices.layer)
  )
  const invocations = () =>
    NodeFs.existsSync(record)
      ? NodeFs.readFileSync(record, "utf8").trim().split("\n").map((l) =>
        JSON.parse(l) as { argv: Array<string>; wslenv: string | null }
      )
      : []
  return { dir, layer, invocations }
}

/** The app-server in the distro; `mark` tags every Linux process of it (argv or environment). */
const spec = (id: string, mark: string): BackendSpec.BackendSpec => ({
  id,
  launcher: {
    _tag: "Wsl",
    distro: "Ubuntu",
    command: process.execPath,
    args: [fakeAppServer, "--delta-delay-ms", "1"]
  },
  env: { ISTHMUS_TEST_MARK: mark },
  stdio: { handshake: { params: { clientInfo: { name: "wsl_test", version: "1" } } } },
  restart: { backoff: { initialMs: 50, maxMs: 200 } },
  stop: { graceMs: 2_000 }
})

/**
 * Live processes carrying `mark` in their argv or environment: `fake-wsl` (the Windows side), the
 * watchdog, its relay and the backend inside the "distro". Zombies do not count (nothing runs).
 */
const marked = (mark: string): Array<number> =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false
      const cmdline = NodeFs.readFileSync(`/proc/${pid}/cmdline`, "latin1")
      let environ = ""
      try {
        environ = NodeFs.readFileSync(`/proc/${pid}/environ`, "latin1")
      } catch {
        // not ours to read
      }
      return cmdline.includes(mark) || environ.includes(`ISTHMUS_TEST_MARK=${mark}`)
    } catch {
      return false
    }
  })

/** The backend's Linux pid, from its own stderr line (in the instance log). */
const backendPid = (lines: ReadonlyArray<{ readonly text: string; readonly runId: number }>, runId: number) => {
  const line = lines.find((l) => l.runId === runId && /listening on stdio \(pid \d+\)/.test(l.text))
  return line === undefined ? undefined : Number(/pid (\d+)/.exec(line.text)![1])
}

const token = Redacted.make("wsl-stdio-token")

/** A bridge client over loopback TCP: auth, then its own initialize (answered by the bridge). */
const client = (port: number, name: string) =>
  Effect.gen(function*() {
    const notifications = yield* Queue.unbounded<Message.Notification>()
    const peer = yield* RpcPeer.make({
      connect: connectTcp({ port }),
      dialect: Dialect.lite,
      framing: Framing.ndjson(),
      handshake: Handshake.sequence(
        Handshake.tokenAuth(token),
        Handshake.initialize({ clientInfo: { name, version: "1" } })
      ),
      onNotification: (n) => Effect.asVoid(Queue.offer(notifications, n))
    })
    yield* peer.awaitReady
    const until = (method: string, match: (params: Record<string, unknown>) => boolean = () => true) =>
      Effect.gen(function*() {
        for (;;) {
          const n = yield* Queue.take(notifications)
          if (n.method === method && match((n.params ?? {}) as Record<string, unknown>)) return n
        }
      })
    return { peer, until }
  })

describe("a stdio backend inside WSL (fake-wsl)", () => {
  it.live(
    "handshaken by the pool over wsl.exe's stdio, shared through RpcBridge, restarted after a crash, nothing left after stop",
    () =>
      Effect.gen(function*() {
        const { dir, invocations, layer } = setup()
        const mark = NodeCrypto.randomUUID()
        yield* Effect.gen(function*() {
          const pool = yield* BackendPool
          yield* pool.reconcile([spec("app", mark)])
          const instance = yield* pool.get("app")
          const ready = yield* instance.awaitReady
          assert.strictEqual(ready.runId, 1)
          const first = yield* instance.channels.pipe(Stream.runHead, Effect.map(Option.getOrThrow))
          // The pool's handshake went through wsl.exe to the Linux backend and back.
          assert.match(String((first.handshake as { userAgent: string }).userAgent), /^wsl_test\//)
          // wsl.exe ran the watchdog (no bootstrap line, no stop message in the channel).
          const launch = invocations().find((i) => i.argv.includes(fakeAppServer))!
          assert.deepStrictEqual(launch.argv.slice(0, 4), ["--distribution", "Ubuntu", "--exec", "sh"])
          assert.isFalse(launch.argv.some((a) => a.startsWith("ISTHMUS_LIFETIME_FD="))) // stdin is the protocol, not a lifetime pipe

          const bridge = yield* RpcBridge.make({
            upstream: { attach: instance.channels },
            clients: { dialect: Dialect.lite, framing: Framing.ndjson() },
            auth: { tokens: [{ token }] },
            initialize: {}
          })
          const { port } = yield* serveTcp(bridge)
          const a = yield* client(port, "a")
          const b = yield* client(port, "b")
          const [ta, tb] = yield* Effect.all([
            a.peer.request("thread/start", {}),
            b.peer.request("thread/start", {})
          ], { concurrency: 2 })
          const ids = [ta, tb].map((t) => (t as { thread: { id: string } }).thread.id).toSorted()
          assert.deepStrictEqual(ids, ["thr_1", "thr_2"]) // one upstream session, two threads
          // A turn streams its notifications from the distro to both clients.
          const onB = yield* Effect.forkChild(b.until("turn/completed"), { startImmediately: true })
          yield* a.peer.request("turn/start", { threadId: ids[0], input: [{ type: "text", text: "hello" }] })
          yield* a.until("turn/completed")
          yield* Fiber.join(onB)

          // Crash the Linux backend: the watchdog and wsl.exe end, the pool restarts the run.
          const pid1 = backendPid(yield* instance.log.recent, 1)!
          process.kill(pid1, "SIGKILL")
          yield* first.peer.closed
          const next = yield* instance.awaitReady
          assert.strictEqual(next.runId, 2)
          yield* a.until("bridge/upstream", (p) => p["state"] === "ready" && p["generation"] === 2)
          const after = (yield* a.peer.request("thread/start", {})) as { thread: { id: string } }
          assert.strictEqual(after.thread.id, "thr_1") // a fresh backend behind the same connection
          const pid2 = backendPid(yield* instance.log.recent, 2)!
          assert.notStrictEqual(pid2, pid1)

          const outcome = yield* instance.stop
          assert.strictEqual(outcome.method, "graceful")
          assert.deepStrictEqual(marked(mark), []) // nothing of it under init (WSL#2496)
          // The stop acted inside the distro, in one wsl.exe call per stop.
          assert.isTrue(invocations().some((i) => i.argv.includes("isthmus-stop")))
        }).pipe(Effect.scoped, Effect.provide(layer))
        NodeFs.rmSync(dir, { recursive: true, force: true })
      }),
    120_000
  )

  it.live(
    "a child-helper backend: its fd3 bootstrap comes through the environment (WSLENV), not the channel; the stop runs its hook",
    () =>
      Effect.gen(function*() {
        const { dir, invocations, layer } = setup()
        const mark = NodeCrypto.randomUUID()
        yield* Effect.gen(function*() {
          const pool = yield* BackendPool
          const instance = yield* pool.register({
            ...spec("helper", mark),
            launcher: { _tag: "Wsl", distro: "Ubuntu", command: process.execPath, args: [fixture("stdio-helper.mjs")] },
            bootstrap: { delivery: "fd3", envelope: { token: "t", greeting: "hello through WSLENV" } },
            stdio: { handshake: {} },
            restart: { mode: "never" }
          })
          yield* instance.start
          yield* instance.awaitReady
          const channel = yield* instance.channels.pipe(Stream.runHead, Effect.map(Option.getOrThrow))
          const seen = (yield* channel.peer.request("whoami", {})) as { greeting: string; lifetimeFd: string | null }
          // No lifetime descriptor crosses wsl.exe, and stdin is the channel: none is named.
          assert.deepStrictEqual([seen.greeting, seen.lifetimeFd], ["hello through WSLENV", null])
          const launch = invocations().find((i) => i.argv.some((a) => a.endsWith("stdio-helper.mjs")))!
          assert.include(launch.wslenv ?? "", "ISTHMUS_BOOTSTRAP")
          assert.notInclude(JSON.stringify(launch.argv), "hello through WSLENV") // never in argv
          const outcome = yield* instance.stop
          assert.strictEqual(outcome.method, "graceful")
          const lines = instance.log.tail(100).map((l) => l.text)
          assert.include(lines, "stdio-helper: host gone: signal") // the watchdog's TERM, inside the distro
          assert.isFalse(lines.some((t) => t.includes("not JSON on the channel")))
          assert.deepStrictEqual(marked(mark), [])
        }).pipe(Effect.provide(layer))
        NodeFs.rmSync(dir, { recursive: true, force: true })
      }),
    120_000
  )

  it.live(
    "a host killed with SIGKILL leaves no Linux process: the channel's EOF crosses wsl.exe and the watchdog stops the group",
    () =>
      Effect.gen(function*() {
        const mark = NodeCrypto.randomUUID()
        const host = yield* Effect.acquireRelease(
          Effect.sync(() =>
            NodeChild.spawn(process.execPath, [fixture("wsl-stdio-host.ts"), mark], {
              stdio: ["ignore", "pipe", "inherit"]
            })
          ),
          (child) => Effect.sync(() => child.kill("SIGKILL"))
        )
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            for (const pid of marked(mark)) process.kill(pid, "SIGKILL")
          })
        )
        yield* Effect.callback<void>((resume) => {
          host.stdout.once("data", () => resume(Effect.void))
        })
        const before = marked(mark)
        assert.isAtLeast(before.length, 3) // fake-wsl, the watchdog (and its relay), the backend
        host.kill("SIGKILL")
        // Real processes wind down on their own here (EOF, TERM, the grace): poll /proc until none
        // is left. The bound is only a backstop: 2 s grace + process exits, x10 for a busy machine.
        let left = marked(mark)
        for (let i = 0; i < 600 && left.length > 0; i++) {
          yield* Effect.sleep("100 millis")
          left = marked(mark)
        }
        assert.deepStrictEqual(left, [])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "an interrupted host leaves no Linux process (the run's finalizer stops the group inside the distro)",
    () =>
      Effect.gen(function*() {
        const { dir, layer } = setup()
        const mark = NodeCrypto.randomUUID()
        const up = yield* Deferred.make<void>()
        const host = yield* Effect.forkChild(
          Effect.gen(function*() {
            const pool = yield* BackendPool
            yield* pool.reconcile([spec("app", mark)])
            const instance = yield* pool.get("app")
            yield* instance.awaitReady
            yield* Deferred.succeed(up, undefined)
            return yield* Effect.never
          }).pipe(Effect.provide(layer)),
          { startImmediately: true }
        )
        yield* Deferred.await(up)
        assert.isAbove(marked(mark).length, 0)
        yield* Fiber.interrupt(host)
        assert.deepStrictEqual(marked(mark), [])
        NodeFs.rmSync(dir, { recursive: true, force: true })
      }),
    120_000
  )
})
