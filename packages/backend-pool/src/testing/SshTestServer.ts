/**
 * A real OpenSSH server for tests and demos, with keys and a known-hosts file made for the run.
 *
 * Where the machine allows it (root, `ip netns`, `unshare`), the server runs in a network
 * namespace of its own with its own address (`10.x.y.2`, port 22) behind a veth pair, so the
 * "remote" host is really another host on the network and its `127.0.0.1` is not ours
 * (`shared/reference/ssh.md` §1.3); otherwise it runs as the current user on a loopback port
 * (§1.2). {@link SshTestServer.isolation} says which. In both cases the filesystem and `/proc`
 * are shared, so a test can run fixtures by their local path and count remote processes.
 *
 * Details from `ssh.md` §1.1, each needed here: sshd by absolute path; `/run/sshd` for a root
 * sshd; key files 0600; `StrictModes no` (the lab lives under `/tmp`); `UsePAM no`. As root the
 * login user's home is replaced (in the server's own mount namespace only) by an empty directory,
 * so login-shell rc files cost nothing unless a test writes one (`rc`). Every session gets
 * `ISTHMUS_SSH_LAB=<id>` in its environment (sshd `SetEnv`), which is how
 * {@link SshTestServer.sessionProcesses} finds what runs "on the remote", including orphans.
 *
 * Needs Debian's `openssh-server` (`apt-get install openssh-server`) and `ssh-keygen`.
 *
 * @module
 */
import { Effect, Schema, type Scope } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { SshConnection } from "../SshConnection.ts"

/** The lab could not be set up; the message says what is missing. */
export class SshTestServerError extends Schema.TaggedError<SshTestServerError>()("SshTestServerError", {
  message: Schema.String
}) {}

/** Options of {@link make}. */
export interface SshTestServerOptions {
  /** `auto` (default): a network namespace when possible, else loopback. */
  readonly isolation?: "auto" | "netns" | "loopback" | undefined
  /** The sshd binary (default `/usr/sbin/sshd`). */
  readonly sshd?: string | undefined
  /** Contents of the login user's `~/.bashrc` on the server (root only; default: none). */
  readonly rc?: string | undefined
  /** An sshd `ForceCommand` (e.g. to model a host whose login shell is not POSIX). */
  readonly forceCommand?: string | undefined
  /** More sshd_config lines. */
  readonly config?: ReadonlyArray<string> | undefined
}

/** A process started by an sshd session of the lab. */
export interface SessionProcess {
  readonly pid: number
  readonly cmdline: string
}

/** A running lab. Closing its scope kills everything it started and removes the namespace. */
export interface SshTestServer {
  readonly id: string
  readonly isolation: "netns" | "loopback"
  /** The address clients connect to. */
  readonly host: string
  readonly port: number
  readonly user: string
  /** The lab directory (keys, config, logs). */
  readonly dir: string
  readonly identityFile: string
  readonly knownHostsFile: string
  /** A connection for the SSH launcher: host, port, user, identity, known-hosts, `configFile: "none"`. */
  readonly connection: SshConnection
  /** A client config file with `Host <alias>` entries for this server (for alias tests). */
  readonly configWithAlias: (alias: string) => string
  /** The network namespace (netns isolation only). */
  readonly namespace: string | undefined
  /** Starts sshd (again); resolves once it listens. */
  readonly start: Effect.Effect<void, SshTestServerError>
  /** The server goes down: the listener and every session's sshd are SIGKILLed. */
  readonly stop: Effect.Effect<void>
  /** Replaces the host key (the known-hosts file keeps the old one) and restarts the listener. */
  readonly rotateHostKey: Effect.Effect<void, SshTestServerError>
  /** Live (non-zombie) processes started by the lab's sessions, including orphans. */
  readonly sessionProcesses: Effect.Effect<ReadonlyArray<SessionProcess>>
  /** sshd's log so far. */
  readonly log: () => string
}

