/**
 * The pure SSH modules: arguments, validation and quoting (checked by real dash and bash). The
 * failure classifier has its own file (ssh-failure.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { type BackendSpec, SshConnection, SshLauncher } from "@isthmus/backend-pool"
import { Result, Schema } from "effect"
import * as fc from "fast-check"
import * as NodeChild from "node:child_process"

const base: SshConnection.SshConnection = { host: "10.0.0.2", port: 2222, user: "dev" }

/** The value of `-o Name=…` in `args` that ssh would use: the first one (ssh_config(5)). */
const firstOption = (args: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === "-o" && args[i + 1]!.toLowerCase().startsWith(`${name.toLowerCase()}=`)) {
      return args[i + 1]!.slice(name.length + 1)
    }
  }
  return undefined
}

describe("SshConnection arguments", () => {
  it("unattended, strict host keys, keepalives, no pty, -- before the host and one command string", () => {
    const args = SshConnection.sessionArgs(base, { _tag: "None" }, [], "exec sh -s")
    assert.strictEqual(firstOption(args, "BatchMode"), "yes")
    assert.strictEqual(firstOption(args, "StrictHostKeyChecking"), "yes")
    assert.strictEqual(firstOption(args, "ServerAliveInterval"), "15")
    assert.strictEqual(firstOption(args, "ServerAliveCountMax"), "3")
    assert.strictEqual(firstOption(args, "ConnectTimeout"), "10")
    assert.strictEqual(firstOption(args, "ControlPath"), "none")
    assert.include(args, "-T")
    assert.notInclude(args, "-t")
    assert.notInclude(args, "-n")
    assert.deepStrictEqual(args.slice(-3), ["--", "10.0.0.2", "exec sh -s"])
    assert.deepStrictEqual(args.slice(args.indexOf("-p"), args.indexOf("-p") + 2), ["-p", "2222"])
    assert.deepStrictEqual(args.slice(args.indexOf("-l"), args.indexOf("-l") + 2), ["-l", "dev"])
  })

  it("the launcher's options come before the user's, so the user's cannot override them", () => {
    const args = SshConnection.optionArgs(
      { ...base, hostKeyPolicy: "accept-new", options: { ProxyJump: "bastion" } },
      { _tag: "Client", path: "/tmp/ism-x/m" }
    )
    assert.strictEqual(firstOption(args, "StrictHostKeyChecking"), "accept-new")
    assert.strictEqual(firstOption(args, "ControlPath"), "/tmp/ism-x/m")
    assert.strictEqual(firstOption(args, "ControlMaster"), "no")
    assert.strictEqual(firstOption(args, "ProxyJump"), "bastion")
    assert.isTrue(args.indexOf("ProxyJump=bastion") > args.indexOf("BatchMode=yes"))
  })

  it("an identity file is the only key offered; a known-hosts file replaces the system one", () => {
    const args = SshConnection.optionArgs(
      { ...base, identityFile: "/k/id", knownHostsFile: "/k/kh" },
      { _tag: "None" }
    )
    assert.strictEqual(firstOption(args, "IdentitiesOnly"), "yes")
    assert.deepStrictEqual(args.slice(args.indexOf("-i"), args.indexOf("-i") + 2), ["-i", "/k/id"])
    assert.strictEqual(firstOption(args, "UserKnownHostsFile"), "/k/kh")
    assert.strictEqual(firstOption(args, "GlobalKnownHostsFile"), "/dev/null")
  })

  it("a master is a foreground ControlPersist=no master that unlinks stale socket forwards", () => {
    const args = SshConnection.optionArgs(base, { _tag: "Master", path: "/tmp/ism-x/m" })
    assert.include(args, "-M")
    assert.strictEqual(firstOption(args, "ControlPersist"), "no")
    assert.strictEqual(firstOption(args, "StreamLocalBindUnlink"), "yes")
  })

  it("refuses hosts and users that ssh would read as options, and owned options", () => {
    const decode = Schema.decodeUnknownResult(SshConnection.SshConnection)
    assert.isTrue(Result.isFailure(decode({ host: "-oProxyCommand=touch /tmp/x" })))
    assert.isTrue(Result.isFailure(decode({ host: "h", user: "-F/etc/passwd" })))
    assert.isTrue(Result.isFailure(decode({ host: "two words" })))
    assert.isTrue(Result.isSuccess(decode({ host: "fe80::1%eth0" })))
    assert.isTrue(Result.isSuccess(decode({ host: "build-box.example.org", user: "ci_user" })))
    const owned = SshConnection.validate({ ...base, options: { StrictHostKeyChecking: "no" } })
    assert.isTrue(Result.isFailure(owned))
    if (Result.isFailure(owned)) {
      assert.strictEqual(owned.failure.field, "options.StrictHostKeyChecking")
      assert.include(owned.failure.message, "hostKeyPolicy")
    }
    assert.isTrue(Result.isFailure(SshConnection.validate({ ...base, options: { controlpath: "/x" } })))
    assert.isTrue(Result.isFailure(SshConnection.validate({ ...base, options: { ProxyJump: "a\nb" } })))
    assert.isTrue(Result.isSuccess(SshConnection.validate({ ...base, options: { ProxyJump: "bastion" } })))
  })

  it("control directories leave room for a socket name within sun_path (90 on Linux, 86 on macOS)", () => {
    assert.strictEqual(SshConnection.controlDirBase("/tmp", "linux"), "/tmp")
    // macOS's $TMPDIR (48 characters) leaves room for our short names (not for ssh's 40-character %C).
    const macTmp = "/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/"
    assert.strictEqual(SshConnection.controlDirBase(macTmp, "darwin"), macTmp.slice(0, -1))
    assert.strictEqual(SshConnection.controlDirBase(macTmp + "xxxx/", "darwin"), "/tmp")
    const long = "/" + "d".repeat(80)
    assert.strictEqual(SshConnection.controlDirBase(long, "linux"), "/tmp")
    assert.isUndefined(SshConnection.controlDirBase(long, "win32"))
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 120 }), (tmp) => {
      const dir = SshConnection.controlDirBase(`/${tmp.replaceAll("/", "")}`, "linux")
      return dir === undefined || dir.length + "/ism-XXXXXX/".length + 24 <= 90
    }))
  })

  it("the key tells connections apart by everything that changes how ssh connects", () => {
    assert.strictEqual(SshConnection.key(base), SshConnection.key({ ...base }))
    assert.notStrictEqual(SshConnection.key(base), SshConnection.key({ ...base, port: 22 }))
    assert.notStrictEqual(SshConnection.key(base), SshConnection.key({ ...base, identityFile: "/k" }))
    assert.strictEqual(
      SshConnection.key({ ...base, options: { A: "1", B: "2" } }),
      SshConnection.key({ ...base, options: { B: "2", A: "1" } })
    )
  })
})

