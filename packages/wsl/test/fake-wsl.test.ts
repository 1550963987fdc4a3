// The fake-wsl executable on its own: what another package's test sees when it spawns it.
import { assert, describe, it } from "@effect/vitest"
import { Wsl } from "@isthmus/wsl/node"
import { type FakeWslConfig, fakeWslEnv, fakeWslExecutable } from "@isthmus/wsl/testing"
import { Effect, Option } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

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

const run = (
  args: ReadonlyArray<string>,
  options: { env?: Record<string, string>; stdin?: string; config?: FakeWslConfig } = {}
) =>
  Effect.callback<Ran>((resume) => {
    const child = spawn(fakeWslExecutable, args, {
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: process.env["HOME"] ?? "/",
        ...fakeWslEnv(options.config ?? config),
        ...options.env
      }
    })
    const out: Array<Buffer> = []
    let err = ""
    child.stdout.on("data", (c: Buffer) => out.push(c))
    child.stderr.on("data", (c: Buffer) => (err += c.toString()))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout: Buffer.concat(out), stderr: err })))
    child.stdin.end(options.stdin ?? "")
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

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

  // windows-reality.md §2.3 and §7: exit codes as wsl.exe gives them, init's error line.
  it.live("a signal's death is its raw number; a missing --exec program is exit 1 with init's line; --cd to a missing directory is not fatal", () =>
    Effect.gen(function*() {
      const term = yield* run(["-d", "Debian", "--exec", "sh", "-c", "kill -TERM $$"])
      assert.strictEqual(term.code, 15)
      const missing = yield* run(["-d", "Debian", "--exec", "no-such-program-xyz"])
      assert.strictEqual(missing.code, 1)
      assert.match(
        missing.stderr,
        /^<3>WSL \(\d+ - Relay\) ERROR: CreateProcessCommon:\d+: execvpe\(no-such-program-xyz\) failed: No such file or directory\n$/
      )
      const cd = yield* run(["-d", "Debian", "--cd", "/no/such/dir", "--exec", "sh", "-c", "echo ran"])
      assert.deepStrictEqual([cd.code, cd.stdout.toString()], [0, "ran\n"])
    }))

  // A distro has the Node its model says (windows-reality.md §5): nvm's lives under the home
  // directory and only ~/.bashrc puts it on PATH, so `--exec` and a non-interactive shell find
  // no node at all, even on a machine whose own PATH has one (this one's, and CI's /usr/bin/node).
  it.live("a model Node installed the nvm way: only an interactive shell finds it, never this machine's node", () =>
    Effect.gen(function*() {
      const nvmBin = join(mkdtempSync(join(tmpdir(), "fake-wsl-nvm-")), ".nvm/versions/node/v22.99.0/bin")
      const nvm: FakeWslConfig = {
        distros: [{
          name: "Nvm",
          default: true,
          node: { path: `${nvmBin}/node`, version: "v22.99.0" },
          bashrc: { path: [nvmBin] }
        }]
      }
      const plain = yield* run(["-d", "Nvm", "--exec", "sh", "-c", "command -v node || echo none"], { config: nvm })
      assert.deepStrictEqual([plain.code, plain.stdout.toString()], [0, "none\n"])
      const exec = yield* run(["-d", "Nvm", "--exec", "node", "--version"], { config: nvm })
      assert.strictEqual(exec.code, 1, "execvpe(node) fails: the --exec PATH has no node")
      const interactive = yield* run(
        ["-d", "Nvm", "--exec", "bash", "-ic", "command -v node; node --version"],
        { config: nvm, stdin: "" }
      )
      assert.strictEqual(interactive.stdout.toString(), `${nvmBin}/node\nv22.99.0\n`)
    }))

  // microsoft/WSL#2496, #12159 and windows-reality.md §2.1: killing wsl.exe (even by SIGKILL)
  // leaves the Linux command running; only the relay's acts reach it.
  it.live("killing fake-wsl by SIGKILL: a plain command dies of SIGHUP, one that ignores SIGHUP runs on, stdin EOF reaches it", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "fake-wsl-relay-"))
      const started = (name: string, script: string) =>
        Effect.callback<{ readonly pid: number; readonly wsl: ChildProcess }>((resume) => {
          const wsl = spawn(fakeWslExecutable, ["-d", "Debian", "--exec", "sh", "-c", script, "sh", join(dir, name)], {
            env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/", ...fakeWslEnv(config) },
            stdio: ["pipe", "pipe", "inherit"]
          })
          wsl.stdout!.once("data", (c: Buffer) => resume(Effect.succeed({ pid: Number(c.toString().trim()), wsl })))
        })
      const plain = yield* started("plain", "echo $$; exec sleep 60")
      const stubborn = yield* started(
        "stubborn",
        "trap '' HUP; echo $$; while read line; do :; done; echo eof > \"$1\"; exec sleep 60"
      )
      plain.wsl.kill("SIGKILL")
      stubborn.wsl.kill("SIGKILL")
      // Process deaths are polled (there is no event for a process that is not our child).
      const settled = (pid: number, wanted: boolean) =>
        Effect.promise(async () => {
          for (let i = 0; i < 200 && alive(pid) !== wanted; i++) await new Promise((r) => setTimeout(r, 50))
          return alive(pid)
        })
      assert.isFalse(yield* settled(plain.pid, false), "a plain command dies of the SIGHUP")
      assert.isTrue(
        existsSync(join(dir, "stubborn")) || (yield* Effect.promise(async () => {
          for (let i = 0; i < 200 && !existsSync(join(dir, "stubborn")); i++) {
            await new Promise((r) => setTimeout(r, 50))
          }
          return existsSync(join(dir, "stubborn"))
        })),
        "stdin EOF reached the command"
      )
      const survived = alive(stubborn.pid)
      if (survived) process.kill(-stubborn.pid, "SIGKILL")
      assert.isTrue(survived, "a command that ignores SIGHUP outlives wsl.exe")
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
