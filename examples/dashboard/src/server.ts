/**
 * Serves the dashboard for a `BackendPool` on loopback, on one port: the page and its script over
 * HTTP, and the dashboard methods over WebSocket at `/rpc` on the same port (`@isthmus/rpc-protocol`,
 * daemon dialect, token `auth` first — a browser cannot set an `Authorization` header on a
 * WebSocket upgrade). The page finds the WebSocket from its own address, so it also works through
 * a port forward or a proxy on another port.
 */
import { type BackendInstance, BackendPool, type BackendSpec, ResourceUsage } from "@isthmus/backend-pool"
import { Dialect, Framing, RpcError, RpcServer } from "@isthmus/rpc-protocol"
import { serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Fiber, type Redacted, Schedule, type Scope, Stream } from "effect"
import * as esbuild from "esbuild"
import { readFileSync } from "node:fs"
import type * as Http from "node:http"
import { fileURLToPath } from "node:url"
import {
  DashboardMethods,
  type InstanceView,
  type LogLineView,
  Notifications,
  type SampleView,
  sampleWindowMs
} from "./Api.ts"

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))

export interface DashboardOptions {
  readonly token: Redacted.Redacted<string>
  /** Default 127.0.0.1: never reachable from another machine. */
  readonly host?: string | undefined
  readonly port?: number | undefined
  /**
   * Host names, besides loopback ones (`127.0.0.1`, `localhost`, `[::1]`), under which the page
   * may be opened and connect (a reverse proxy's name). Default none.
   */
  readonly allowedHosts?: ReadonlyArray<string> | undefined
}

export interface Dashboard {
  /** The page; open it with `#token=<token>` appended. */
  readonly url: string
  /** The WebSocket the page connects to: `/rpc` on the page's own host and port. */
  readonly wsUrl: string
}

const loopbackNames = new Set(["127.0.0.1", "localhost", "[::1]"])

/**
 * Whether a WebSocket upgrade comes from the dashboard's own page: its `Origin` is the `Host` the
 * request was sent to (so any port, a forward, a proxy that keeps `Host`), and that host is a
 * loopback name or an allowed one. Another site's page gets 403 even through DNS rebinding (its
 * name is not allowed); the token is still required after that.
 */
export const sameOriginUpgrade = (
  origin: string,
  hostHeader: string | undefined,
  allowedHosts: ReadonlyArray<string> = []
): boolean => {
  if (hostHeader === undefined) return false
  let page: URL
  try {
    page = new URL(origin)
  } catch {
    return false
  }
  if (page.protocol !== "http:" && page.protocol !== "https:") return false
  if (page.host !== hostHeader.toLowerCase()) return false
  return loopbackNames.has(page.hostname) || allowedHosts.some((h) => h.toLowerCase() === page.hostname)
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
    const sampler = yield* ResourceUsage.makeSampler()
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

    // Every second: each Local instance's process group (read asynchronously from /proc, see
    // ResourceUsage) and each log's losses and queues, one `sample` per instance to the page.
    const sampleOnce = Effect.gen(function*() {
      const usage = yield* sampler.sample(yield* ResourceUsage.localGroups(pool))
      const now = Date.now()
      const instances = yield* pool.list
      for (const i of instances) {
        const snapshot = yield* i.snapshot
        const u = usage.get(i.id)
        const log = yield* i.log.stats
        const sample: SampleView = {
          id: i.id,
          time: now,
          rssBytes: u?.rssBytes ?? null,
          cpuPercent: u?.cpuPercent ?? null,
          processes: u?.processes ?? null,
          restartCount: snapshot.restartCount,
          logDropped: log.droppedLiveLines + log.droppedFileLines,
          logQueued: log.liveQueued,
          logPendingBytes: log.pendingFileBytes
        }
        const kept = (samples.get(i.id) ?? []).filter((s) => s.time > now - sampleWindowMs)
        kept.push(sample)
        samples.set(i.id, kept)
        yield* server.broadcast(Notifications.sample, sample)
      }
      const ids = new Set(instances.map((i) => i.id))
      for (const id of samples.keys()) if (!ids.has(id)) samples.delete(id)
    })
    yield* sampleOnce.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)

    const page = readFileSync(here("./page.html"), "utf8")
    const app = yield* bundleApp
    const onRequest = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      const path = new URL(request.url ?? "/", "http://localhost").pathname
      const send = (type: string, body: string) => {
        response.writeHead(200, {
          "content-type": type,
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
          // 'self' covers ws:/wss: to the page's own host and port (CSP Level 3).
          "content-security-policy": "default-src 'self'; connect-src 'self'; style-src 'unsafe-inline'"
        })
        response.end(body)
      }
      if (request.method !== "GET") response.writeHead(405).end()
      else if (path === "/") send("text/html; charset=utf-8", page)
      else if (path === "/app.js") send("text/javascript; charset=utf-8", app)
      else response.writeHead(404).end()
    }
    // One port for the page and its WebSocket; only the page's own origin may upgrade.
    const bound = yield* serveWebSocket(server, {
      host,
      port: options.port ?? 0,
      path: "/rpc",
      allowedOrigins: (origin, request) => sameOriginUpgrade(origin, request.headers.host, options.allowedHosts),
      onRequest
    })
    const address = bound.host.includes(":") ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`
    return { url: `http://${address}/`, wsUrl: `ws://${address}/rpc` }
  })
