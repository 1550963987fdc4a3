import { assert, describe, it } from "@effect/vitest"
import { WslHost } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Duration, Effect, Stream } from "effect"
import { tag } from "./fixtures.ts"

const run = (args: ReadonlyArray<string>, stdin?: string) =>
  WslHost.WslHost.use((host) =>
    host.run({
      operation: "test",
      args,
      stdin: stdin === undefined ? undefined : new TextEncoder().encode(stdin),
      timeout: Duration.seconds(20)
    })
  )

describe("WslHost.layer", () => {
  it.live("collects at most maxOutputBytes, and asks wsl.exe for UTF-8", () =>
    Effect.gen(function*() {
      const r = yield* run([
        "-d",
        "Ubuntu",
        "--exec",
        "sh",
        "-c",
        "head -c 5000 /dev/zero; printf %s \"$WSL_UTF8\" >&2"
      ])
      assert.strictEqual(r.exitCode, 0)
      assert.strictEqual(r.stdout.byteLength, 1024)
      assert.strictEqual(new TextDecoder().decode(r.stderr), "")
      const listed = yield* run(["--list", "--quiet"])
      assert.strictEqual(new TextDecoder().decode(listed.stdout), "Ubuntu\r\n")
    }).pipe(Effect.provide(WslHost.layer({
      ...fakeWslHostOptions({ distros: [{ name: "Ubuntu", default: true }] }),
      maxOutputBytes: 1024
    }))))

  it.live("a missing executable is a WslSpawnError naming it", () =>
    Effect.gen(function*() {
      const host = yield* WslHost.WslHost
      assert.isFalse(yield* host.isAvailable)
      const error = yield* Effect.flip(run(["--status"]))
      assert.strictEqual(tag(error), "WslSpawnError")
      assert.include(error.message, "/nonexistent/wsl.exe")
    }).pipe(Effect.provide(WslHost.layer({ executable: "/nonexistent/wsl.exe" }))))

  it("defaultExecutable: System32 under WINDIR on Windows, none elsewhere", () => {
    assert.strictEqual(WslHost.defaultExecutable("win32", { WINDIR: "D:\\Win" }), "D:\\Win\\System32\\wsl.exe")
    assert.strictEqual(WslHost.defaultExecutable("win32", {}), "C:\\Windows\\System32\\wsl.exe")
    assert.isUndefined(WslHost.defaultExecutable("linux", {}))
  })
  it("defaultExecutable: a 32-bit host (PROCESSOR_ARCHITEW6432 set) uses Sysnative (microsoft/WSL#5319)", () => {
    assert.strictEqual(
      WslHost.defaultExecutable("win32", { SystemRoot: "C:\\Windows", PROCESSOR_ARCHITEW6432: "AMD64" }),
      "C:\\Windows\\Sysnative\\wsl.exe"
    )
    assert.strictEqual(WslHost.defaultExecutable("win32", { SystemRoot: "E:\\W" }), "E:\\W\\System32\\wsl.exe")
  })
})

const bytes = (s: string, encoding: BufferEncoding = "utf8") => new Uint8Array(Buffer.from(s, encoding))

describe("WslHost.watchGroup: the pgid marker line in stderr", () => {
  const token = "0123456789abcdef"
  const scan = (chunks: ReadonlyArray<Uint8Array>) =>
    Effect.gen(function*() {
      let pgid: number | undefined
      let preamble: Uint8Array = new Uint8Array()
      const kept = yield* WslHost.watchGroup(Stream.fromIterable(chunks), {
        token,
        onGroup: (n) => Effect.sync(() => (pgid = n))
      }, (held) => (preamble = held)).pipe(Stream.runCollect)
      return {
        pgid,
        kept: Buffer.concat([...kept]).toString("latin1"),
        preamble: Buffer.from(preamble).toString("latin1")
      }
    })
  it.effect("split across chunks, after a UTF-16LE wsl.exe warning, with the program's stderr after it", () =>
    Effect.gen(function*() {
      // A `wsl: …` warning comes first, in UTF-16LE (windows-reality.md §6.7): wsl.exe's, kept apart.
      const warning = bytes("wsl: warning\r\n", "utf16le")
      const line = `@@isthmus-pgid:${token} 4242\n`
      const r = yield* scan([
        warning,
        bytes(line.slice(0, 10)),
        bytes(line.slice(10, 30)),
        bytes(`${line.slice(30)}boom\n`)
      ])
      assert.strictEqual(r.pgid, 4242)
      assert.strictEqual(r.kept, "boom\n")
      assert.strictEqual(r.preamble, Buffer.from(warning).toString("latin1"))
    }))
  it.effect("another token, or none, passes through untouched and reports nothing", () =>
    Effect.gen(function*() {
      const other = "@@isthmus-pgid:ffffffffffffffff 7\nplain\n"
      const r = yield* scan([bytes(other)])
      assert.deepStrictEqual([r.pgid, r.kept, r.preamble], [undefined, other, ""])
    }))
})