const run = (command: string, args: ReadonlyArray<string>) => {
  const r = NodeChild.spawnSync(command, args, { encoding: "utf8", timeout: 20_000 })
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` }
}

const must = (command: string, args: ReadonlyArray<string>) => {
  const r = run(command, args)
  if (!r.ok) throw new Error(`${command} ${args.join(" ")}: ${r.out.trim()}`)
  return r.out
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

let counter = 0

/** Whether this machine can give the lab a network namespace (root, iproute2, util-linux). */
export const canUseNamespace = (): boolean =>
  isRoot() && run("ip", ["netns", "list"]).ok && run("unshare", ["--version"]).ok

/**
 * Why this machine cannot run a lab, or `undefined` when it can: the sshd binary, the OpenSSH
 * client (`ssh`) and `ssh-keygen` must be there (Debian: `apt-get install openssh-server
 * openssh-client`). Tests skip with this reason instead of failing where OpenSSH is not installed.
 */
export const unavailable = (sshd = "/usr/sbin/sshd"): string | undefined => {
  if (!NodeFs.existsSync(sshd)) return `${sshd} is missing (apt-get install openssh-server)`
  for (const tool of ["ssh", "ssh-keygen"]) {
    const r = NodeChild.spawnSync(tool, ["-V"], { encoding: "utf8" })
    if (r.error !== undefined) return `the OpenSSH client's ${tool} is not on PATH (apt-get install openssh-client)`
  }
  return undefined
}

/** Removes namespaces of earlier labs whose process is gone (`isthmus-<pid>-<n>`). */
const sweepStale = () => {
  const list = run("ip", ["netns", "list"])
  if (!list.ok) return
  for (const line of list.out.split("\n")) {
    const m = /^(isthmus-(\d+)-\d+)/.exec(line.trim())
    if (m === null) continue
    const pid = Number(m[2])
    let alive = true
    try {
      process.kill(pid, 0)
    } catch {
      alive = false
    }
    if (alive) continue
    for (const p of run("ip", ["netns", "pids", m[1]!]).out.split("\n").filter((s) => /^\d+$/.test(s))) {
      try {
        process.kill(Number(p), "SIGKILL")
      } catch {
        // gone
      }
    }
    run("ip", ["netns", "del", m[1]!])
  }
}

