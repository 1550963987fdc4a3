/**
 * Serves the dashboard for a `BackendPool` on loopback: the page and its script over HTTP, and
 * the dashboard methods over WebSocket (`@isthmus/rpc-protocol`, daemon dialect, token `auth`
 * first — a browser cannot set an `Authorization` header on a WebSocket upgrade).
 */
import { type BackendInstance, BackendPool, type BackendSpec } from "@isthmus/backend-pool"
import { Dialect, Framing, RpcError, RpcServer } from "@isthmus/rpc-protocol"
import { serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Fiber, type Redacted, Schedule, type Scope, Stream } from "effect"
import * as esbuild from "esbuild"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import { fileURLToPath } from "node:url"
import {
  DashboardMethods,
  type InstanceView,
  type LogLineView,
  Notifications,
  type SampleView,
  sampleWindowMs
} from "./Api.ts"
import { cpuPercent, type GroupTotals, readGroup } from "./ProcSample.ts"

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

/** Where a backend runs, from its launcher: "this machine", a WSL distro, an SSH host, … */
export const placeOf = (launcher: BackendSpec.Launch): { readonly launcher: string; readonly host: string } => {
  switch (launcher._tag) {
    case "Local":
      return { launcher: "Local", host: "this machine" }
    case "Wsl":
      return { launcher: "Wsl", host: `WSL ${launcher.distro}` }
    case "Ssh":
      return { launcher: "Ssh", host: `ssh ${launcher.connection.host}` }
    case "Attach": {
      let host = launcher.url
      try {
        host = new URL(launcher.url).host
      } catch {
        // not a URL: show it as given
      }
      return { launcher: "Attach", host: launcher.ssh === undefined ? host : `ssh ${launcher.ssh.host}` }
    }
    case "Custom":
      return { launcher: launcher.kind, host: "custom" }
  }
}

/** A snapshot as the page shows it. */
export const toView = (
  instance: BackendInstance.BackendInstance,
  snapshot: BackendInstance.Snapshot,
  launcher: BackendSpec.Launch
): InstanceView => {
  const exit = snapshot.lastExit
  const failure = snapshot.failure
  return {
    ...placeOf(launcher),
    id: snapshot.id,
    label: snapshot.label,
    phase: snapshot.phase,
    runId: snapshot.runId,
    pid: snapshot.pid ?? null,
    url: snapshot.url ?? null,
    restartCount: snapshot.restartCount,
    lastExit: exit === undefined
      ? null
      : exit.signal !== null
      ? `${exit.reason} (signal ${exit.signal})`
      : exit.code !== null
      ? `${exit.reason} (code ${exit.code})`
      : exit.reason,
    lastExitAt: exit?.at ?? null,
    failure: failure === undefined
      ? null
      : { reason: failure.reason, message: failure.message, tail: failure.lines.slice(-20).map((l) => l.text) },
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

/** The view of `i` (at `snapshot`, or now). */
const viewOf = (i: BackendInstance.BackendInstance, snapshot?: BackendInstance.Snapshot) =>
  Effect.gen(function*() {
    const spec = yield* i.spec
    return toView(i, snapshot ?? (yield* i.snapshot), spec.launcher)
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
    const status = pool.list.pipe(Effect.flatMap((instances) => Effect.forEach(instances, (i) => viewOf(i))))
    // Resource samples per id over the last minutes (RSS and CPU of the run's process group).
    const samples = new Map<string, Array<SampleView>>()
    const lastTotals = new Map<string, { readonly pid: number; readonly at: number; readonly totals: GroupTotals }>()
    const server = yield* RpcServer.make({
      dialect: Dialect.daemon,
      framing: Framing.webSocket(),
      methods: DashboardMethods,
      auth: { token: options.token },
      outbound: { capacity: 4096, whenFull: "drop" },
      handlers: {
        dashboard_status: () => status,
        dashboard_samples: () => Effect.sync(() => [...samples.values()].flat()),
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
            if (i._tag === "Some") {
              yield* server.broadcast(Notifications.instance, yield* viewOf(i.value, event.snapshot))
            }
          } else {
            // Registered / Unregistered: the page reloads the whole table.
            yield* server.broadcast(Notifications.instance, { id: event.id, removed: event._tag === "Unregistered" })
          }
        })
      ),
      Effect.forkScoped
    )

    // Every second: each instance's process group from /proc, one `sample` to the page.
    const sampleOnce = Effect.gen(function*() {
      const now = Date.now()
      for (const snapshot of yield* pool.status) {
        const pid = snapshot.pid
        const totals = pid === undefined ? undefined : readGroup(pid)
        const previous = lastTotals.get(snapshot.id)
        if (pid !== undefined && totals !== undefined) lastTotals.set(snapshot.id, { pid, at: now, totals })
        else lastTotals.delete(snapshot.id)
        const sample: SampleView = {
          id: snapshot.id,
          time: now,
          rssBytes: totals?.rssBytes ?? null,
          cpuPercent: totals === undefined || previous === undefined || previous.pid !== pid
            ? null
            : cpuPercent(previous.totals, totals, now - previous.at),
          restartCount: snapshot.restartCount
        }
        const kept = (samples.get(snapshot.id) ?? []).filter((s) => s.time > now - sampleWindowMs)
        kept.push(sample)
        samples.set(snapshot.id, kept)
        yield* server.broadcast(Notifications.sample, sample)
      }
      const ids = new Set((yield* pool.status).map((s) => s.id))
      for (const id of samples.keys()) if (!ids.has(id)) samples.delete(id)
    })
    yield* sampleOnce.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)

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
