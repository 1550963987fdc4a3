import { assert, describe, it } from "@effect/vitest"
import { WslHost } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Duration, Effect } from "effect"
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
