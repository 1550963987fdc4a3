import { assert, describe, it } from "@effect/vitest"
import { BootstrapEnvelope } from "@isthmus/rpc-protocol"
import { fdPath, rawFdFallbackCodes, readBootstrap, readBootstrapLine } from "@isthmus/rpc-protocol/node"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const child = fileURLToPath(new URL("./fixtures/bootstrap-child.ts", import.meta.url))
const valid =
  `{"mode":"desktop","noBrowser":true,"port":3773,"host":"127.0.0.1","desktopBootstrapToken":"tok","tailscaleServeEnabled":false,"tailscaleServePort":443}`

interface Outcome {
  readonly kind: "some" | "none" | "error" | "defect"
  readonly value?: { readonly port: number }
  readonly tag?: string
  readonly error?: { readonly reason?: string }
  readonly message?: string
  readonly elapsedMs: number
}

/**
 * Starts the fixture backend with the envelope delivered on `via` ("fd3": an extra `"pipe"` stdio,
 * which Node makes a socketpair; "stdin"), writes `chunks`, then ends the stream unless `keepOpen`.
 */
const runChild = (options: {
  readonly via: "fd3" | "stdin" | "none"
  readonly chunks?: ReadonlyArray<string>
  readonly keepOpen?: boolean
  readonly timeout?: number
}) =>
  Effect.callback<Outcome>((resume) => {
    const fd = options.via === "stdin" ? 0 : 3
    const stdio: Array<"pipe" | "ignore" | "inherit"> = options.via === "fd3"
      ? ["ignore", "pipe", "inherit", "pipe"]
      : ["pipe", "pipe", "inherit"]
    const proc = spawn(process.execPath, [
      child,
      String(fd),
      options.timeout === undefined ? "default" : String(options.timeout)
    ], {
      stdio
    })
    const target = options.via === "none" ? undefined : (proc.stdio[fd] as NodeJS.WritableStream | null)
    if (options.via === "none") proc.stdin?.end()
    target?.on("error", () => {})
    for (const chunk of options.chunks ?? []) target?.write(chunk)
    if (options.keepOpen !== true) target?.end()
    let out = ""
    proc.stdout?.on("data", (d: Buffer) => (out += d.toString()))
    proc.on("close", () => {
      target?.end()
      resume(Effect.succeed(JSON.parse(out) as Outcome))
    })
    return Effect.sync(() => proc.kill("SIGKILL"))
  })

describe("readBootstrap in a real child process (protocols.md §3)", () => {
  it.live("fd 3 (socketpair, raw-fd fallback after ENXIO): JSON + \\n + EOF is accepted", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "fd3", chunks: [valid + "\n"] })
      assert.strictEqual(out.kind, "some")
      assert.strictEqual(out.value?.port, 3773)
    }))
  it.live("a line split across writes and without \\n before EOF is accepted", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "fd3", chunks: [valid.slice(0, 20), valid.slice(20)] })
      assert.strictEqual(out.kind, "some")
    }))
  it.live("stdin (WSL delivery, --bootstrap-fd 0) is read", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "stdin", chunks: [valid + "\r\n", "trailing garbage\n"] })
      assert.strictEqual(out.kind, "some")
    }))
  it.live("an empty first line is a decode error", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "fd3", chunks: ["\n" + valid + "\n"] })
      assert.strictEqual(out.tag, "BootstrapEnvelopeDecodeError")
      assert.strictEqual(out.error?.reason, "EmptyLine")
    }))
  it.live("mode web is a schema mismatch that does not leak the token", () =>
    Effect.gen(function*() {
      const out = yield* runChild({
        via: "fd3",
        chunks: [valid.replace("desktop", "web").replace("tok", "hunter2") + "\n"]
      })
      assert.strictEqual(out.error?.reason, "SchemaMismatch")
      assert.isFalse(JSON.stringify(out).includes("hunter2"))
    }))
  it.live("immediate EOF is none", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "fd3", chunks: [] })
      assert.strictEqual(out.kind, "none")
      assert.isBelow(out.elapsedMs, 900)
    }))
  it.live("no descriptor handed over is none (Node's own epoll fd at 3 is not read)", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "none" })
      assert.strictEqual(out.kind, "none")
    }))
  it.live("a writer that stays silent gives none after the default 1 s timeout", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "fd3", keepOpen: true })
      assert.strictEqual(out.kind, "none")
      assert.isAtLeast(out.elapsedMs, 950)
      assert.isBelow(out.elapsedMs, 5000)
    }))
  it.live("a custom timeout is honoured", () =>
    Effect.gen(function*() {
      const out = yield* runChild({ via: "fd3", keepOpen: true, timeout: 150 })
      assert.strictEqual(out.kind, "none")
      assert.isBelow(out.elapsedMs, 900)
    }))
})

describe("readBootstrap in process", () => {
  it.live("a closed descriptor is none", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* readBootstrapLine({ fd: 1000 })))
    }))
  it.live("a regular file on the descriptor is read through /proc/self/fd", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isthmus-bootstrap-"))
      const file = path.join(dir, "envelope")
      fs.writeFileSync(file, valid + "\n")
      const fd = fs.openSync(file, "r")
      const tooLong = fs.openSync(file, "r")
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          fs.closeSync(fd)
          fs.closeSync(tooLong)
          fs.rmSync(dir, { recursive: true, force: true })
        })
      )
      const result = yield* readBootstrap(BootstrapEnvelope.desktop, { fd })
      assert.isTrue(Option.isSome(result))
      const error = yield* Effect.flip(readBootstrapLine({ fd: tooLong, maxLineBytes: 10 }))
      assert.instanceOf(error, BootstrapEnvelope.BootstrapEnvelopeDecodeError)
    }).pipe(Effect.scoped))
  it("paths and fallback codes follow the reference", () => {
    assert.strictEqual(fdPath(3, "linux"), "/proc/self/fd/3")
    assert.strictEqual(fdPath(3, "darwin"), "/dev/fd/3")
    assert.strictEqual(fdPath(3, "win32"), undefined)
    for (const code of ["EACCES", "ENXIO", "EINVAL", "EPERM"]) assert.isTrue(rawFdFallbackCodes.has(code))
  })
})
