import { Dialect, Framing, RpcError, RpcServer } from "@isthmus/rpc-protocol"
import { serveTcp, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, type Redacted, type Scope } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { DaemonMethods, type DaemonTick } from "./Methods.ts"

/** Most entries `list_dir` returns: answers stay small whatever the directory holds. */
export const maxListEntries = 200

export interface DaemonOptions {
  readonly name: string
  readonly token: Redacted.Redacted<string>
  /** Directory `list_dir` may read below (default: the working directory). */
  readonly root?: string | undefined
}

export interface Daemon {
  readonly tcpUrl: string
  readonly wsUrl: string
  /** Broadcasts one `daemon_tick` to every authenticated client of both servers. */
  readonly tick: Effect.Effect<void>
}

const started = Date.now()

/** Resolves `path` below `root`; anything that climbs out is refused. */
const below = (root: string, path: string): string | undefined => {
  const resolved = Path.resolve(root, path)
  const relative = Path.relative(root, resolved)
  return relative.startsWith("..") || Path.isAbsolute(relative) ? undefined : resolved
}

const listDir = (root: string, path: string) =>
  Effect.gen(function*() {
    const target = below(root, path)
    if (target === undefined) {
      return yield* new RpcError({ message: `list_dir: ${JSON.stringify(path)} is outside the daemon's root` })
    }
    const dirents = yield* Effect.tryPromise({
      try: () => Fs.readdir(target, { withFileTypes: true }),
      catch: (error) =>
        new RpcError({ message: `list_dir: cannot read ${JSON.stringify(path)}: ${(error as Error).message}` })
    })
    const sorted = dirents.toSorted((a, b) => a.name.localeCompare(b.name)).slice(0, maxListEntries)
    const entries = yield* Effect.forEach(sorted, (entry) =>
      Effect.promise(() =>
        Fs.lstat(Path.join(target, entry.name)).then((stat) => stat.size, () => 0)
      ).pipe(Effect.map((bytes) => ({
        name: entry.name,
        kind: entry.isDirectory() ? "dir" as const : entry.isFile() ? "file" as const : "other" as const,
        bytes
      }))), { concurrency: 16 })
    return { path: Path.relative(root, target) || ".", entries, truncated: dirents.length > maxListEntries }
  })

/**
 * Starts both servers in the current scope. Everything binds to loopback on an ephemeral port.
 */
export const startDaemon = (options: DaemonOptions): Effect.Effect<Daemon, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const root = options.root ?? process.cwd()
    const endpoints = { tcp: "", ws: "" }
    const distro = process.env["WSL_DISTRO_NAME"] ?? null
    const handlers: RpcServer.Handlers<DaemonMethods> = {
      daemon_info: () =>
        Effect.sync(() => ({
          name: options.name,
          version: "0.1.0",
          pid: process.pid,
          mode: distro === null ? "native" as const : "wsl" as const,
          distro,
          node: process.version,
          uptimeMs: Date.now() - started,
          endpoints
        })),
      list_dir: ({ path }) => listDir(root, path),
      process_stats: () =>
        Effect.sync(() => {
          const memory = process.memoryUsage()
          return {
            rssBytes: memory.rss,
            heapUsedBytes: memory.heapUsed,
            uptimeMs: Date.now() - started,
            loadAverage: Os.loadavg()
          }
        })
    }
    // NDJSON over TCP, the minimal daemon dialect: `auth` with the token first.
    const tcpServer = yield* RpcServer.make({
      dialect: Dialect.daemon,
      framing: Framing.ndjson(),
      methods: DaemonMethods,
      handlers,
      auth: { token: options.token }
    })
    // WebSocket: the Bearer token is checked on the upgrade (401 before it), so no `auth` call.
    const wsServer = yield* RpcServer.make({
      dialect: Dialect.daemon,
      framing: Framing.webSocket(),
      methods: DaemonMethods,
      handlers
    })
    const tcp = yield* serveTcp(tcpServer)
    const ws = yield* serveWebSocket(wsServer, { token: options.token, path: "/rpc" })
    endpoints.tcp = `tcp://${tcp.host}:${tcp.port}`
    endpoints.ws = `ws://${ws.host}:${ws.port}/rpc`
    let seq = 0
    const tick = Effect.suspend(() => {
      const params: DaemonTick = { name: options.name, seq: ++seq, rssBytes: process.memoryUsage().rss }
      return Effect.all([tcpServer.broadcast("daemon_tick", params), wsServer.broadcast("daemon_tick", params)])
    }).pipe(Effect.asVoid)
    return { tcpUrl: endpoints.tcp, wsUrl: endpoints.ws, tick }
  })
