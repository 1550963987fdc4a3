/**
 * The `Ssh` launcher against a real OpenSSH server (`SshTestServer`): its own network namespace
 * with its own address when root allows it, else a loopback port (the describe line says which).
 *
 * Real time is the point of several cases (grace periods, process deaths); their bounds are
 * generous (the quiet figures are in the README) and each says why. Waits are on pool events or,
 * for process deaths that have no event, on polling /proc.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, type BackendSpec, SshLauncher } from "@isthmus/backend-pool"
import { SshTestServer } from "@isthmus/backend-pool/testing"
import { Effect, Layer, Option, Queue, Redacted, Schedule, Stream } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import { fixture } from "./helpers.ts"

// Where OpenSSH is not installed these tests skip, with the reason in their describe line.
const missing = SshTestServer.unavailable()
const isolation = missing !== undefined
  ? `skipped: ${missing}`
  : SshTestServer.canUseNamespace()
  ? "own network namespace"
  : "loopback port"

const pool = BackendPool.layer.pipe(Layer.provide(SshLauncher.layer()), Layer.provide(NodeServices.layer))

type Event = BackendPool["Service"]["events"] extends Stream.Stream<infer A> ? A : never

/** Records pool events; `until(predicate, ms)` waits (woken by each event) until it holds. */
const recordEvents = Effect.gen(function*() {
  const p = yield* BackendPool
  const events: Array<Event> = []
  const arrived = yield* Queue.sliding<void>(1)
  yield* p.events.pipe(
    Stream.runForEach((e) => Effect.sync(() => events.push(e)).pipe(Effect.andThen(Queue.offer(arrived, undefined)))),
    Effect.forkScoped({ startImmediately: true })
  )
  const until = (predicate: () => boolean, timeoutMs: number) =>
    Effect.gen(function*() {
      while (!predicate()) yield* Queue.take(arrived)
      return true
    }).pipe(Effect.timeout(timeoutMs), Effect.orElseSucceed(() => false))
  return Object.assign(events, { until })
})

const phases = (events: ReadonlyArray<Event>, id: string) =>
  events.flatMap((e) => (e._tag === "Transition" && e.id === id ? [e.to] : []))

const readStat = (pid: number) => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0]!, ppid: Number(fields[1]) }
  } catch {
    return undefined
  }
}

