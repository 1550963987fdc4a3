/**
 * What the SSH launcher runs on the remote, run here by real dash and bash (as `exec sh -s` would
 * on the host, without ssh in between), and the decoder of a run's first output.
 */
import { assert, describe, it } from "@effect/vitest"
import { SshLauncher, SshRemote, Watchdog } from "@isthmus/backend-pool"
import * as fc from "fast-check"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

/** Feeds `text` to a decoder in the given chunk sizes; returns the output and the decoder. */
const decodeInChunks = (text: string, sizes: ReadonlyArray<number>) => {
  let seen = 0
  const d = new SshRemote.HandshakeDecoder(() => seen++)
  const bytes = enc(text)
  let out = ""
  let i = 0
  let k = 0
  while (i < bytes.length) {
    const n = Math.max(1, sizes[k++ % sizes.length] ?? 1)
    out += dec(d.push(bytes.subarray(i, i + n)))
    i += n
  }
  out += dec(d.end())
  return { out, seen, decoder: d }
}

describe("HandshakeDecoder", () => {
  it("passes rc noise, removes the handshake once, passes the rest, however the bytes are cut", () => {
    const text = `RC-NOISE from .bashrc\r\n${SshRemote.handshake}\n@@pgid 42\nhello\n${SshRemote.handshake}\n`
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }), (sizes) => {
      const { out, seen, decoder } = decodeInChunks(text, sizes)
      assert.strictEqual(out, `RC-NOISE from .bashrc\r\n@@pgid 42\nhello\n${SshRemote.handshake}\n`)
      assert.strictEqual(seen, 1)
      assert.isTrue(decoder.seen)
      assert.isUndefined(decoder.error)
    }))
  })

  it("a loader error right after the handshake is recorded and said in words", () => {
    for (const error of ["cwd", "command", "header"] as const) {
      const { out, decoder } = decodeInChunks(`${SshRemote.handshake}\n${SshRemote.errorPrefix}${error}\n`, [3])
      assert.strictEqual(decoder.error, error)
      assert.strictEqual(out, `isthmus-ssh: ${SshRemote.loaderErrors[error]}\n`)
    }
    // Later lines that look like one are the backend's.
    const later = decodeInChunks(`${SshRemote.handshake}\n@@pgid 1\n${SshRemote.errorPrefix}cwd\n`, [5])
    assert.isUndefined(later.decoder.error)
  })

  it("without a handshake everything comes out (a shell that never ran the loader)", () => {
    const text = "'exec' is not recognized as an internal or external command,\r\n"
    const { out, seen } = decodeInChunks(text, [4])
    assert.strictEqual(out, text)
    assert.strictEqual(seen, 0)
  })
})

/**
 * Runs the loader under `shell` as ssh's `exec sh -s` would: the loader first, the header only
 * after the handshake, then `rest` (the backend's stdin), then EOF. Returns stdout and stderr.
 */
const runLoader = (shell: string, header: string, rest: string, closeAt: "once-sent" | "exit" = "exit") =>
  new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
    const child = NodeChild.spawn(shell, ["-s"], { stdio: ["pipe", "pipe", "pipe"], detached: true })
    let stdout = ""
    let stderr = ""
    let sent = false
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d
      if (!sent && stdout.includes(`${SshRemote.handshake}\n`)) {
        sent = true
        child.stdin.write(header + rest)
        // EOF is the stop signal: sent at once, or only once the backend is done.
        if (closeAt === "once-sent") child.stdin.end()
      }
    })
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.once("exit", (code) => {
      child.stdin.end()
      setTimeout(() => resolve({ stdout, stderr, code }), 50)
    })
    child.stdin.write(SshRemote.loaderScript)
  })

const cmdlines = () =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map((e) => {
    try {
      return NodeFs.readFileSync(`/proc/${e}/cmdline`, "latin1")
    } catch {
      return ""
    }
  })

