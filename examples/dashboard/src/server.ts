/**
 * Serves the dashboard for a `BackendPool` on loopback: the page and its script over HTTP, and
 * the dashboard methods over WebSocket (`@isthmus/rpc-protocol`, daemon dialect, token `auth`
 * first — a browser cannot set an `Authorization` header on a WebSocket upgrade).
 */
import { type BackendInstance, BackendPool } from "@isthmus/backend-pool"
import { Dialect, Framing, RpcError, RpcServer } from "@isthmus/rpc-protocol"
import { serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Fiber, type Redacted, type Scope, Stream } from "effect"
import * as esbuild from "esbuild"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import { fileURLToPath } from "node:url"
import { DashboardMethods, type InstanceView, type LogLineView, Notifications } from "./Api.ts"

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))

export interface DashboardOptions {
  readonly token: Redacted.Redacted<string>
  /** Default 127.0.0.1: never reachable from another machine. */
  readonly host?: string | undefined
  readonly port?: number | undefined
}

export interface Dashboard {
  /** The page; open it with `#token=<token>` appended. */
  readonly url: string
  readonly wsUrl: string
}

/** A snapshot as the page shows it. */
export const toView = (instance: BackendInstance.BackendInstance, snapshot: BackendInstance.Snapshot): InstanceView => {
  const exit = snapshot.lastExit
  return {
    id: snapshot.id,
    label: snapshot.label,
    phase: snapshot.phase,
    runId: snapshot.runId,
    pid: snapshot.pid ?? null,
    url: snapshot.url ?? null,
    restartCount: snapshot.restartCount,
    lastExit: exit === undefined
      ? null
      : `${exit.reason} (${exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`})`,
    since: snapshot.since,
    logFile: instance.log.file ?? null
  }
}

const toLineView = (
  id: string,
  line: { seq: number; runId: number; time: number; source: LogLineView["source"]; text: string }
): LogLineView => ({
  id,
  seq: line.seq,
  runId: line.runId,
  time: line.time,
  source: line.source,
  text: line.text
})

/** Bundles the page script for the browser (the core entry of rpc-protocol only). */
const bundleApp = Effect.promise(() =>
  esbuild.build({
    entryPoints: [here("./app.ts")],
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    logLevel: "silent"
  })
).pipe(Effect.map((result) => result.outputFiles[0]!.text))

export const serveDashboard = (
  options: DashboardOptions
): Effect.Effect<Dashboard, unknown, BackendPool | Scope.Scope> =>
  Effect.gen(function*() {
    const pool = yield* BackendPool
    const host = options.host ?? "127.0.0.1"
    const instance = (id: string) =>
      pool.get(id).pipe(Effect.mapError(() => new RpcError({ message: `no backend with id ${JSON.stringify(id)}` })))
    const status = pool.list.pipe(
      Effect.flatMap((instances) => Effect.forEach(instances, (i) => Effect.map(i.snapshot, (s) => toView(i, s))))
    )
    const server = yield* RpcServer.make({
      dialect: Dialect.daemon,
      framing: Framing.webSocket(),
      methods: DashboardMethods,
      auth: { token: options.token },
      outbound: { capacity: 4096, whenFull: "drop" },
      handlers: {
        dashboard_status: () => status,
        dashboard_logs: ({ id, limit }) =>
          Effect.map(instance(id), (i) => i.log.tail(limit).map((line) => toLineView(id, line))),
        // Start, stop and restart return at once; the page follows the states as notifications.
        dashboard_start: ({ id }) =>
          Effect.flatMap(instance(id), (i) => Effect.forkDetach(i.start)).pipe(Effect.as({ ok: true })),
        dashboard_stop: ({ id }) =>
          Effect.flatMap(instance(id), (i) => Effect.forkDetach(i.stop)).pipe(Effect.as({ ok: true })),
        dashboard_restart: ({ id }) =>
          Effect.flatMap(instance(id), (i) => Effect.forkDetach(i.restart)).pipe(Effect.as({ ok: true }))
      }
    })

    // Every transition goes to the page; every instance's live lines too (one forwarder per
    // instance object: a replaced instance gets a new forwarder, a removed one loses its own).
    const forwarders = new Map<BackendInstance.BackendInstance, Fiber.Fiber<void>>()
    const syncForwarders = Effect.gen(function*() {
      const current = new Set(yield* pool.list)
      for (const [i, fiber] of forwarders) {
        if (!current.has(i)) {
          forwarders.delete(i)
          yield* Fiber.interrupt(fiber)
        }
      }
      for (const i of current) {
        if (forwarders.has(i)) continue
        const fiber = yield* i.log.lines.pipe(
          Stream.runForEach((line) => server.broadcast(Notifications.log, toLineView(i.id, line))),
          Effect.forkScoped
        )
        forwarders.set(i, fiber)
      }
    })
    yield* syncForwarders
    yield* pool.events.pipe(
      Stream.runForEach((event) =>
        Effect.gen(function*() {
          yield* syncForwarders
          if (event._tag === "Transition") {
            const i = yield* Effect.option(pool.get(event.id))
            if (i._tag === "Some") yield* server.broadcast(Notifications.instance, toView(i.value, event.snapshot))
          } else {
            // Registered / Unregistered: the page reloads the whole table.
            yield* server.broadcast(Notifications.instance, { id: event.id, removed: event._tag === "Unregistered" })
          }
        })
      ),
      Effect.forkScoped
    )

    // Only the dashboard's own page may open the WebSocket (its origin is known once it listens).
    let pageOrigin: string | undefined
    const ws = yield* serveWebSocket(server, {
      host,
      port: 0,
      path: "/rpc",
      allowedOrigins: (origin) => origin === pageOrigin
    })
    const wsUrl = `ws://${ws.host}:${ws.port}/rpc`
    const page = readFileSync(here("./page.html"), "utf8")
    const app = yield* bundleApp
    const http = yield* Effect.acquireRelease(
      Effect.callback<Http.Server>((resume) => {
        const s = Http.createServer((request, response) => {
          const path = new URL(request.url ?? "/", "http://localhost").pathname
          const send = (type: string, body: string) => {
            response.writeHead(200, {
              "content-type": type,
              "cache-control": "no-store",
              "x-content-type-options": "nosniff",
              "content-security-policy": `default-src 'self'; connect-src 'self' ${wsUrl}; style-src 'unsafe-inline'`
            })
            response.end(body)
          }
          if (request.method !== "GET") response.writeHead(405).end()
          else if (path === "/") send("text/html; charset=utf-8", page)
          else if (path === "/app.js") send("text/javascript; charset=utf-8", app)
          else if (path === "/config.json") send("application/json", JSON.stringify({ wsUrl }))
          else response.writeHead(404).end()
        })
        s.listen(options.port ?? 0, host, () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.callback<void>((resume) => {
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    )
    const address = http.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    pageOrigin = `http://${host}:${port}`
    return { url: `http://${host}:${port}/`, wsUrl }
  })
