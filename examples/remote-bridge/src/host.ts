/**
 * The remote-access host: supervises an app-server backend through the pool over stdio (the fake
 * by default, the real `codex app-server` with `codex`), shares its one session through
 * `RpcBridge` over WebSocket (loopback, per-client tokens with roles), and serves the browser
 * client's static files over HTTP.
 */
import { BackendPool, type BackendSpec } from "@isthmus/backend-pool"
import { Dialect, Framing, RpcBridge } from "@isthmus/rpc-protocol"
import { serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Redacted, type Scope } from "effect"
import * as Http from "node:http"
import { fileURLToPath } from "node:url"
import { bundleClient } from "./bundle.ts"

export const fakeAppServerEntry = fileURLToPath(new URL("../../fake-app-server/src/main.ts", import.meta.url))

export interface RemoteBridgeOptions {
  /** The `codex` binary: runs `codex app-server` instead of the fake. */
  readonly codex?: string | undefined
  /**
   * The WSL distro to run `codex app-server` in, over `wsl.exe`'s stdio (`codex` is then its Linux
   * path there, e.g. `/home/me/.local/bin/codex`). The pool needs the `Wsl` launcher
   * (`WslLauncher.layer()` with `Wsl.layer()`).
   */
  readonly wsl?: string | undefined
  /** Full access (send messages, answer approvals). */
  readonly token: Redacted.Redacted<string>
  /** Read-only access (sees the session, may list threads), when given. */
  readonly viewerToken?: Redacted.Redacted<string> | undefined
  /** Default 127.0.0.1; bind elsewhere only behind a tunnel (see the README). */
  readonly host?: string | undefined
  /** The page's HTTP port (default 0: any free port). */
  readonly port?: number | undefined
  /**
   * Page origins allowed to open the WebSocket besides this host's own page (a Tauri webview:
   * `tauri://localhost`, `http://tauri.localhost`). Every other `Origin` gets 403.
   */
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  /** The fake's pause between streamed words, ms (default 40, visible streaming). */
  readonly deltaDelayMs?: number | undefined
}

export interface RemoteBridge {
  /** The page; open it with `#token=…` (the `url` of {@link pageUrl}). */
  readonly url: string
  readonly wsUrl: string
  readonly bridge: RpcBridge.RpcBridge
}

/** The page's address with the secrets in the fragment (never sent to a server). */
export const pageUrl = (remote: RemoteBridge, token: Redacted.Redacted<string>): string =>
  `${remote.url}#token=${encodeURIComponent(Redacted.value(token))}&ws=${encodeURIComponent(remote.wsUrl)}`

/** The backend as the pool runs it: JSON-RPC over stdio, handshaken by the pool. */
export const backendSpec = (
  options: Pick<RemoteBridgeOptions, "codex" | "deltaDelayMs" | "wsl">
): BackendSpec.BackendSpec => ({
  id: "app-server",
  label: options.codex === undefined
    ? "fake app-server"
    : `codex app-server${options.wsl === undefined ? "" : ` in WSL (${options.wsl})`}`,
  launcher: options.codex === undefined
    ? {
      _tag: "Local",
      command: process.execPath,
      args: [fakeAppServerEntry, "--delta-delay-ms", String(options.deltaDelayMs ?? 40)]
    }
    : options.wsl === undefined
    ? { _tag: "Local", command: options.codex, args: ["app-server"] }
    : { _tag: "Wsl", distro: options.wsl, command: options.codex, args: ["app-server"] },
  stdio: {
    dialect: "lite",
    handshake: {
      params: { clientInfo: { name: "isthmus_remote_bridge", title: "isthmus remote bridge", version: "0.1.0" } }
    }
  },
  readiness: { startupTimeoutMs: 30_000 },
  restart: { backoff: { initialMs: 100, maxMs: 5_000 } },
  stop: { graceMs: 3_000 }
})

/** Starts the backend in the pool, the bridge and the page server, all in the current scope. */
export const startRemoteBridge = (
  options: RemoteBridgeOptions
): Effect.Effect<RemoteBridge, unknown, BackendPool | Scope.Scope> =>
  Effect.gen(function*() {
    const pool = yield* BackendPool
    const host = options.host ?? "127.0.0.1"
    yield* pool.reconcile([backendSpec(options)])
    const instance = yield* pool.get("app-server")
    const bridge = yield* RpcBridge.make({
      upstream: { attach: instance.channels },
      clients: { dialect: Dialect.lite, framing: Framing.webSocket(), outbound: { capacity: 4096 } },
      auth: {
        tokens: [
          { token: options.token, name: "full" },
          ...(options.viewerToken === undefined
            ? []
            : [{ token: options.viewerToken, name: "viewer", role: "readOnly" as const }])
        ]
      },
      readOnlyAllow: ["thread/list", "thread/read", "thread/loaded/list", "model/list"],
      // Answered from the pool's handshake; clients' own `initialize` never reaches the backend.
      initialize: {},
      catchUp: { replay: 1024, state: { method: "thread/list", params: {} } }
    })
    // Browsers send their page's Origin: only this host's page (known once it listens) and the
    // origins the caller names may connect; any other web page the user visits gets 403.
    let pageOrigin: string | undefined
    const origins = new Set((options.allowedOrigins ?? []).map((o) => o.toLowerCase()))
    const ws = yield* serveWebSocket(bridge, {
      host,
      port: 0,
      path: "/rpc",
      allowedOrigins: (origin) => origin.toLowerCase() === pageOrigin || origins.has(origin.toLowerCase())
    })
    const wsUrl = `ws://${ws.host}:${ws.port}/rpc`
    const files = yield* Effect.promise(bundleClient)
    const http = yield* Effect.acquireRelease(
      Effect.callback<Http.Server>((resume) => {
        const server = Http.createServer((request, response) => {
          const path = new URL(request.url ?? "/", "http://localhost").pathname
          const send = (type: string, body: string) => {
            response.writeHead(200, {
              "content-type": type,
              "cache-control": "no-store",
              "x-content-type-options": "nosniff",
              "referrer-policy": "no-referrer",
              "content-security-policy": `default-src 'self'; connect-src ${wsUrl}; style-src 'unsafe-inline'`
            })
            response.end(body)
          }
          if (request.method !== "GET") response.writeHead(405).end()
          else if (path === "/" || path === "/index.html") send("text/html; charset=utf-8", files["index.html"])
          else if (path === "/client.js") send("text/javascript; charset=utf-8", files["client.js"])
          else response.writeHead(404).end()
        })
        server.listen(options.port ?? 0, host, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const address = http.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    pageOrigin = `http://${host}:${port}`
    return { url: `http://${host}:${port}/`, wsUrl, bridge }
  })
