/**
 * The SSH failure classifier (`SshFailure`), checked against stderr recorded from OpenSSH 9.2
 * (`fixtures/ssh-stderr.json`) and the texts of `shared/reference/ssh.md`. Pure and fast: the
 * tests `pnpm mutate backend-pool src/SshFailure.ts --tests test/ssh-failure.test.ts` runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { SshFailure } from "@isthmus/backend-pool"
import * as NodeFs from "node:fs"
import { fixture } from "./helpers.ts"

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
      [`Load key "/k": bad permissions`, "KeyPermissions", "fatal", [
        "refuses the private key /home/dev/.ssh/id_ed25519 because other users can read it",
        "chmod 600 /home/dev/.ssh/id_ed25519"
      ]],
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
        [
          `${t} refused the login`,
          "for /home/dev/.ssh/id_ed25519",
          "never types a password",
          "check the user name and identityFile"
        ]
      ],
      [
        "ssh: Could not resolve hostname build-box: nodename nor servname provided, or not known",
        "HostNotFound",
        "fatal",
        [
          "the host name 10.250.0.2 is unknown",
          "Host alias",
          "define the alias in ~/.ssh/config (or the connection's configFile)"
        ]
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
    // Without an identity file the key messages name none (ssh picked one of its defaults), and
    // nothing stands in for the name (no double space either); the fixes use placeholders.
    const open = SshFailure.classify(`Load key "/k": bad permissions`, bare).message
    assert.match(open, /^ssh refuses the private key because other users can read it: chmod 600 <the key file> /)
    const unreadable = SshFailure.classify(`Load key "/k": invalid format`, bare).message
    assert.match(unreadable, /^the identity file cannot be read: create it \(ssh-keygen -t ed25519 -f <file>\)/)
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
    assert.include(missing.message, "or set the connection's executable")
    assert.strictEqual(missing.detail, "") // ssh printed nothing: it never ran
  })

  it("the detail: the last six non-empty lines, trimmed, @ rows left out, at most 1,000 characters", () => {
    const lines = Array.from({ length: 9 }, (_, i) => `line ${i}   `)
    const f = SshFailure.classify(`${lines.join("\n")}\n@@@@\n@ \n@@ banner\nPermission denied (publickey).`, context)
    assert.strictEqual(f.detail, "line 4 | line 5 | line 6 | line 7 | line 8 | Permission denied (publickey).")
    // A line that only starts with @ but has more is kept; `@@` lines are the banner's.
    assert.include(SshFailure.classify("user@host: Permission denied (publickey).", context).detail, "user@host")
    assert.strictEqual(
      SshFailure.classify("@home\nPermission denied (publickey).", context).detail,
      "@home | Permission denied (publickey)."
    )
    const long = SshFailure.classify(`${"x".repeat(3_000)}\nConnection refused`, context)
    assert.strictEqual(long.detail.length, 1_000)
  })

  it("the detail of a recorded failure: its last six lines as ssh printed them, the banner's @@ rows left out", () => {
    // Recorded from OpenSSH 9.2 (fixtures/ssh-stderr.json): the banner's text row starts and ends
    // with a single @ and is kept; the rows of @ around it are not.
    const open = recorded.cases.find((c) => c.reason === "KeyPermissions")!
    assert.strictEqual(
      SshFailure.classify(open.stderr, context).detail,
      [
        "@         WARNING: UNPROTECTED PRIVATE KEY FILE!          @",
        "Permissions 0644 for '$LAB/open_key' are too open.",
        "It is required that your private key files are NOT accessible by others.",
        "This private key will be ignored.",
        `Load key "$LAB/open_key": bad permissions`,
        "root@$HOST: Permission denied (publickey)."
      ].join(" | ")
    )
  })

  it("the detail keeps ssh's last lines without the banner's @ rows", () => {
    const changed = recorded.cases.find((c) => c.reason === "HostKeyChanged")!
    const f = SshFailure.classify(changed.stderr, context)
    assert.notInclude(f.detail, "@@@@")
    assert.include(f.detail, "Host key verification failed.")
  })
})
