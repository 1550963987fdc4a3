// The fake-wsl executable on its own: what another package's test sees when it spawns it.
import { assert, describe, it } from "@effect/vitest"
import { Wsl } from "@isthmus/wsl/node"
import { type FakeWslConfig, fakeWslEnv, fakeWslExecutable } from "@isthmus/wsl/testing"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"

const config: FakeWslConfig = {
  distros: [
    { name: "Ubuntu-24.04", state: "Running", version: 2, default: true },
    { name: "Debian", state: "Stopped", version: 2 },
    { name: "Arch", state: "Installing", version: 2 }
  ]
}

interface Ran {
  readonly code: number | null
  readonly stdout: Buffer
  readonly stderr: string
}

const run = (args: ReadonlyArray<string>, options: { env?: Record<string, string>; stdin?: string } = {}) =>
  Effect.callback<Ran>((resume) => {
    const child = spawn(fakeWslExecutable, args, {
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/", ...fakeWslEnv(config), ...options.env }
    })
    const out: Array<Buffer> = []
    let err = ""
    child.stdout.on("data", (c: Buffer) => out.push(c))
    child.stderr.on("data", (c: Buffer) => (err += c.toString()))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout: Buffer.concat(out), stderr: err })))
    child.stdin.end(options.stdin ?? "")
  })

describe("fake-wsl", () => {
  it.live("-l -v: UTF-16LE without BOM, CRLF, default first; UTF-8 under WSL_UTF8=1", () =>
    Effect.gen(function*() {
      const expected =
        "  NAME            STATE           VERSION\r\n* Ubuntu-24.04    Running         2\r\n  Debian          Stopped         2\r\n  Arch            Installing      2\r\n"
      const r = yield* run(["-l", "-v"])
      assert.strictEqual(r.code, 0)
      assert.deepStrictEqual(r.stdout, Buffer.from(expected, "utf16le"))
      const u = yield* run(["--list", "--verbose"], { env: { WSL_UTF8: "1" } })
      assert.deepStrictEqual(u.stdout, Buffer.from(expected, "utf8"))
    }))

  it.live("-l hides transient states unless --all; -l -q; --status", () =>
    Effect.gen(function*() {
      const env = { WSL_UTF8: "1" }
      assert.strictEqual(
        (yield* run(["-l"], { env })).stdout.toString(),
        "Windows Subsystem for Linux Distributions:\r\nUbuntu-24.04 (Default)\r\nDebian\r\n"
      )
      assert.strictEqual(
        (yield* run(["-l", "-q", "--all"], { env })).stdout.toString(),
        "Ubuntu-24.04\r\nDebian\r\nArch\r\n"
      )
      assert.strictEqual(
        (yield* run(["--status"], { env })).stdout.toString(),
        "Default Distribution: Ubuntu-24.04\r\nDefault Version: 2\r\n"
      )
    }))

  it.live("wsl.exe-level errors: message on stdout (UTF-16LE), exit 255 for -1", () =>
    Effect.gen(function*() {
      const r = yield* run(["-d", "Nope", "--exec", "true"])
      assert.strictEqual(r.code, 255)
      assert.strictEqual(
        r.stdout.toString("utf16le"),
        "There is no distribution with the supplied name.\r\nError code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\r\n"
      )
      const usage = yield* run(["-l", "-q", "-v"])
      assert.strictEqual(usage.code, 255)
      const none = yield* run(["-l", "-v"], { env: { FAKE_WSL_CONFIG_JSON: JSON.stringify({ distros: [] }) } })
      assert.strictEqual(none.code, 255)
      assert.include(none.stdout.toString("utf16le"), "has no installed distributions")
      const quiet = yield* run(["-l", "-q"], { env: { FAKE_WSL_CONFIG_JSON: JSON.stringify({ distros: [] }) } })
      assert.deepStrictEqual([quiet.code, quiet.stdout.length], [0, 0])
    }))

  it.live("--exec runs locally: raw bytes, exit code, stdin passed through, WSLENV-listed env only", () =>
    Effect.gen(function*() {
      const r = yield* run(
        [
          "-d",
          "debian",
          "--exec",
          "sh",
          "-c",
          "printf '%s|%s|%s|' \"$WSL_DISTRO_NAME\" \"$TOKEN\" \"${HIDDEN-unset}\"; cat; exit 7"
        ],
        { env: { TOKEN: "t", HIDDEN: "h", WSLENV: "TOKEN/u" }, stdin: "naïve input" }
      )
      assert.strictEqual(r.code, 7)
      assert.strictEqual(r.stdout.toString("utf8"), "Debian|t|unset|naïve input")
    }))

  it.live("`--` hands the rest to a shell as one line; /p variables are translated", () =>
    Effect.gen(function*() {
      const r = yield* run(["-d", "Ubuntu-24.04", "--", "echo", "$WIN_PATHS"], {
        env: { WIN_PATHS: "C:\\Users;D:\\data", WSLENV: "WIN_PATHS/p" }
      })
      assert.strictEqual(r.stdout.toString(), "/mnt/c/Users:/mnt/d/data\n")
    }))

  it.live("Wsl.layer({ host: { executable: fakeWslExecutable, env } }) is all a consumer needs", () =>
    Effect.gen(function*() {
      const wsl = yield* Wsl.Wsl
      assert.deepStrictEqual(yield* wsl.defaultDistro, Option.some("Ubuntu-24.04" as never))
    }).pipe(
      Effect.provide(
        Wsl.layer({ host: { executable: fakeWslExecutable, env: { ...process.env, ...fakeWslEnv(config) } } })
      )
    ))
})