const comm = (pid: number) => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/comm`, "latin1").trim()
  } catch {
    return ""
  }
}

/**
 * Processes of runs on the lab: everything its sessions started, except the masters' own
 * `exec cat >/dev/null` sessions (a `cat` whose parent is sshd).
 */
const backendProcesses = (lab: SshTestServer.SshTestServer) =>
  Effect.map(
    lab.sessionProcesses,
    (list) => list.filter((p) => !(p.cmdline === "cat" && comm(readStat(p.pid)?.ppid ?? 0) === "sshd"))
  )

/**
 * What is left once our remote stop loops have exited: the backend's group is gone when `stop`
 * returns, but a stop loop (a second session's, or the one the channel's EOF started) notices on
 * its next 100 ms check. Polled, bounded generously (30 s) for a loaded machine; seen failing when
 * checked at once under load.
 */
const settled = (lab: SshTestServer.SshTestServer) =>
  backendProcesses(lab).pipe(
    Effect.repeat({ until: (l) => l.length === 0, schedule: Schedule.spaced("100 millis"), times: 300 })
  )

/** The backend fixture and its children (not the watchdog and its stop loop around them). */
const backendOnly = (lab: SshTestServer.SshTestServer) =>
  Effect.map(
    lab.sessionProcesses,
    (list) => list.filter((p) => p.cmdline.includes("ssh-backend.mjs") || p.cmdline.includes("sleep 1000"))
  )

/** Polls (process deaths have no event) until `f` holds or `timeoutMs` passed; the time it took. */
const pollUntil = (f: () => Effect.Effect<boolean>, timeoutMs: number) =>
  Effect.gen(function*() {
    const start = Date.now()
    while (!(yield* f())) {
      if (Date.now() - start > timeoutMs) return undefined
      yield* Effect.sleep(20)
    }
    return Date.now() - start
  })

/** Local ssh processes of this lab (every invocation names the lab's key file). */
const localSsh = (lab: SshTestServer.SshTestServer) =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const cmd = NodeFs.readFileSync(`/proc/${e}/cmdline`, "latin1")
      return cmd.startsWith("ssh\u0000") && cmd.includes(lab.identityFile) && readStat(Number(e))?.state !== "Z"
    } catch {
      return false
    }
  }).map(Number)

const backend = (
  lab: SshTestServer.SshTestServer,
  id: string,
  args: ReadonlyArray<string> = [],
  extra: Partial<BackendSpec.BackendSpec> = {}
): BackendSpec.BackendSpec => ({
  id,
  launcher: {
    _tag: "Ssh",
    connection: lab.connection,
    command: process.execPath,
    args: [fixture("ssh-backend.mjs"), ...args]
  },
  bootstrap: { delivery: "stdin", envelope: { token: "t", greeting: `hello from ${id}` } },
  // Node starts in ~0.3 s here; a loaded CI machine has been seen 30x slower.
  readiness: { startupTimeoutMs: 60_000 },
  restart: { mode: "never" },
  stop: { graceMs: 1_000 },
  ...extra
})

const startAndAwait = (spec: BackendSpec.BackendSpec) =>
  Effect.gen(function*() {
    const p = yield* BackendPool
    yield* p.reconcile([spec])
    return yield* (yield* p.get(spec.id)).awaitReady
  })

describe.skipIf(missing !== undefined)(`Ssh launcher against a real sshd (${isolation})`, () => {
  it.live(
    "starts a backend on the host, forwards its port, and a call through the forward reaches it",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const secret = `s3cret-${Math.random().toString(36).slice(2)}`
        const ready = yield* startAndAwait(
          backend(lab, "remote", [], { secrets: { API_KEY: Redacted.make(secret) } })
        )
        assert.strictEqual(ready.location, `ssh:${lab.user}@${lab.host}:${lab.port}`)
        // The URL is the local end of the forward, not the backend's own (remote) port.
        assert.match(ready.url!, /^http:\/\/127\.0\.0\.1:\d+$/)
        const body = yield* Effect.promise(() =>
          fetch(ready.url!).then((r) => r.json() as Promise<{ greeting: string; digest: string }>)
        )
        assert.strictEqual(body.greeting, "hello from remote")
        const expected = NodeChild.execFileSync("sh", ["-c", "printf %s \"$1\" | sha256sum", "sh", secret], {
          encoding: "utf8"
        }).slice(0, 12)
        assert.strictEqual(body.digest, expected)
        // The secret travelled over stdin: no process on either side has it in its argv.
        const inArgv = NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).filter((e) => {
          try {
            return NodeFs.readFileSync(`/proc/${e}/cmdline`, "latin1").includes(secret)
          } catch {
            return false
          }
        })
        assert.deepStrictEqual(inArgv, [])
        const remote = yield* backendProcesses(lab)
        assert.isTrue(remote.some((p) => p.cmdline.includes("ssh-backend.mjs")))
        // ssh's own command on the remote is the fixed `exec sh -s`: the login shell exec'd into sh.
        assert.isFalse(remote.some((p) => p.cmdline.includes(secret)))
        const p = yield* BackendPool
        const outcome = yield* (yield* p.get("remote")).stop
        assert.strictEqual(outcome.method, "graceful")
        assert.deepStrictEqual(yield* backendProcesses(lab), [])
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )

  it.live(
    "a stdio child-helper backend: its fd3 bootstrap travels in the environment, not the channel, and no lifetime fd is named",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const p = yield* BackendPool
        const instance = yield* p.register({
          id: "stdio-remote",
          launcher: {
            _tag: "Ssh",
            connection: lab.connection,
            command: process.execPath,
            args: [fixture("stdio-helper.mjs")]
          },
          bootstrap: { delivery: "fd3", envelope: { token: "t", greeting: "hello over ssh" } },
          stdio: { handshake: {} },
          readiness: { startupTimeoutMs: 60_000 },
          restart: { mode: "never" },
          stop: { graceMs: 1_000 }
        })
        yield* instance.start
        yield* instance.awaitReady
        const channel = yield* instance.channels.pipe(Stream.runHead, Effect.map(Option.getOrThrow))
        // Before the fix the envelope went into stdin (the channel) and ISTHMUS_LIFETIME_FD=0 made
        // the helper read and release the protocol's stdin.
        const seen = (yield* channel.peer.request("whoami", {})) as { greeting: string; lifetimeFd: string | null }
        assert.deepStrictEqual([seen.greeting, seen.lifetimeFd], ["hello over ssh", null])
        assert.strictEqual((yield* instance.snapshot).phase, "Ready")
        const outcome = yield* instance.stop
        assert.strictEqual(outcome.method, "graceful")
        const lines = instance.log.tail(200).map((l) => l.text)
        assert.isFalse(lines.some((t) => t.includes("not JSON on the channel")))
        assert.deepStrictEqual(yield* settled(lab), [])
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )

  it.live(
    "a backend that ignores SIGTERM, with children that do too, is killed after the grace",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        yield* startAndAwait(backend(lab, "stubborn", ["--ignore-term", "--children", "2"]))
        assert.isAtLeast((yield* backendProcesses(lab)).length, 5)
        const p = yield* BackendPool
        const outcome = yield* (yield* p.get("stubborn")).stop
        assert.strictEqual(outcome.method, "forced")
        assert.strictEqual(outcome.survivors, 0)
        // The grace (1 s) was waited before KILL.
        assert.isAtLeast(outcome.durationMs, 1_000)
        assert.deepStrictEqual(yield* backendProcesses(lab), [])
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )

  it.live(
    "the ssh client SIGKILLed: the remote watchdog stops the whole group within grace + a bound",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const events = yield* recordEvents
        const ready = yield* startAndAwait(backend(lab, "cut", ["--ignore-term", "--children", "2"]))
        assert.isAtLeast((yield* backendProcesses(lab)).length, 5)
        process.kill(ready.pid!, "SIGKILL")
        // Quiet figure: grace (1 s) + ~0.2 s (ssh.md §3.3). 10 s of slack for a loaded machine.
        const backendGone = yield* pollUntil(() => Effect.map(backendOnly(lab), (l) => l.length === 0), 1_000 + 10_000)
        assert.isDefined(backendGone, "remote backend processes left")
        const took = yield* pollUntil(() => Effect.map(backendProcesses(lab), (l) => l.length === 0), 1_000 + 10_000)
        assert.isDefined(took, "remote processes of the run left")
        console.log(
          `ssh client SIGKILLed: backend gone after ${backendGone} ms, the run's remote processes after ${
            backendGone! + took!
          } ms (grace 1000 ms)`
        )
        // The pool saw the run end (restart mode never: it stays down).
        assert.isTrue(yield* events.until(() => phases(events, "cut").at(-1) === "Failed", 30_000))
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )

  it.live(
    "the host SIGKILLed: master and runs end, nothing of the backend stays on the remote",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const host = NodeChild.spawn(
          process.execPath,
          [
            fixture("ssh-host.ts"),
            JSON.stringify(lab.connection),
            fixture("ssh-backend.mjs"),
            "--ignore-term",
            "--children",
            "2"
          ],
          { stdio: ["ignore", "pipe", "inherit"] }
        )
        const line = yield* Effect.callback<string>((resume) => {
          let buffer = ""
          host.stdout!.on("data", (chunk: Buffer) => {
            buffer += chunk.toString()
            const nl = buffer.indexOf("\n")
            if (nl !== -1) resume(Effect.succeed(buffer.slice(0, nl)))
          })
        }).pipe(Effect.timeout("120 seconds"))
        const { url } = JSON.parse(line) as { url: string }
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
        assert.isAtLeast((yield* backendProcesses(lab)).length, 5)
        assert.isAtLeast(localSsh(lab).length, 2) // the master and the run's session
        host.kill("SIGKILL")
        // Quiet figure: grace (2 s in the host's spec) + ~0.2 s. 10 s of slack for a loaded machine.
        const backendGone = yield* pollUntil(() => Effect.map(backendOnly(lab), (l) => l.length === 0), 2_000 + 10_000)
        assert.isDefined(backendGone, "remote backend processes left after the host died")
        const took = yield* pollUntil(() => Effect.map(lab.sessionProcesses, (l) => l.length === 0), 2_000 + 10_000)
        assert.isDefined(took, "remote processes left after the host died")
        console.log(
          `host SIGKILLed: backend gone after ${backendGone} ms, remote empty after ${
            backendGone! + took!
          } ms (grace 2000 ms)`
        )
        // The local ssh processes (master and session) ended with their stdin.
        const local = yield* pollUntil(() => Effect.sync(() => localSsh(lab).length === 0), 10_000)
        assert.isDefined(local, "local ssh processes left")
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    180_000
  )

  it.live(
    "closing the pool stops its runs and closes the host's master: nothing of ours is left on either side",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        yield* Effect.scoped(
          Effect.gen(function*() {
            const p = yield* BackendPool
            yield* p.reconcile([backend(lab, "one", ["--children", "1"]), backend(lab, "two")])
            yield* (yield* p.get("one")).awaitReady
            yield* (yield* p.get("two")).awaitReady
            assert.isAtLeast(localSsh(lab).length, 3) // the master and two sessions
          }).pipe(Effect.provide(pool))
        )
        // The pool's scope is closed: runs stopped, then the master (its session ends with its stdin).
        assert.deepStrictEqual(yield* lab.sessionProcesses, [])
        const local = yield* pollUntil(() => Effect.sync(() => localSsh(lab).length === 0), 10_000)
        assert.isDefined(local, "local ssh processes left")
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)),
    120_000
  )

  it.live("multiplex never: a connection per run and a tunnel per forward work the same", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      const spec = backend(lab, "direct")
      const ready = yield* startAndAwait({
        ...spec,
        launcher: { ...(spec.launcher as BackendSpec.SshLaunch), connection: { ...lab.connection, multiplex: "never" } }
      })
      const body = yield* Effect.promise(() => fetch(ready.url!).then((r) => r.json() as Promise<{ greeting: string }>))
      assert.strictEqual(body.greeting, "hello from direct")
      const p = yield* BackendPool
      assert.strictEqual((yield* (yield* p.get("direct")).stop).method, "graceful")
      assert.deepStrictEqual(yield* settled(lab), [])
      // No master was ever started: nothing of ours is left on the remote at all.
      assert.deepStrictEqual(yield* lab.sessionProcesses, [])
    }).pipe(Effect.scoped, Effect.provide(pool)), 120_000)

  it.live(
    "a Unix-socket forward: the URL names an owner-only socket that reaches the backend",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const spec = backend(lab, "sock")
        const ready = yield* startAndAwait({
          ...spec,
          launcher: { ...(spec.launcher as BackendSpec.SshLaunch), forward: "unix" }
        })
        assert.match(ready.url!, /^unix:\//)
        const path = ready.url!.slice("unix:".length)
        assert.strictEqual(NodeFs.statSync(path).mode & 0o777, 0o600)
        const out = yield* Effect.promise(() =>
          new Promise<string>((resolve, reject) => {
            NodeHttp.get({ socketPath: path, path: "/" }, (res) => {
              let body = ""
              res.setEncoding("utf8")
              res.on("data", (chunk: string) => body += chunk)
              res.on("end", () => resolve(body))
            }).on("error", reject)
          })
        )
        assert.include(out, "hello from sock")
      }).pipe(Effect.scoped, Effect.provide(pool)),
    120_000
  )

  it.live("a changed host key is fatal: Failed at once with the fix, never retried", () =>
    Effect.gen(function*() {
      const lab = yield* SshTestServer.make()
      yield* lab.rotateHostKey
      const events = yield* recordEvents
      const p = yield* BackendPool
      yield* p.reconcile([backend(lab, "mitm", [], { restart: { mode: "always", backoff: { initialMs: 50 } } })])
      assert.isTrue(yield* events.until(() => phases(events, "mitm").includes("Failed"), 60_000))
      const snap = yield* (yield* p.get("mitm")).snapshot
      assert.strictEqual(snap.failure?.reason, "PreflightFailed")
      assert.strictEqual(snap.failure?.failureClass, "fatal")
      assert.include(snap.failure?.message, "CHANGED")
      assert.include(snap.failure?.message, `ssh-keygen -R`)
      assert.notInclude(phases(events, "mitm"), "Backoff")
      assert.strictEqual(snap.runId, 0)
      assert.deepStrictEqual(yield* backendProcesses(lab), [])
    }).pipe(Effect.scoped, Effect.provide(pool)), 120_000)

  it.live(
    "the server goes down: the run ends, preflights fail as transient with backoff, and it recovers",
    () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const p = yield* BackendPool
        const first = yield* startAndAwait(backend(lab, "flaky", [], {
          restart: { mode: "always", backoff: { initialMs: 200, maxMs: 1_000 } }
        }))
        const instance = yield* p.get("flaky")
        /** The first snapshot (current or later) that satisfies `f`; Backoff → Backoff has no pool event. */
        const next = (f: (s: typeof first) => boolean) =>
          instance.changes.pipe(Stream.filter(f), Stream.runHead, Effect.timeout("60 seconds"))
        yield* lab.stop
        // The session died with the server; the next preflights find nothing listening.
        const backoff = yield* next((s) => s.phase === "Backoff" && s.failure?.reason === "PreflightFailed")
        assert.strictEqual(backoff._tag, "Some")
        if (backoff._tag === "Some") {
          assert.strictEqual(backoff.value.failure?.failureClass, "transient")
          assert.include(backoff.value.failure?.message, "nothing accepts connections")
          assert.isDefined(backoff.value.nextRestartAt)
        }
        // It keeps backing off, never Failed, while the server is down.
        const more = yield* next((s) => s.phase === "Backoff" && s.attempt >= 3)
        assert.strictEqual(more._tag, "Some")
        yield* lab.start
        const ready = yield* next((s) => s.phase === "Ready" && s.runId > first.runId)
        assert.strictEqual(ready._tag, "Some")
        if (ready._tag === "Some") {
          const body = yield* Effect.promise(() =>
            fetch(ready.value.url!).then((r) => r.json() as Promise<{ greeting: string }>)
          )
          assert.strictEqual(body.greeting, "hello from flaky")
        }
      }).pipe(Effect.scoped, Effect.provide(pool)),
    180_000
  )
})

/**
 * Registers `spec` (restarting always, so a retry would show) and expects a fatal failure naming
 * each fragment, never retried, with nothing left running.
 */
const failsWith = (lab: SshTestServer.SshTestServer, spec: BackendSpec.BackendSpec, ...fragments: Array<string>) =>
  Effect.gen(function*() {
    const events = yield* recordEvents
    const p = yield* BackendPool
    yield* p.reconcile([{ ...spec, restart: { mode: "always", backoff: { initialMs: 50 } } }])
    assert.isTrue(yield* events.until(() => phases(events, spec.id).includes("Failed"), 60_000))
    const snap = yield* (yield* p.get(spec.id)).snapshot
    assert.strictEqual(snap.failure?.failureClass, "fatal")
    for (const f of fragments) assert.include(snap.failure?.message, f)
    assert.notInclude(phases(events, spec.id), "Backoff")
    assert.deepStrictEqual(yield* backendProcesses(lab), [])
    return snap
  })

/** The key type and key of a known-hosts line (hashed or not, with or without a port). */
const blob = (line: string) => line.trim().split(/\s+/).slice(-2).join(" ")

/** `spec` with its SSH connection changed by `change`. */
const withConnection = (
  spec: BackendSpec.BackendSpec,
  change: Partial<BackendSpec.SshLaunch["connection"]>
): BackendSpec.BackendSpec => {
  const launcher = spec.launcher as BackendSpec.SshLaunch
  return { ...spec, launcher: { ...launcher, connection: { ...launcher.connection, ...change } } }
}

describe.skipIf(missing !== undefined)(
  `Ssh launcher: bad input gets a clear error and leaves nothing running (${isolation})`,
  () => {
    it.live("an unknown host alias", () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const spec = backend(lab, "alias")
        const config = lab.configWithAlias("lab-box")
        yield* failsWith(
          lab,
          {
            ...spec,
            launcher: {
              ...(spec.launcher as BackendSpec.SshLaunch),
              connection: { ...lab.connection, host: "lab-bx", configFile: config }
            }
          },
          "lab-bx",
          "Host alias"
        )
      }).pipe(Effect.scoped, Effect.provide(pool)), 120_000)

    it.live("a missing identity file", () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const spec = backend(lab, "nokey")
        yield* failsWith(
          lab,
          {
            ...spec,
            launcher: {
              ...(spec.launcher as BackendSpec.SshLaunch),
              connection: { ...lab.connection, identityFile: `${lab.dir}/no_such_key` }
            }
          },
          "no_such_key",
          "ssh-keygen",
          "ssh-copy-id"
        )
      }).pipe(Effect.scoped, Effect.provide(pool)), 120_000)

    it.live(
      "a host key not in the known-hosts file: fatal with the ssh-keyscan fix; accept-new trusts and records it",
      () =>
        Effect.gen(function*() {
          const lab = yield* SshTestServer.make()
          const empty = `${lab.dir}/known_hosts_empty`
          NodeFs.writeFileSync(empty, "")
          const snap = yield* failsWith(
            lab,
            withConnection(backend(lab, "stranger"), { knownHostsFile: empty }),
            "is not in",
            `ssh-keyscan`,
            "accept-new"
          )
          assert.strictEqual(snap.runId, 0)
          // The opt-in: the first key presented is trusted and written down; the run works.
          const fresh = `${lab.dir}/known_hosts_fresh`
          NodeFs.writeFileSync(fresh, "")
          const ready = yield* startAndAwait(
            withConnection(backend(lab, "trusting"), { knownHostsFile: fresh, hostKeyPolicy: "accept-new" })
          )
          const body = yield* Effect.promise(() =>
            fetch(ready.url!).then((r) => r.json() as Promise<{ greeting: string }>)
          )
          assert.strictEqual(body.greeting, "hello from trusting")
          // The key recorded is the server's (the lab's own known-hosts line, written when it made the key).
          const serverKey = blob(NodeFs.readFileSync(lab.knownHostsFile, "utf8"))
          assert.match(serverKey, /^ssh-ed25519 \S+$/)
          assert.include(NodeFs.readFileSync(fresh, "utf8").split("\n").map(blob), serverKey)
        }).pipe(Effect.scoped, Effect.provide(pool)),
      120_000
    )

    it.live("a key the server does not accept: fatal with the ssh-copy-id fix", () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const stranger = `${lab.dir}/stranger_ed25519`
        NodeChild.execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger])
        yield* failsWith(
          lab,
          withConnection(backend(lab, "refused"), { identityFile: stranger }),
          "refused the login",
          `ssh-copy-id -i ${stranger}.pub`
        )
      }).pipe(Effect.scoped, Effect.provide(pool)), 120_000)

    it.live("a remote whose login shell is not POSIX (cmd.exe, as on a Windows sshd)", () =>
      Effect.gen(function*() {
        // A stand-in for cmd.exe, Windows sshd's default shell (ssh.md §8): it rejects `exec` with
        // cmd's message ("'exec' is not recognized as an internal or external command, …").
        const lab = yield* SshTestServer.make({ forceCommand: `${fixture("fake-cmd-exe.sh")}` })
        yield* failsWith(lab, backend(lab, "windows"), "not a POSIX shell")
      }).pipe(Effect.scoped, Effect.provide(pool)), 120_000)

    it.live("a remote without the backend's runtime", () =>
      Effect.gen(function*() {
        const lab = yield* SshTestServer.make()
        const spec = backend(lab, "noruntime")
        const snap = yield* failsWith(
          lab,
          {
            ...spec,
            launcher: {
              ...(spec.launcher as BackendSpec.SshLaunch),
              command: "node",
              requirements: { node: ">=99", tools: ["no-such-tool-xyz"] }
            }
          },
          "does not satisfy >=99",
          "no-such-tool-xyz"
        )
        assert.strictEqual(snap.runId, 0)
        const spec2 = backend(lab, "nocommand")
        yield* failsWith(
          lab,
          {
            ...spec2,
            launcher: { ...(spec2.launcher as BackendSpec.SshLaunch), command: "/opt/nowhere/bin/node" }
          },
          "/opt/nowhere/bin/node",
          "was not found"
        )
      }).pipe(Effect.scoped, Effect.provide(pool)), 120_000)
  }
)
