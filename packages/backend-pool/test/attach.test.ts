/**
 * The `Attach` launcher with real daemons started outside the pool: on this machine, and on an
 * SSH host (`SshTestServer`: its own network namespace when root allows it, so the daemon's
 * 127.0.0.1 there is only reachable through the forward).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  AttachLauncher,
  BackendPool,
  BackendSpec,
  InstanceChannel,
  SshConnection,
  SshLauncher
} from "@isthmus/backend-pool"
import { SshTestServer } from "@isthmus/backend-pool/testing"
import { Dialect, Framing, RpcPeer } from "@isthmus/rpc-protocol"
import { Effect, Layer, Schedule, Stream } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeNet from "node:net"
import { fixture } from "./helpers.ts"

// Where OpenSSH is not installed these tests skip, with the reason in their describe line.
const missing = SshTestServer.unavailable()
const isolation = missing !== undefined
  ? `skipped: ${missing}`
  : SshTestServer.canUseNamespace()
  ? "own network namespace"
  : "loopback port"

const pool = BackendPool.layer.pipe(Layer.provide(SshLauncher.layer()), Layer.provide(NodeServices.layer))

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = NodeNet.createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as NodeNet.AddressInfo).port
      s.close(() => resolve(port))
    })
  })

/** A JSON-RPC daemon (`rpc-server.mjs`, answers `ping`) run by hand, outside any pool. */
const startDaemon = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<NodeChild.ChildProcess>((resume) => {
      const child = NodeChild.spawn(process.execPath, [fixture("rpc-server.mjs"), String(port)], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      child.stdout!.once("data", () => resume(Effect.succeed(child)))
    }),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )

const stopDaemon = (child: NodeChild.ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

const attachSpec = (id: string, launcher: BackendSpec.AttachLaunch): BackendSpec.BackendSpec => ({
  id,
  launcher,
  readiness: { check: { _tag: "Rpc", url: "tcp://{host}:{port}" }, startupTimeoutMs: 3_000, periodMs: 100 },
  liveness: { check: { _tag: "Rpc", url: "tcp://{host}:{port}" }, periodMs: 200, failureThreshold: 2 },
  restart: { backoff: { initialMs: 100, maxMs: 500 }, crashLoopFailures: 1_000 }
})

/** The first snapshot from `changes` that satisfies `f` (generous bound: real daemons, real sockets). */
const next = (
  instance: BackendPool["Service"] extends { get: (id: string) => Effect.Effect<infer I, unknown> } ? I : never,
  f: (s: { phase: string; runId: number; url: string | undefined; lastExit: { reason: string } | undefined }) => boolean
) => instance.changes.pipe(Stream.filter(f), Stream.runHead, Effect.timeout("60 seconds"), Effect.map((o) => o._tag))

describe("Attach launcher", () => {
  it.live(
    "follows a daemon stopped and restarted outside the pool; a peer following the instance keeps working",
    () =>
      Effect.gen(function*() {
        const port = yield* Effect.promise(freePort)
        let daemon = yield* startDaemon(port)
        const p = yield* BackendPool
        yield* p.reconcile([attachSpec("daemon", { _tag: "Attach", url: `tcp://127.0.0.1:${port}` })])
        const instance = yield* p.get("daemon")
        const ready = yield* instance.awaitReady
        assert.strictEqual(ready.url, `tcp://127.0.0.1:${port}`)
        assert.strictEqual(ready.location, `attach:tcp://127.0.0.1:${port}`)
        assert.isUndefined(ready.pid)
        // A consumer follows the instance like a spawned one: a reconnecting peer dialling its URL.
        const peer = yield* RpcPeer.make({
          connect: InstanceChannel.connect(instance),
          dialect: Dialect.strict,
          framing: Framing.ndjson(),
          reconnect: { initialDelay: "100 millis", maxDelay: "500 millis" },
          requestTimeout: "5 seconds"
        })
        assert.strictEqual(yield* peer.request("ping", {}), "pong")
        yield* stopDaemon(daemon)
        // Unhealthy: liveness fails twice, the run ends through the backoff, never Failed.
        assert.strictEqual(yield* next(instance, (s) => s.lastExit?.reason === "LivenessFailed"), "Some")
        assert.strictEqual(yield* next(instance, (s) => s.phase === "Backoff" || s.phase === "Starting"), "Some")
        const down = yield* instance.snapshot
        assert.notStrictEqual(down.phase, "Failed")
        daemon = yield* startDaemon(port)
        assert.strictEqual(yield* next(instance, (s) => s.phase === "Ready" && s.runId > ready.runId), "Some")
        // The peer reconnected by itself (retry: its first call may meet the old connection's end).
        const pong = yield* peer.request("ping", {}).pipe(
          Effect.retry({ times: 50, schedule: Schedule.spaced("200 millis") }),
          Effect.orElseSucceed(() => "no answer")
        )
        assert.strictEqual(pong, "pong")
        // Stopping never touches the daemon: it was not the pool's.
        const outcome = yield* instance.stop
        assert.strictEqual(outcome.method, "detached")
        assert.isNull(daemon.exitCode)
        assert.isNull(daemon.signalCode)
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )

  it.live(
    "the restart command runs when an attach finds the daemon down, and brings it back",
    () =>
      Effect.gen(function*() {
        const port = yield* Effect.promise(freePort)
        const marker = `attach-hook-${port}`
        const p = yield* BackendPool
        yield* p.reconcile([
          attachSpec("hooked", {
            _tag: "Attach",
            url: `tcp://127.0.0.1:${port}`,
            // `setsid -f`: the daemon must outlive the command (what it leaves in its group is stopped).
            restart: {
              command: ["setsid", "-f", process.execPath, fixture("rpc-server.mjs"), String(port), marker]
            }
          })
        ])
        const instance = yield* p.get("hooked")
        const ready = yield* instance.awaitReady
        assert.strictEqual(ready.url, `tcp://127.0.0.1:${port}`)
        assert.isTrue(instance.log.tail(50).some((l) => l.text.startsWith("restart command (local) ran: exit 0")))
        yield* Effect.addFinalizer(() => Effect.sync(() => NodeChild.spawnSync("pkill", ["-f", marker])))
        yield* instance.stop
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )

  it.live("bad input: a URL without a port, a readiness that can never succeed", () =>
    Effect.gen(function*() {
      const p = yield* BackendPool
      yield* p.reconcile([
        { id: "noport", launcher: { _tag: "Attach", url: "not a url" } },
        {
          id: "signal",
          launcher: { _tag: "Attach", url: "tcp://127.0.0.1:1" },
          readiness: { check: { _tag: "Signal" } }
        }
      ])
      const a = yield* Effect.flip((yield* p.get("noport")).awaitReady)
      assert.strictEqual(a.phase, "Failed")
      assert.include(a.message, "has no host and port")
      const b = yield* Effect.flip((yield* p.get("signal")).awaitReady)
      assert.include(b.message, "readiness Signal can never succeed")
    }).pipe(Effect.scoped, Effect.provide(pool)), 60_000)

  it("checks may use {port}: an attached backend's port is known at launch, unlike a Reported one", () => {
    const spec = attachSpec("known", { _tag: "Attach", url: "tcp://127.0.0.1:7000" })
    assert.deepStrictEqual(BackendSpec.specProblems(spec), [])
    // The same checks on a spawned backend whose port is only reported once ready cannot work.
    const local = { ...spec, launcher: { _tag: "Local", command: "x" } } as const
    assert.deepStrictEqual(
      BackendSpec.specProblems(local).map((p) => p.field),
      ["readiness.check.url", "liveness.check.url"]
    )
  })

  it("endpoints and rewritten URLs", () => {
    assert.deepStrictEqual(AttachLauncher.endpointOf("http://[::1]:8080/x"), { host: "::1", port: 8080 })
    assert.deepStrictEqual(AttachLauncher.endpointOf("https://build-box"), { host: "build-box", port: 443 })
    assert.isUndefined(AttachLauncher.endpointOf("tcp://host"))
    assert.strictEqual(
      AttachLauncher.withEndpoint("ws://127.0.0.1:9/rpc", "127.0.0.1", 40000),
      "ws://127.0.0.1:40000/rpc"
    )
    assert.strictEqual(AttachLauncher.withEndpoint("tcp://127.0.0.1:9", "127.0.0.1", 40000), "tcp://127.0.0.1:40000")
  })
})

describe.skipIf(missing !== undefined)(`Attach launcher over SSH (${isolation})`, () => {
  it.live(
    "a daemon listening on the host's 127.0.0.1 is followed through a forward; restart via ssh",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const port = 40_000 + Math.floor(Math.random() * 20_000)
        const marker = `attach-remote-${port}`
        const daemon = `setsid -f ${process.execPath} ${
          fixture("rpc-server.mjs")
        } ${port} ${marker} </dev/null >/dev/null 2>&1`
        const ssh = (command: string) =>
          NodeChild.spawnSync("ssh", SshConnection.sessionArgs(lab.connection, { _tag: "None" }, [], command), {
            encoding: "utf8",
            input: ""
          })
        assert.strictEqual(ssh(daemon).status, 0)
        const p = yield* BackendPool
        yield* p.reconcile([
          attachSpec("remote-daemon", {
            _tag: "Attach",
            url: `tcp://127.0.0.1:${port}`,
            ssh: lab.connection,
            restart: {
              via: "ssh",
              command: ["setsid", "-f", process.execPath, fixture("rpc-server.mjs"), String(port), marker]
            }
          })
        ])
        const instance = yield* p.get("remote-daemon")
        const ready = yield* instance.awaitReady
        // The URL is the local end of a forward (in a namespace the daemon is not reachable otherwise).
        assert.match(ready.url!, /^tcp:\/\/127\.0\.0\.1:\d+$/)
        if (lab.isolation === "netns") assert.notStrictEqual(ready.url, `tcp://127.0.0.1:${port}`)
        assert.include(ready.location, `via ssh:${lab.user}@${lab.host}`)
        const peer = yield* RpcPeer.make({
          connect: InstanceChannel.connect(instance),
          dialect: Dialect.strict,
          framing: Framing.ndjson(),
          requestTimeout: "5 seconds"
        })
        assert.strictEqual(yield* peer.request("ping", {}), "pong")
        // Stopped on the host outside the pool; the restart command (over ssh) brings it back.
        ssh(`pkill -f ${marker}`)
        assert.strictEqual(yield* next(instance, (s) => s.phase === "Ready" && s.runId > ready.runId), "Some")
        const lines = instance.log.tail(100).map((l) => l.text)
        assert.isTrue(lines.some((l) => l.startsWith("restart command (ssh) ran: exit 0")), lines.join("\n"))
        yield* Effect.addFinalizer(() => Effect.sync(() => ssh(`pkill -f ${marker}`)))
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )
})