/**
 * Evaluates each quoted word the way the remote wrapper does (`read -r` a line, then
 * `eval "set -- $line"`) with a real shell, and returns what `$1` became.
 */
const evalWords = (shell: string, words: ReadonlyArray<string>): Array<string> => {
  const script = `nl='\n'; while IFS= read -r line; do eval "set -- $line"; printf '%s' "$1"; printf '\\000'; done`
  const r = NodeChild.spawnSync(shell, ["-c", script], { input: words.join("\n") + "\n", encoding: "utf8" })
  return r.stdout.split("\u0000").slice(0, -1)
}

describe("quoteWord", () => {
  // The remote wrapper reads one line and evaluates it with `eval "set -- $line"`: the oracle is
  // the shells themselves. Each shell runs once for a batch of 200 strings.
  for (const shell of ["dash", "bash"]) {
    it(`round-trips through ${shell}: quotes, newlines, $, backslashes, unicode`, () => {
      const samples = fc.sample(
        fc.string({
          unit: fc.constantFrom("a", "'", "\"", "\n", "\r", "$", "`", "\\", " ", "*", ";", "é", "🙂", "\t"),
          maxLength: 20
        }),
        200
      )
      const words = samples.map(SshConnection.quoteWord)
      for (const w of words) assert.notInclude(w, "\n")
      assert.deepStrictEqual(evalWords(shell, words), samples)
    })
  }
})

/** An Ssh spec (and its launch) on `base`, with overrides. */
const spec = (launcher: Partial<BackendSpec.SshLaunch>, extra: Partial<BackendSpec.BackendSpec> = {}) => {
  const launch: BackendSpec.SshLaunch = { _tag: "Ssh", connection: base, command: "node", ...launcher }
  return [{ id: "r", launcher: launch, ...extra } as BackendSpec.BackendSpec, launch] as const
}
const check = (...args: ReturnType<typeof spec>) => SshLauncher.checkSpec(args[0], args[1])

describe("SshLauncher.checkSpec: bad specs are fatal before any connection, naming the field and the fix", () => {
  it("accepts a plain spec", () => {
    assert.isUndefined(check(...spec({})))
  })

  it("refuses an Allocated port, and a polling readiness without a port to forward", () => {
    assert.include(check(...spec({}, { port: { _tag: "Allocated" } }))?.message, "cannot use an Allocated port")
    const http = check(...spec({}, { readiness: { check: { _tag: "Http", url: "http://{host}:{port}/" } } }))
    assert.include(http?.message, "give it a Fixed port")
    assert.isUndefined(
      check(...spec({}, { port: { _tag: "Fixed", port: 8080 }, readiness: { check: { _tag: "Http", url: "x" } } }))
    )
  })

  it("refuses owned options, missing key or known-hosts files, a bad Node range, NUL bytes", () => {
    const owned = check(...spec({ connection: { ...base, options: { BatchMode: "no" } } }))
    assert.include(owned?.message, "connection.options.BatchMode")
    assert.strictEqual(owned?.failureClass, "fatal")
    const key = check(...spec({ connection: { ...base, identityFile: "/nonexistent/id_ed25519" } }))
    assert.include(key?.message, "ssh-keygen -t ed25519 -f /nonexistent/id_ed25519")
    assert.include(key?.message, "ssh-copy-id -i /nonexistent/id_ed25519.pub dev@10.0.0.2")
    const kh = check(...spec({ connection: { ...base, knownHostsFile: "/nonexistent/kh" } }))
    assert.include(kh?.message, "ssh-keyscan -p 2222 10.0.0.2 >> /nonexistent/kh")
    // With accept-new a missing file is created by ssh on first contact.
    assert.isUndefined(
      check(...spec({ connection: { ...base, knownHostsFile: "/nonexistent/kh", hostKeyPolicy: "accept-new" } }))
    )
    assert.include(check(...spec({ requirements: { node: "twenty-two" } }))?.message, "not a semver range")
    assert.include(check(...spec({ args: ["a\u0000b"] }))?.message, "NUL byte")
  })
})
