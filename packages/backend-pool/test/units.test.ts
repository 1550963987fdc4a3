/**
 * The pure modules and the instance log, with plain inputs.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  BackendInstance,
  BackendSpec,
  InstanceLog,
  Protocol,
  Readiness,
  ReconcilePlan,
  RestartPolicy
} from "@isthmus/backend-pool"
import { Effect, Fiber, Redacted, Stream } from "effect"
import * as fc from "fast-check"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

const policy = BackendSpec.resolveRestart({ id: "x", launcher: { _tag: "Local", command: "x" } })

describe("RestartPolicy", () => {
  it("backoff: 1, 2, 4 … 60 s, jitter within ±20%", () => {
    assert.deepStrictEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 20].map((n) => RestartPolicy.nominalDelay(policy, n)),
      [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
    )
    fc.assert(fc.property(fc.nat(40), fc.double({ min: 0, max: 0.999_999, noNaN: true }), (attempt, r) => {
      const d = RestartPolicy.backoffDelay(policy, attempt, r)
      const nominal = RestartPolicy.nominalDelay(policy, attempt)
      return d >= nominal * 0.8 - 1 && d <= nominal * 1.2 + 1
    }))
  })

  it("shouldRestart follows the mode and the prevented exit codes", () => {
    const ok = { code: 0, signal: null }
    const crash = { code: 1, signal: null }
    const killed = { code: null, signal: "SIGKILL" }
    assert.isTrue(RestartPolicy.shouldRestart(policy, ok))
    assert.isFalse(RestartPolicy.shouldRestart({ ...policy, mode: "on-failure" }, ok))
    assert.isTrue(RestartPolicy.shouldRestart({ ...policy, mode: "on-failure" }, killed))
    assert.isFalse(RestartPolicy.shouldRestart({ ...policy, mode: "never" }, crash))
    assert.isFalse(RestartPolicy.shouldRestart({ ...policy, preventExitCodes: [1] }, crash))
  })

  it("the breaker trips at 10 failures within 10 minutes, not when they are spread out", () => {
    let dense = RestartPolicy.emptyBreaker
    for (let i = 0; i < 10; i++) dense = RestartPolicy.recordFailure(policy, dense, i * 1_000)
    assert.isTrue(RestartPolicy.isTripped(policy, dense, 9_000))
    let sparse = RestartPolicy.emptyBreaker
    for (let i = 0; i < 10; i++) sparse = RestartPolicy.recordFailure(policy, sparse, i * 70_000)
    assert.isFalse(RestartPolicy.isTripped(policy, sparse, 630_000))
    assert.isTrue(RestartPolicy.isStable(policy, 60_000))
    assert.isFalse(RestartPolicy.isStable(policy, 59_999))
  })
})

describe("BackendSpec", () => {
  const base: BackendSpec.BackendSpec = { id: "svc", launcher: { _tag: "Local", command: "node", args: ["a.js"] } }

  it("launch and policy hashes separate what replaces from what applies in place", () => {
    assert.strictEqual(BackendSpec.launchHash(base), BackendSpec.launchHash({ ...base, label: "x" }))
    assert.notStrictEqual(BackendSpec.policyHash(base), BackendSpec.policyHash({ ...base, label: "x" }))
    assert.notStrictEqual(BackendSpec.launchHash(base), BackendSpec.launchHash({ ...base, env: { A: "1" } }))
    const s1 = { ...base, secrets: { K: Redacted.make("one") } }
    const s2 = { ...base, secrets: { K: Redacted.make("two") } }
    assert.notStrictEqual(BackendSpec.launchHash(s1), BackendSpec.launchHash(s2))
    assert.strictEqual(
      BackendSpec.launchHash(s1),
      BackendSpec.launchHash({ ...base, secrets: { K: Redacted.make("one") } })
    )
    // Key order does not matter.
    assert.strictEqual(
      BackendSpec.launchHash({ ...base, env: { A: "1", B: "2" } }),
      BackendSpec.launchHash({ ...base, env: { B: "2", A: "1" } })
    )
  })

  it.effect("decodes a settings-file spec; secrets become Redacted; bad ids are refused", () =>
    Effect.gen(function*() {
      const spec = yield* BackendSpec.decode({
        id: "wsl:Ubuntu",
        launcher: { _tag: "Wsl", distro: "Ubuntu", command: "node", args: ["server.js"] },
        secrets: { OPENAI_API_KEY: "sk-123" }
      })
      assert.isTrue(Redacted.isRedacted(spec.secrets?.["OPENAI_API_KEY"]))
      assert.notInclude(String(spec.secrets?.["OPENAI_API_KEY"]), "sk-123")
      const bad = yield* Effect.flip(BackendSpec.decode({ id: "../etc", launcher: { _tag: "Local", command: "x" } }))
      assert.match(bad.message, /Expected a string matching/)
    }))

  it("log file stems cannot escape the directory or collide", () => {
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 200 }), fc.string({ minLength: 1 }), (a, b) => {
      const sa = BackendSpec.logFileStem(a)
      assert.match(sa, /^[A-Za-z0-9_][A-Za-z0-9._-]*-[0-9a-f]{12}$/)
      assert.notInclude(sa, "/")
      assert.isFalse(sa.startsWith("."))
      if (a !== b) assert.notStrictEqual(sa, BackendSpec.logFileStem(b))
    }))
    assert.notStrictEqual(BackendSpec.logFileStem("a/b"), BackendSpec.logFileStem("a_b"))
    assert.isTrue(BackendSpec.logFileStem("../../etc/passwd").startsWith("_"))
  })
})

const spec = (id: string, arg = "1"): BackendSpec.BackendSpec => ({
  id,
  launcher: { _tag: "Local", command: "x", args: [arg] }
})
const currentOf = (s: BackendSpec.BackendSpec) => ({
  id: s.id,
  launchHash: BackendSpec.launchHash(s),
  policyHash: BackendSpec.policyHash(s)
})

describe("ReconcilePlan", () => {
  it("diffs into start, replace, update, keep and stop", () => {
    const plan = ReconcilePlan.toPlan(ReconcilePlan.diff(
      [currentOf(spec("keep")), currentOf(spec("replace")), currentOf(spec("update")), currentOf(spec("gone"))],
      [spec("keep"), spec("replace", "2"), { ...spec("update"), label: "new" }, spec("new")]
    ))
    assert.deepStrictEqual(plan, {
      started: ["new"],
      replaced: ["replace"],
      updated: ["update"],
      kept: ["keep"],
      stopped: ["gone"]
    })
    assert.deepStrictEqual(ReconcilePlan.duplicateIds([spec("a"), spec("b"), spec("a")]), ["a"])
  })
})

describe("Protocol and readiness parsing", () => {
  it("ready lines round-trip; anything else is not a ready line", () => {
    assert.deepStrictEqual(Protocol.parseReady(Protocol.formatReady({ url: "http://127.0.0.1:5123" }).trimEnd()), {
      url: "http://127.0.0.1:5123",
      port: 5123
    })
    assert.isUndefined(Protocol.parseReady("listening on 5123"))
    assert.deepStrictEqual(Protocol.parseReady(`${Protocol.READY_PREFIX}not json`), {})
  })

  it("log-line patterns capture a URL or a port", () => {
    const re = /listening on (?<url>http:\/\/\S+)/
    assert.deepStrictEqual(Readiness.matchLine(re, "listening on http://127.0.0.1:8080", "h"), {
      url: "http://127.0.0.1:8080",
      port: 8080
    })
    assert.deepStrictEqual(Readiness.matchLine(/port (?<port>\d+)/, "port 9000", "10.0.0.2"), {
      url: "http://10.0.0.2:9000",
      port: 9000
    })
    assert.isUndefined(Readiness.matchLine(re, "starting", "h"))
  })
})

const logPolicy = (dir?: string): BackendSpec.ResolvedLog => ({
  ...BackendSpec.resolveLog({ id: "x", launcher: { _tag: "Local", command: "x" } }),
  ...(dir === undefined ? {} : { dir }),
  maxFileBytes: 4_096,
  maxFiles: 3,
  ringLines: 5,
  maxLineBytes: 256,
  liveBuffer: 4
})

describe("InstanceLog", () => {
  it.effect("splits bytes into stamped lines across chunks, with CRLF, a cut long line and a final line", () =>
    Effect.gen(function*() {
      const log = yield* InstanceLog.make("x", { ...logPolicy(), ringLines: 100 })
      const split = log.splitter("stdout", 7)
      const enc = new TextEncoder()
      split.push(enc.encode("hel"))
      split.push(enc.encode("lo\r\nwor"))
      split.push(enc.encode(`ld\n${"z".repeat(1_000)}\nnext\ntail`))
      split.end()
      const lines = yield* log.recent
      assert.deepStrictEqual(lines.map((l) => l.text.slice(0, 5)), ["hello", "world", "zzzzz", "next", "tail"])
      assert.strictEqual(lines[2]!.text.length, 256)
      assert.isTrue(lines[2]!.truncated)
      assert.isTrue(lines.every((l) => l.runId === 7 && l.source === "stdout"))
      assert.deepStrictEqual(lines.map((l) => l.seq), [1, 2, 3, 4, 5])
      const stats = yield* log.stats
      assert.strictEqual(stats.droppedBytes, 1_000 - 256)
    }))

  it.effect("the ring keeps the last N lines; a slow live subscriber loses lines and they are counted", () =>
    Effect.gen(function*() {
      const log = yield* InstanceLog.make("x", logPolicy())
      const stalled = yield* log.lines.pipe(Stream.runForEach(() => Effect.never), Effect.forkChild)
      yield* Effect.yieldNow
      for (let i = 0; i < 20; i++) log.append("stdout", 1, `line ${i}`)
      assert.deepStrictEqual(log.tail(5).map((l) => l.text), ["line 15", "line 16", "line 17", "line 18", "line 19"])
      assert.strictEqual(log.tail(2).length, 2)
      const stats = yield* log.stats
      // The subscriber's buffer holds 4 (it may have taken 1 more); the rest were dropped and counted.
      assert.isAtLeast(stats.droppedLiveLines, 15)
      assert.isAtMost(stats.droppedLiveLines, 16)
      yield* Fiber.interrupt(stalled)
    }))

  it.effect("files rotate within size and count caps, in a private directory, names from the stem", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-log-"))
      const log = yield* InstanceLog.make("../evil/id", logPolicy(NodePath.join(dir, "logs")))
      for (let i = 0; i < 500; i++) {
        log.append("stderr", 1, `line ${i} ${"x".repeat(50)}`)
        if (i % 50 === 0) yield* log.flush
      }
      yield* log.flush
      const files = NodeFs.readdirSync(NodePath.join(dir, "logs")).toSorted()
      const stem = BackendSpec.logFileStem("../evil/id")
      assert.deepStrictEqual(files, [`${stem}.1.log`, `${stem}.2.log`, `${stem}.log`])
      for (const f of files) assert.isAtMost(NodeFs.statSync(NodePath.join(dir, "logs", f)).size, 4_096)
      const current = NodeFs.readFileSync(NodePath.join(dir, "logs", `${stem}.log`), "utf8")
      assert.match(current, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z stderr #1 line \d+ x+$/m)
      assert.include(current, "line 499")
      assert.strictEqual(NodeFs.statSync(NodePath.join(dir, "logs")).mode & 0o777, 0o700)
      assert.isAbove((yield* log.stats).rotations, 0)
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("files hold every line byte for byte and in order, across rotations and while writes are in flight", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-log-"))
      const logs = NodePath.join(dir, "logs")
      const log = yield* InstanceLog.make("bytes", {
        ...logPolicy(logs),
        maxFileBytes: 16 * 1024,
        maxFiles: 100,
        maxLineBytes: 1024,
        maxPendingBytes: 4 * 1024 * 1024
      })
      const texts = Array.from({ length: 3_000 }, (_, i) => `${i} ünïcödé ✓ 𝄞 ${"w".repeat(i % 97)}`)
      const bytes = Buffer.from(texts.map((t) => t + "\n").join(""))
      const split = log.splitter("stdout", 3)
      // Odd chunk sizes cut lines, and multi-byte characters, anywhere; no flush in between, so
      // lines keep arriving while earlier ones are being written.
      let pushes = 0
      for (let at = 0, step = 1; at < bytes.length; at += step, step = (step * 7 + 3) % 4_001) {
        split.push(bytes.subarray(at, at + step))
        // Let the writer start a write now and then, so later lines arrive while it is in flight.
        if (++pushes % 10 === 0) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      log.append("system", 3, "the end ✓")
      yield* log.flush
      const files = NodeFs.readdirSync(logs)
      const stem = BackendSpec.logFileStem("bytes")
      const index = (f: string) => (f === `${stem}.log` ? 0 : Number(f.slice(stem.length + 1, -".log".length)))
      const contents = files.toSorted((a, b) => index(b) - index(a)).map((f) => {
        const data = NodeFs.readFileSync(NodePath.join(logs, f))
        assert.isAtMost(data.length, 16 * 1024)
        return data.toString("utf8")
      })
      const lines = contents.join("").split("\n").slice(0, -1)
      const prefix = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|system) #3 /
      assert.isTrue(lines.every((l) => prefix.test(l)))
      assert.deepStrictEqual(lines.map((l) => l.replace(prefix, "")), [...texts, "the end ✓"])
      const stats = yield* log.stats
      assert.strictEqual(stats.droppedFileLines, 0)
      assert.strictEqual(stats.bytes, bytes.length - texts.length + Buffer.byteLength("the end ✓"))
      assert.strictEqual(stats.fileBytesWritten, contents.reduce((n, c) => n + Buffer.byteLength(c), 0))
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("files keep the child's bytes as they came; the line's text is their UTF-8 decoding", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-log-"))
      const log = yield* InstanceLog.make("raw", logPolicy(dir))
      log.splitter("stderr", 2).push(Uint8Array.of(0x61, 0xff, 0x62, 0x0d, 0x0a))
      yield* log.flush
      assert.strictEqual(log.tail(1)[0]!.text, "a\uFFFDb")
      const data = NodeFs.readFileSync(NodePath.join(dir, `${BackendSpec.logFileStem("raw")}.log`))
      assert.deepStrictEqual([...data.subarray(data.length - 4)], [0x61, 0xff, 0x62, 0x0a])
      assert.match(data.toString("latin1"), /^\d{4}-\d\d-\d\dT[\d:.]+Z stderr #2 a\xffb\n$/)
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("a line longer than a whole file is cut to it, one longer than a write is written whole; too much pending is dropped", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-log-"))
      const log = yield* InstanceLog.make("cut", {
        ...logPolicy(dir),
        maxFileBytes: 1024,
        maxFiles: 2,
        maxLineBytes: 8 * 1024,
        maxPendingBytes: 16 * 1024
      })
      log.append("stdout", 1, "y".repeat(3_000))
      yield* log.flush
      const file = NodePath.join(dir, `${BackendSpec.logFileStem("cut")}.log`)
      const data = NodeFs.readFileSync(file, "utf8")
      assert.strictEqual(data.length, 1024)
      assert.isTrue(data.endsWith("y\n"))
      // A line longer than one write (4 MiB) that fits in the file is written whole, once.
      log.setPolicy({
        ...logPolicy(dir),
        maxFileBytes: 16 * 1024 * 1024,
        maxFiles: 2,
        maxPendingBytes: 8 * 1024 * 1024
      })
      log.append("stdout", 1, "w".repeat(5 * 1024 * 1024))
      yield* log.flush
      const whole = NodeFs.readFileSync(file, "utf8")
      assert.isTrue(whole.endsWith(`${"w".repeat(5 * 1024 * 1024)}\n`))
      assert.isFalse(whole.endsWith("\n\n"))
      log.setPolicy({
        ...logPolicy(dir),
        maxFileBytes: 1024,
        maxFiles: 2,
        maxLineBytes: 8 * 1024,
        maxPendingBytes: 16 * 1024
      })
      // 20 lines of 3 KiB at once: about 16 KiB fit in the pending buffer, the rest are dropped.
      for (let i = 0; i < 20; i++) log.append("stdout", 1, "z".repeat(3_000))
      const dropped = (yield* log.stats).droppedFileLines
      assert.isAtLeast(dropped, 14)
      assert.isAtMost(dropped, 16)
      yield* log.flush
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("lines the files could not take are counted and marked where they were lost, with how many", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-log-"))
      const log = yield* InstanceLog.make("gap", {
        ...logPolicy(dir),
        maxFileBytes: 1024 * 1024,
        maxLineBytes: 8 * 1024,
        maxPendingBytes: 16 * 1024
      })
      // 40 lines of 1 KiB at once (nothing is written before the event loop turns): about 16 fit.
      const split = log.splitter("stdout", 4)
      split.push(
        Buffer.from(
          Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, "0")} ${"z".repeat(1_000)}\n`).join("")
        )
      )
      const dropped = (yield* log.stats).droppedFileLines
      assert.isAtLeast(dropped, 20)
      assert.isAtMost(dropped, 30)
      yield* log.flush
      log.append("system", 4, "after the gap")
      yield* log.flush
      const lines = NodeFs.readFileSync(NodePath.join(dir, `${BackendSpec.logFileStem("gap")}.log`), "latin1")
        .split("\n").slice(0, -1).map((l) => l.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, ""))
      const kept = lines.filter((l) => l.startsWith("stdout #4 ")).map((l) => Number(l.slice(10, 12)))
      // The first lines were written, in order, the rest lost; one line says how many, right after them.
      assert.deepStrictEqual(kept, Array.from({ length: 40 - dropped }, (_, i) => i))
      const marks = lines.filter((l) => l.includes("dropped here"))
      assert.strictEqual(marks.length, 1)
      assert.match(marks[0]!, new RegExp(`^system #4 \\[log\\] ${dropped} lines \\(\\d+ bytes\\) dropped here, `))
      assert.strictEqual(lines.indexOf(marks[0]!), kept.length)
      assert.strictEqual(lines.at(-1), "system #4 after the gap")
      // The ring and the counters saw every line.
      assert.strictEqual((yield* log.stats).lines, 41)
      assert.strictEqual(log.tail(1)[0]!.text, "after the gap")
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("closing the log writes the lines still pending first (the last lines before a stop), across rotations", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-log-"))
      const texts = Array.from({ length: 300 }, (_, i) => `last ${i} ${"q".repeat(i % 300)}`)
      // Appended in one turn, so nothing is written before the scope closes (about 3 files' worth).
      yield* Effect.scoped(Effect.gen(function*() {
        const log = yield* InstanceLog.make("last", { ...logPolicy(dir), maxFileBytes: 16 * 1024, maxFiles: 10 })
        for (const t of texts) log.append("stderr", 9, t)
        assert.isAbove((yield* log.stats).pendingFileBytes, 32 * 1024)
      }))
      const stem = BackendSpec.logFileStem("last")
      const files = NodeFs.readdirSync(dir).filter((f) => f.startsWith(stem))
      const index = (f: string) => (f === `${stem}.log` ? 0 : Number(f.slice(stem.length + 1, -".log".length)))
      const lines = files.toSorted((a, b) => index(b) - index(a))
        .map((f) => NodeFs.readFileSync(NodePath.join(dir, f), "utf8")).join("").split("\n").slice(0, -1)
      assert.isAbove(files.length, 2)
      assert.deepStrictEqual(lines.map((l) => l.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z stderr #9 /, "")), texts)
      NodeFs.rmSync(dir, { recursive: true, force: true })
    }))

  it.effect("the ring decodes lines when read, and keeps the newest ones within its caps", () =>
    Effect.gen(function*() {
      const log = yield* InstanceLog.make("ring", { ...logPolicy(), ringLines: 3 }, { ringBytes: 64 })
      const split = log.splitter("stderr", 2)
      split.push(Buffer.from("é1\nline 2\r\nline 3\nli"))
      split.push(Buffer.from("ne 4\n"))
      log.append("system", 2, "s5")
      assert.deepStrictEqual(log.tail(10).map((l) => [l.seq, l.source, l.text]), [
        [3, "stderr", "line 3"],
        [4, "stderr", "line 4"],
        [5, "system", "s5"]
      ])
      // 40 bytes of text per line against a 64-byte cap: only the newest line stays.
      split.push(Buffer.from(`${"a".repeat(40)}\n${"b".repeat(40)}\n`))
      assert.deepStrictEqual(log.tail(10).map((l) => l.text), ["b".repeat(40)])
      // One line that is longer than the cap still stays (the newest line always does).
      split.push(Buffer.from(`${"c".repeat(100)}\n`))
      assert.deepStrictEqual(log.tail(10).map((l) => l.text.length), [100])
      assert.deepStrictEqual((yield* log.recent).map((l) => l.seq), [8])
    }))

  it.effect("follow gives the recent lines then live ones without a gap or a duplicate", () =>
    Effect.gen(function*() {
      const log = yield* InstanceLog.make("x", { ...logPolicy(), ringLines: 100, liveBuffer: 100 })
      log.append("stdout", 1, "a")
      log.append("stdout", 1, "b")
      const fiber = yield* log.follow.pipe(Stream.take(4), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      log.append("stdout", 1, "c")
      log.append("system", 1, "d")
      const got = yield* Fiber.join(fiber)
      assert.deepStrictEqual(got.map((l) => l.text), ["a", "b", "c", "d"])
    }))
})

describe("port reservations", () => {
  it.live("20 concurrent allocations get 20 distinct ports, released with their scope", () =>
    Effect.gen(function*() {
      const table: BackendInstance.PortReservations = { reserved: new Set() }
      const ports = yield* Effect.scoped(
        Effect.forEach(Array.from({ length: 20 }), () => BackendInstance.reservePort(table), { concurrency: 20 })
          .pipe(Effect.tap(() => Effect.sync(() => assert.strictEqual(table.reserved.size, 20))))
      )
      assert.strictEqual(new Set(ports).size, 20)
      assert.strictEqual(table.reserved.size, 0)
    }))
})
