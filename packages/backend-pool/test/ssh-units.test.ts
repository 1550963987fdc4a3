/**
 * The pure SSH modules: arguments, validation, quoting (checked by real dash and bash) and the
 * failure classifier (checked against stderr recorded from OpenSSH 9.2).
 */
import { assert, describe, it } from "@effect/vitest"
import { type BackendSpec, SshConnection, SshFailure, SshLauncher } from "@isthmus/backend-pool"
import { Result, Schema } from "effect"
import * as fc from "fast-check"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import { fixture } from "./helpers.ts"

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

interface Recorded {
  readonly recordedWith: string
  readonly cases: ReadonlyArray<{ name: string; reason: string; code: number | null; stderr: string }>
}

const context: SshFailure.FailureContext = {
  target: "dev@10.250.0.2:2222",
  host: "10.250.0.2",
  port: 2222,
  user: "dev",
  identityFile: "/home/dev/.ssh/id_ed25519",
  knownHostsFile: "/home/dev/.config/app/known_hosts"
}

describe("SshFailure.classify", () => {
  const recorded = JSON.parse(NodeFs.readFileSync(fixture("ssh-stderr.json"), "utf8")) as Recorded

  it(`reads every failure recorded from ${recorded.recordedWith.split(",")[0]}`, () => {
    const failures = recorded.cases.filter((c) => c.reason !== "none")
    assert.isAtLeast(failures.length, 15)
    for (const c of failures) {
      assert.strictEqual(SshFailure.classify(c.stderr, context).reason, c.reason, c.name)
    }
  })

  it("reads the texts of shared/reference/ssh.md §2.3 and §4.3, verbatim", () => {
    const rows: ReadonlyArray<readonly [string, SshFailure.SshFailureReason]> = [
      [
        "No ED25519 host key is known for [10.250.0.2]:2222 and you have requested strict checking.\nHost key verification failed.\n",
        "HostKeyUnknown"
      ],
      ["Host key verification failed.\n", "HostKeyUnknown"],
      [
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nOffending ED25519 key in /lab/kh_changed:1\nHost key for [10.250.0.2]:2222 has changed and you have requested strict checking.\nHost key verification failed.\n",
        "HostKeyChanged"
      ],
      ["sshlabu@10.250.0.2: Permission denied (publickey).\n", "AuthRefused"],
      ["Received disconnect from 10.250.0.2 port 2222:2: Too many authentication failures\n", "TooManyAuthFailures"],
      ["ssh: connect to host 10.250.0.2 port 2223: Connection refused\n", "ConnectionRefused"],
      ["ssh: connect to host 10.250.0.3 port 2222: Connection timed out\n", "ConnectTimeout"],
      ["ssh: connect to host 10.250.0.77 port 2222: No route to host\n", "NoRoute"],
      ["Connection timed out during banner exchange\nConnection to 10.250.0.2 port 2225 timed out\n", "BannerTimeout"],
      ["kex_exchange_identification: Connection closed by remote host\n", "Dropped"],
      ["kex_exchange_identification: read: Connection reset by peer\n", "Dropped"],
      ["ssh: Could not resolve hostname nosuch.invalid: Temporary failure in name resolution\n", "DnsTemporary"],
      ["Timeout, server 10.250.0.2 not responding.\n", "KeepaliveLost"],
      ["command-line: line 0: Bad configuration option: nosuchoption\n", "ConfigError"],
      ["Bad local forwarding specification '0:127.0.0.1:37575'\n", "ConfigError"],
      ["Control socket connect(/tmp/cm/27200aa7): Connection refused\r\n", "ControlSocket"],
      [
        "mux_client_forward: forwarding request failed: Port forwarding failed\r\nmuxclient: master forward request failed\r\n",
        "ForwardRefused"
      ],
      [
        "bind [127.0.0.1]:40351: Address already in use\nchannel_setup_fwd_listener_tcpip: cannot listen to port: 40351\nCould not request local forwarding.\n",
        "ForwardRefused"
      ]
    ]
    for (const [stderr, reason] of rows) assert.strictEqual(SshFailure.classify(stderr, context).reason, reason, stderr)
  })

  it("host key and authentication problems are fatal and say the fix; network problems are transient", () => {
    const changed = SshFailure.classify("Host key for x has changed and you have requested strict checking.", context)
    assert.strictEqual(changed.failureClass, "fatal")
    assert.include(changed.message, "ssh-keygen -R '[10.250.0.2]:2222' -f /home/dev/.config/app/known_hosts")
    const unknown = SshFailure.classify("Host key verification failed.", context)
    assert.include(unknown.message, "ssh-keyscan -p 2222 10.250.0.2 >> /home/dev/.config/app/known_hosts")
    assert.include(unknown.message, "accept-new")
    const denied = SshFailure.classify("dev@10.250.0.2: Permission denied (publickey).", context)
    assert.strictEqual(denied.failureClass, "fatal")
    assert.include(denied.message, "ssh-copy-id -i /home/dev/.ssh/id_ed25519.pub -p 2222 dev@10.250.0.2")
    for (const text of ["Connection refused", "Connection timed out", "No route to host"]) {
      const f = SshFailure.classify(`ssh: connect to host h port 22: ${text}`, context)
      assert.strictEqual(f.failureClass, "transient", text)
    }
    const odd = SshFailure.classify("something nobody has seen", context)
    assert.strictEqual(odd.reason, "Unknown")
    assert.strictEqual(odd.failureClass, "bounded")
    assert.include(odd.message, "something nobody has seen")
  })

  it("every reason: its class, and a message naming the host and what to do (each wording alone)", () => {
    // [stderr, reason, class, fragments of the message]. Texts: shared/reference/ssh.md §2.3 and
    // §1.1 (OpenSSH 9.2); the name-lookup and connect errors end in the OS's own text (glibc,
    // macOS, Windows); "No more authentication methods to try", "administratively prohibited" and
    // the Load-key texts as OpenSSH prints them in public transcripts of `ssh -v`.
    const t = context.target
    const rows: ReadonlyArray<
      readonly [string, SshFailure.SshFailureReason, "fatal" | "transient" | "bounded", ReadonlyArray<string>]
    > = [
      [
        "Host key for x has changed and you have requested strict checking.",
        "HostKeyChanged",
        "fatal",
        [t, "CHANGED", "Not retried", "/home/dev/.config/app/known_hosts", "ssh-keygen -lf"]
      ],
      [
        "No ED25519 host key is known for x and you have requested strict checking.",
        "HostKeyUnknown",
        "fatal",
        [t, "is not in /home/dev/.config/app/known_hosts", "never answers a prompt", "ssh-keygen -lf"]
      ],
      [`Load key "/k": bad permissions`, "KeyPermissions", "fatal", ["chmod 600 /home/dev/.ssh/id_ed25519"]],
      [
        `Load key "/k": invalid format`,
        "IdentityMissing",
        "fatal",
        ["/home/dev/.ssh/id_ed25519 cannot be read", "ssh-keygen -t ed25519 -f /home/dev/.ssh/id_ed25519"]
      ],
      [`Load key "/k": error in libcrypto`, "IdentityMissing", "fatal", ["ssh-copy-id"]],
      [`Load key "/k": No such file or directory`, "IdentityMissing", "fatal", ["ssh-copy-id"]],
      [
        "Received disconnect from h port 22:2: Too many authentication failures",
        "TooManyAuthFailures",
        "fatal",
        [t, "set identityFile"]
      ],
      [
        "No more authentication methods to try.",
        "AuthRefused",
        "fatal",
        [`${t} refused the login`, "for /home/dev/.ssh/id_ed25519", "never types a password"]
      ],
      [
        "ssh: Could not resolve hostname build-box: nodename nor servname provided, or not known",
        "HostNotFound",
        "fatal",
        ["the host name 10.250.0.2 is unknown", "Host alias"]
      ],
      ["ssh: Could not resolve hostname build-box: No address associated with hostname", "HostNotFound", "fatal", []],
      ["ssh: Could not resolve hostname build-box: No such host is known. ", "HostNotFound", "fatal", []],
      [
        "ssh: Could not resolve hostname build-box: Temporary failure in name resolution",
        "DnsTemporary",
        "transient",
        ["10.250.0.2 could not be resolved right now", "retrying"]
      ],
      [
        "ssh: connect to host h port 22: Connection refused",
        "ConnectionRefused",
        "transient",
        [`nothing accepts connections at ${t}`, "retrying"]
      ],
      ["ssh: connect to host h port 22: Operation timed out", "ConnectTimeout", "transient", [t, "did not answer"]],
      ["ssh: connect to host h port 22: Network is unreachable", "NoRoute", "transient", [t, "unreachable"]],
      ["ssh: connect to host h port 22: Host is down", "NoRoute", "transient", []],
      ["Connection timed out during banner exchange", "BannerTimeout", "transient", [t, "no SSH banner"]],
      ["Connection closed by 10.0.0.2 port 22", "Dropped", "transient", [t, "dropped the connection"]],
      ["read: Connection reset by peer", "Dropped", "transient", []],
      ["Timeout, server h not responding.", "KeepaliveLost", "transient", [t, "keepalives"]],
      [
        "channel 3: open failed: administratively prohibited: open failed",
        "ForwardRefused",
        "bounded",
        [`forward through ${t} was refused`, "AllowTcpForwarding no"]
      ],
      ["Port forwarding failed", "ForwardRefused", "bounded", []],
      ["mux_client_request_session: read from master failed: Broken pipe", "ControlSocket", "transient", [t, "gone"]],
      ["muxclient: master hello exchange failed", "ControlSocket", "transient", []],
      ["/home/dev/.ssh/config: line 3: Unsupported option \"gssapiauthentication\"", "ConfigError", "fatal", [
        "check the connection's options and configFile"
      ]],
      ["command-line line 0: garbage at end of line", "ConfigError", "fatal", []],
      ["Can't open user config file /nope: No such file or directory", "ConfigError", "fatal", []],
      ["/etc/ssh/ssh_config line 5: no argument after keyword \"port\"", "ConfigError", "fatal", []],
      [
        "'exec' is not recognized as an internal or external command,",
        "NotPosixShell",
        "fatal",
        [`login shell of ${t} is not a POSIX shell`, "exec sh -s"]
      ],
      [
        "exec : The term 'exec' is not recognized as the name of a cmdlet, function, script file, or operable program.",
        "NotPosixShell",
        "fatal",
        []
      ],
      ["Connection to 10.0.0.2 closed by remote host.", "ConnectionClosed", "transient", [t, "closed the connection"]],
      ["client_loop: send disconnect: Broken pipe", "ConnectionClosed", "transient", []]
    ]
    for (const [stderr, reason, failureClass, fragments] of rows) {
      const f = SshFailure.classify(stderr, context)
      assert.deepStrictEqual([f.reason, f.failureClass], [reason, failureClass], stderr)
      for (const fragment of fragments) assert.include(f.message, fragment, stderr)
    }
  })

  it("fixes without a port, user, identity or known-hosts file use ssh's defaults", () => {
    const bare: SshFailure.FailureContext = { target: "build-box", host: "build-box" }
    const unknown = SshFailure.classify("Host key verification failed.", bare)
    assert.include(unknown.message, "(ssh-keyscan build-box >> ~/.ssh/known_hosts,")
    const changed = SshFailure.classify("REMOTE HOST IDENTIFICATION HAS CHANGED", bare)
    assert.include(changed.message, "ssh-keygen -R 'build-box' -f ~/.ssh/known_hosts")
    // Port 22 is written without brackets in known_hosts; any other port as [host]:port.
    const on22 = SshFailure.classify("REMOTE HOST IDENTIFICATION HAS CHANGED", { ...bare, port: 22 })
    assert.include(on22.message, "ssh-keygen -R 'build-box' -f")
    const denied = SshFailure.classify("Permission denied (publickey).", bare)
    assert.include(denied.message, "build-box refused the login (no accepted key;")
    assert.include(denied.message, "(ssh-copy-id build-box)")
    assert.include(SshFailure.classify(`Load key "/k": bad permissions`, bare).message, "chmod 600 <the key file>")
    assert.include(
      SshFailure.classify(`Load key "/k": invalid format`, bare).message,
      "(ssh-keygen -t ed25519 -f <file>)"
    )
  })

  it("an unrecognised failure is bounded and quotes ssh, or says it printed nothing", () => {
    const silent = SshFailure.classify("", context)
    assert.deepStrictEqual([silent.reason, silent.failureClass, silent.detail], ["Unknown", "bounded", ""])
    assert.strictEqual(silent.message, `ssh to ${context.target} failed without a message`)
    const odd = SshFailure.classify("first\r\n\r\nsecond  \n", context)
    assert.strictEqual(odd.message, `ssh to ${context.target} failed: first | second`)
    const missing = SshFailure.clientMissing("/usr/bin/ssh", context)
    assert.deepStrictEqual([missing.reason, missing.failureClass], ["ClientMissing", "fatal"])
    assert.include(missing.message, `"/usr/bin/ssh" could not be started to reach ${context.target}`)
    assert.include(missing.message, "apt-get install openssh-client")
  })

  it("the detail: the last six non-empty lines, trimmed, @ rows left out, at most 1,000 characters", () => {
    const lines = Array.from({ length: 9 }, (_, i) => `line ${i}   `)
    const f = SshFailure.classify(`${lines.join("\n")}\n@@@@\n@ \n@@ banner\nPermission denied (publickey).`, context)
    assert.strictEqual(f.detail, "line 4 | line 5 | line 6 | line 7 | line 8 | Permission denied (publickey).")
    // A line that only starts with @ but has more is kept; `@@` lines are the banner's.
    assert.include(SshFailure.classify("user@host: Permission denied (publickey).", context).detail, "user@host")
    const long = SshFailure.classify(`${"x".repeat(3_000)}\nConnection refused`, context)
    assert.strictEqual(long.detail.length, 1_000)
  })

  it("the detail keeps ssh's last lines without the banner's @ rows", () => {
    const changed = recorded.cases.find((c) => c.reason === "HostKeyChanged")!
    const f = SshFailure.classify(changed.stderr, context)
    assert.notInclude(f.detail, "@@@@")
    assert.include(f.detail, "Host key verification failed.")
  })
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