describe("the remote loader, run by real shells", () => {
  for (const shell of ["dash", "bash"]) {
    it(`${shell}: argv, cwd and environment arrive exactly; the watchdog reports its group; secrets stay out of argv`, async () => {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "isthmus-loader-"))
      const secret = `tok-'"$\`\\ ${Math.random()}`
      const args = ["a b", "it's", "x\ny", "$HOME", "*", "-n", ""]
      const header = SshRemote.header({
        command: "sh",
        args: [
          "-c",
          `printf '[%s]\\n' "$@"; printf 'S=%s\\n' "$SECRET"; pwd; IFS= read -r boot; printf 'boot=%s\\n' "$boot"; ` +
          // While it runs: how many processes have the secret in their argv (builtins only see it).
          `all=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '); ` +
          `case $all in *"$SECRET"*) echo 1 ;; *) echo 0 ;; esac`,
          "sh",
          ...args
        ],
        cwd: dir,
        env: { SECRET: secret, PLAIN: "p" },
        graceMs: 500,
        signal: "SIGTERM"
      })
      const r = await runLoader(shell, header, "{\"token\":\"t\"}\n")
      const lines = r.stdout.split("\n")
      assert.strictEqual(lines[0], SshRemote.handshake)
      assert.match(lines[1]!, /^@@pgid \d+$/)
      const out = r.stdout.slice(r.stdout.indexOf("\n", r.stdout.indexOf("@@pgid")) + 1)
      const expected = `${args.map((a) => `[${a}]`).join("\n")}\nS=${secret}\n${
        NodeFs.realpathSync(dir)
      }\nboot={"token":"t"}\n0\n@@exit 0\n`
      assert.strictEqual(out, expected)
      assert.strictEqual(r.code, 0)
      assert.isFalse(cmdlines().some((c) => c.includes("tok-'")))
      NodeFs.rmSync(dir, { recursive: true, force: true })
    })

    it(`${shell}: a missing cwd or command is a loader error, and nothing runs`, async () => {
      const missingDir = await runLoader(
        shell,
        SshRemote.header({
          command: "sh",
          args: ["-c", "echo ran"],
          cwd: "/nonexistent/dir",
          env: {},
          graceMs: 0,
          signal: "SIGTERM"
        }),
        ""
      )
      assert.include(missingDir.stdout, `${SshRemote.errorPrefix}cwd\n`)
      assert.notInclude(missingDir.stdout, "ran")
      assert.strictEqual(missingDir.code, 126)
      const missingCommand = await runLoader(
        shell,
        SshRemote.header({ command: "no-such-command-xyz", args: [], env: {}, graceMs: 0, signal: "SIGTERM" }),
        ""
      )
      assert.include(missingCommand.stdout, `${SshRemote.errorPrefix}command\n`)
      assert.strictEqual(missingCommand.code, 127)
    })

    it(`${shell}: EOF on stdin stops the backend's whole group (the watchdog's contract)`, async () => {
      const marker = `isthmus-loader-${Math.random().toString(36).slice(2)}`
      const r = await runLoader(
        shell,
        SshRemote.header({
          command: "sh",
          args: ["-c", `sleep 1000 & sleep 1001 & echo started; wait`, marker],
          env: {},
          graceMs: 300,
          signal: "SIGTERM"
        }),
        "",
        "once-sent"
      )
      const decoded = Watchdog.decodeExit(Number(/@@exit (\d+)/.exec(r.stdout)?.[1]))
      assert.strictEqual(decoded.signal, "SIGTERM")
      assert.isFalse(cmdlines().some((c) => c.includes(marker)))
    })
  }
})

describe("the preflight probe", () => {
  it("finds the command, Node's version, missing tools and a missing cwd (dash)", () => {
    const script = SshRemote.probeScript(process.execPath, {
      node: ">=22",
      tools: ["sh", "no-such-tool-xyz"],
      cwd: "/nonexistent/dir"
    })
    const out = NodeChild.spawnSync("dash", ["-s"], { input: `echo RC-NOISE\n${script}`, encoding: "utf8" }).stdout
    const probe = SshRemote.parseProbe(out)
    assert.isTrue(probe.ran && probe.complete)
    assert.strictEqual(probe.commandPath, process.execPath)
    assert.strictEqual(probe.nodeVersion, process.version)
    assert.deepStrictEqual(probe.missing, ["no-such-tool-xyz"])
    assert.isTrue(probe.cwdMissing)
    assert.strictEqual(probe.system, "Linux")
    const launch = {
      _tag: "Ssh",
      connection: { host: "h" },
      command: process.execPath,
      cwd: "/nonexistent/dir",
      requirements: { node: ">=99" }
    } as const
    const verdict = SshLauncher.judgeProbe("h", launch, probe)
    assert.include(verdict?.message, `does not satisfy >=99`)
    assert.include(verdict?.message, "no-such-tool-xyz")
    assert.include(verdict?.message, "/nonexistent/dir")
    assert.strictEqual(verdict?.failureClass, "fatal")
  })

  it("a command that is not there is named, with why a login shell may miss it", () => {
    const out = NodeChild.spawnSync("dash", ["-s"], {
      input: SshRemote.probeScript("no-such-backend", {}),
      encoding: "utf8"
    }).stdout
    const verdict = SshLauncher.judgeProbe("dev@h", {
      _tag: "Ssh",
      connection: { host: "h" },
      command: "no-such-backend"
    }, SshRemote.parseProbe(out))
    assert.include(verdict?.message, "\"no-such-backend\" was not found on dev@h")
    assert.include(verdict?.message, "nvm")
  })
})

describe("forward targets and local URLs", () => {
  it("loopback and wildcard binds are reached at 127.0.0.1 on the host; the local URL keeps the path", () => {
    assert.deepInclude(SshLauncher.forwardTarget({ url: "http://0.0.0.0:5123" }), { host: "127.0.0.1", port: 5123 })
    assert.deepInclude(SshLauncher.forwardTarget({ url: "ws://[::1]:80/rpc" }), { host: "127.0.0.1", port: 80 })
    assert.deepInclude(SshLauncher.forwardTarget({ url: "http://10.1.2.3:9" }), { host: "10.1.2.3", port: 9 })
    assert.isUndefined(SshLauncher.forwardTarget({ url: "not a url" }))
    assert.deepInclude(SshLauncher.forwardTarget({ port: 7 }), { host: "127.0.0.1", port: 7 })
    assert.strictEqual(SshLauncher.localUrl("http://127.0.0.1:5123", 40000), "http://127.0.0.1:40000")
    assert.strictEqual(SshLauncher.localUrl("ws://localhost:5123/rpc?x=1", 40000), "ws://127.0.0.1:40000/rpc?x=1")
    assert.strictEqual(SshLauncher.localUrl("http://127.0.0.1:5123/", 40000), "http://127.0.0.1:40000/")
    assert.strictEqual(SshLauncher.localUrl(undefined, 40000), "http://127.0.0.1:40000")
  })
})