/** Reads `/proc/<pid>/environ`; `undefined` when it cannot be read. */
const environOf = (pid: string): string | undefined => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/environ`, "latin1")
  } catch {
    return undefined
  }
}

const isLive = (pid: string): boolean => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    return false
  }
}

const cmdlineOf = (pid: string): string => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\u0000", " ").trim()
  } catch {
    return ""
  }
}

/** Processes whose environment carries `ISTHMUS_SSH_LAB=<id>` (what the lab's sessions started). */
const labProcesses = (id: string): Array<SessionProcess> => {
  const needle = `ISTHMUS_SSH_LAB=${id}\u0000`
  const out: Array<SessionProcess> = []
  for (const entry of NodeFs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    const env = environOf(entry)
    if (env !== undefined && env.includes(needle) && isLive(entry)) {
      out.push({ pid: Number(entry), cmdline: cmdlineOf(entry) })
    }
  }
  return out
}

/** The pids of `root`'s descendants whose command name is `sshd` (the sessions' sshd processes). */
const sshdDescendants = (root: number): Array<number> => {
  const children = new Map<number, Array<number>>()
  const names = new Map<number, string>()
  for (const entry of NodeFs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = NodeFs.readFileSync(`/proc/${entry}/stat`, "latin1")
      const open = stat.indexOf("(")
      const close = stat.lastIndexOf(")")
      const ppid = Number(stat.slice(close + 2).split(" ")[1])
      names.set(Number(entry), stat.slice(open + 1, close))
      const list = children.get(ppid) ?? []
      list.push(Number(entry))
      children.set(ppid, list)
    } catch {
      // gone
    }
  }
  const out: Array<number> = []
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      if (names.get(c) === "sshd") {
        out.push(c)
        walk(c)
      }
    }
  }
  walk(root)
  return out
}

const kill = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal)
  } catch {
    // gone
  }
}

/** Starts a lab sshd; everything it made is removed when the scope closes. */
export const make = (
  options: SshTestServerOptions = {}
): Effect.Effect<SshTestServer, SshTestServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const sshd = options.sshd ?? "/usr/sbin/sshd"
    if (!NodeFs.existsSync(sshd)) {
      return yield* new SshTestServerError({
        message: `${sshd} is missing: install Debian's openssh-server (apt-get install openssh-server)`
      })
    }
    const wantNs = options.isolation ?? "auto"
    const useNs = wantNs === "netns" || (wantNs === "auto" && canUseNamespace())
    if (wantNs === "netns" && !canUseNamespace()) {
      return yield* new SshTestServerError({ message: "a network namespace needs root, iproute2 and unshare" })
    }
    const n = ++counter
    const id = `${process.pid}-${n}`
    const namespace = useNs ? `isthmus-${id}` : undefined
    // veth names are at most 15 characters.
    const tag = `${(process.pid % 0xfffff).toString(16)}${n.toString(16)}`.slice(-7)
    const vethHost = `ism${tag}h`
    const vethRemote = `ism${tag}r`
    const dir = yield* Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "isthmus-sshlab-")))
    const user = NodeOs.userInfo().username
    let child: NodeChild.ChildProcess | undefined
    let logText = ""
    let address = "127.0.0.1"
    let port = 0

    const teardown = Effect.sync(() => {
      if (child?.pid !== undefined) {
        for (const pid of sshdDescendants(child.pid)) kill(pid, "SIGKILL")
        kill(child.pid, "SIGKILL")
      }
      for (const p of labProcesses(id)) kill(p.pid, "SIGKILL")
      if (namespace !== undefined) {
        for (const p of run("ip", ["netns", "pids", namespace]).out.split("\n").filter((s) => /^\d+$/.test(s))) {
          kill(Number(p), "SIGKILL")
        }
        run("ip", ["link", "del", vethHost])
        run("ip", ["netns", "del", namespace])
      }
      NodeFs.rmSync(dir, { recursive: true, force: true })
    })
    yield* Effect.addFinalizer(() => teardown)

    yield* Effect.try({
      try: () => {
        const file = (name: string) => NodePath.join(dir, name)
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "isthmus-lab-host", "-f", file("host_ed25519")])
        must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "isthmus-lab-client", "-f", file("client_ed25519")])
        NodeFs.copyFileSync(file("client_ed25519.pub"), file("authorized_keys"))
        NodeFs.chmodSync(file("host_ed25519"), 0o600)
        NodeFs.chmodSync(file("client_ed25519"), 0o600)
        NodeFs.mkdirSync(file("home"), { mode: 0o700 })
        if (options.rc !== undefined) NodeFs.writeFileSync(file("home/.bashrc"), options.rc)
        if (isRoot()) NodeFs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 })
        if (useNs) {
          sweepStale()
          // A /30 per lab: 10.(200..249).(0..255).(4k+1, 4k+2); retried until the subnet is free here.
          const used = run("ip", ["-4", "-o", "addr"]).out
          let a = 0
          let b = 0
          let c = 0
          for (let tries = 0; tries < 100; tries++) {
            a = 200 + Math.floor(Math.random() * 50)
            b = Math.floor(Math.random() * 256)
            c = 4 * Math.floor(Math.random() * 64)
            if (!used.includes(`10.${a}.${b}.${c + 1}/`)) break
          }
          const local = `10.${a}.${b}.${c + 1}`
          address = `10.${a}.${b}.${c + 2}`
          must("ip", ["netns", "add", namespace!])
          must("ip", ["link", "add", vethHost, "type", "veth", "peer", "name", vethRemote])
          must("ip", ["link", "set", vethRemote, "netns", namespace!])
          must("ip", ["addr", "add", `${local}/30`, "dev", vethHost])
          must("ip", ["link", "set", vethHost, "up"])
          must("ip", ["netns", "exec", namespace!, "ip", "addr", "add", `${address}/30`, "dev", vethRemote])
          must("ip", ["netns", "exec", namespace!, "ip", "link", "set", vethRemote, "up"])
          must("ip", ["netns", "exec", namespace!, "ip", "link", "set", "lo", "up"])
          port = 22
        } else {
          port = 20_000 + Math.floor(Math.random() * 30_000)
        }
        NodeFs.writeFileSync(file("known_hosts"), knownHostsLine(address, port, file("host_ed25519.pub")))
        NodeFs.writeFileSync(file("sshd_config"), sshdConfig(dir, address, port, id, options))
      },
      catch: (error) => new SshTestServerError({ message: `could not set up the SSH lab: ${String(error)}` })
    })

    const file = (name: string) => NodePath.join(dir, name)

    const start: Effect.Effect<void, SshTestServerError> = Effect.callback<void, SshTestServerError>((resume) => {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        return resume(Effect.void)
      }
      const home = NodeOs.homedir()
      // As root: a private mount namespace hides the real home behind the lab's empty one.
      const sshdArgs = ["-D", "-e", "-f", file("sshd_config")]
      const script = `mount --bind "$1" "$2" && shift 2 && exec "$@"`
      const command = isRoot() && run("unshare", ["--version"]).ok
        ? [
          ...(namespace === undefined ? [] : ["ip", "netns", "exec", namespace]),
          "unshare",
          "-m",
          "sh",
          "-c",
          script,
          "lab",
          file("home"),
          home,
          sshd,
          ...sshdArgs
        ]
        : [sshd, ...sshdArgs]
      const proc = NodeChild.spawn(command[0]!, command.slice(1), { stdio: ["ignore", "ignore", "pipe"] })
      child = proc
      let settled = false
      const done = (effect: Effect.Effect<void, SshTestServerError>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(effect)
      }
      // Generous: sshd listens within ~100 ms here (ssh.md §1.2); a loaded CI box is far slower.
      const timer = setTimeout(
        () => done(Effect.fail(new SshTestServerError({ message: `sshd did not listen within 20 s: ${logText}` }))),
        20_000
      )
      proc.stderr!.setEncoding("utf8")
      proc.stderr!.on("data", (chunk: string) => {
        logText = (logText + chunk).slice(-200_000)
        if (logText.includes(`Server listening on ${address} port ${port}.`)) done(Effect.void)
      })
      proc.once("exit", (code) =>
        done(Effect.fail(new SshTestServerError({ message: `sshd exited with ${code}: ${logText.slice(-2_000)}` }))))
      proc.once("error", (error) =>
        done(Effect.fail(new SshTestServerError({ message: `sshd could not start: ${String(error)}` }))))
    })

    const stop = Effect.sync(() => {
      const proc = child
      if (proc?.pid === undefined) {
        return
      }
      for (const pid of sshdDescendants(proc.pid)) {
        kill(pid, "SIGKILL")
      }
      kill(proc.pid, "SIGKILL")
    }).pipe(
      Effect.andThen(Effect.callback<void>((resume) => {
        const proc = child
        if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) {
          return resume(Effect.void)
        }
        proc.once("exit", () =>
          resume(Effect.void))
      }))
    )

    const rotateHostKey = Effect.gen(function*() {
      yield* stop
      yield* Effect.try({
        try: () => {
          NodeFs.rmSync(file("host_ed25519"))
          NodeFs.rmSync(file("host_ed25519.pub"))
          must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "isthmus-lab-host2", "-f", file("host_ed25519")])
          NodeFs.chmodSync(file("host_ed25519"), 0o600)
        },
        catch: (error) =>
          new SshTestServerError({ message: `could not rotate the host key: ${String(error)}` })
      })
      yield* start
    })

    yield* start

    const connection: SshConnection = {
      host: address,
      port,
      user,
      identityFile: file("client_ed25519"),
      knownHostsFile: file("known_hosts"),
      configFile: "none"
    }
    const server: SshTestServer = {
      id,
      isolation: useNs ? "netns" : "loopback",
      host: address,
      port,
      user,
      dir,
      identityFile: file("client_ed25519"),
      knownHostsFile: file("known_hosts"),
      connection,
      configWithAlias: (alias) => {
        const path = file(`ssh_config.${alias}`)
        NodeFs.writeFileSync(
          path,
          [`Host ${alias}`, `  HostName ${address}`, `  Port ${port}`, `  User ${user}`, ""].join("\n")
        )
        return path
      },
      namespace,
      start,
      stop,
      rotateHostKey,
      sessionProcesses: Effect.sync(() =>
        labProcesses(id)
      ),
      log: () => logText
    }
    return server
  })

const knownHostsLine = (host: string, port: number, pubFile: string): string => {
  const [type, key] = NodeFs.readFileSync(pubFile, "utf8").trim().split(/\s+/)
  return `${port === 22 ? host : `[${host}]:${port}`} ${type} ${key}\n`
}

const sshdConfig = (dir: string, address: string, port: number, id: string, options: SshTestServerOptions) =>
  [
    `ListenAddress ${address}`,
    `Port ${port}`,
    `HostKey ${NodePath.join(dir, "host_ed25519")}`,
    `AuthorizedKeysFile ${NodePath.join(dir, "authorized_keys")}`,
    `PidFile ${NodePath.join(dir, "sshd.pid")}`,
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    "StrictModes no",
    "LogLevel VERBOSE",
    "AllowTcpForwarding yes",
    "AllowStreamLocalForwarding yes",
    "PrintMotd no",
    `SetEnv ISTHMUS_SSH_LAB=${id}`,
    ...(options.forceCommand === undefined ? [] : [`ForceCommand ${options.forceCommand}`]),
    ...(options.config ?? []),
    ""
  ].join("\n")
