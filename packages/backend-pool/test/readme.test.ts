/**
 * The README's example, type-checked and run: a host that supervises a local and a WSL backend
 * and follows a settings value. WSL runs through `fake-wsl` here; on Windows drop `host`.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Queue, Redacted, Stream, SubscriptionRef } from "effect"
import { fixture } from "./helpers.ts"
// --- README example starts here ---
import { BackendPool, type BackendSpec, WslLauncher } from "@isthmus/backend-pool"
import { Wsl, type WslHost } from "@isthmus/wsl/node"

/** What the user can change in the app's settings. */
interface Settings {
  readonly wslEnabled: boolean
  readonly distro: string
  readonly apiKey: string
}

/** The backends the settings ask for. Both get the same bootstrap token. */
const desiredBackends =
  (server: string, token: string) => (settings: Settings): ReadonlyArray<BackendSpec.BackendSpec> => {
    const common = {
      secrets: { API_KEY: Redacted.make(settings.apiKey) }, // environment only: never argv, logs or errors
      bootstrap: { delivery: "stdin", envelope: { token, greeting: "hello" } }, // read with child.readBootstrap
      readiness: { check: { _tag: "Signal" }, startupTimeoutMs: 30_000 }, // child.signalReady({ url })
      restart: { mode: "always", backoff: { initialMs: 1_000, maxMs: 60_000 } },
      stop: { signal: "SIGTERM", graceMs: 5_000 }
    } as const
    return [
      {
        id: "native",
        label: "This machine",
        launcher: { _tag: "Local", command: process.execPath, args: [server] },
        ...common
      },
      ...(settings.wslEnabled
        ? [
          {
            id: `wsl:${settings.distro}`,
            label: `WSL (${settings.distro})`,
            launcher: { _tag: "Wsl", distro: settings.distro, command: process.execPath, args: [server] },
            ...common
          } as const
        ]
        : [])
    ]
  }

/** The pool with the Local and Wsl launchers (`host` points at `wsl.exe`, or `fake-wsl` in tests). */
const poolLayer = (host?: WslHost.WslHostOptions) =>
  BackendPool.layer.pipe(
    Layer.provide(WslLauncher.layer({ host, requirements: { node: ">=22" } })),
    Layer.provide(Wsl.layer({ host })),
    Layer.provide(NodeServices.layer)
  )

/** The host: follow the settings, log every transition, return the settings handle. */
const supervise = (server: string, token: string, initial: Settings) =>
  Effect.gen(function*() {
    const pool = yield* BackendPool
    // Started at once (not lazily), so it is subscribed before `follow` starts anything.
    yield* pool.events.pipe(
      Stream.runForEach((event) =>
        event._tag === "Transition"
          ? Effect.logInfo(
            `${event.id}: ${event.from} → ${event.to}${event.snapshot.url ? ` ${event.snapshot.url}` : ""}`
          )
          : Effect.void
      ),
      Effect.forkScoped({ startImmediately: true })
    )
    const settings = yield* SubscriptionRef.make(initial)
    yield* pool.follow(settings, desiredBackends(server, token)) // until the scope closes
    return settings
  })
// --- README example ends here ---

/**
 * Waits (up to 90 s: each WSL start is several Node starts through fake-wsl, ~2 s quiet and over
 * 10 s at load 20 on 2 cores) until the Ready ids satisfy `predicate`, checking again after every
 * pool event.
 */
const waitFor = (predicate: (ids: ReadonlyArray<string>) => boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const pool = yield* BackendPool
    const changed = yield* Queue.sliding<void>(1)
    yield* pool.events.pipe(
      Stream.runForEach(() => Queue.offer(changed, undefined)),
      Effect.forkScoped({ startImmediately: true })
    )
    yield* Effect.yieldNow // subscribed before the first check
    while (true) {
      const status = yield* pool.status
      if (predicate(status.filter((s) => s.phase === "Ready").map((s) => s.id))) return status
      yield* Queue.take(changed)
    }
  })).pipe(Effect.timeout("90 seconds")) // ~1 s when quiet; generous for a loaded machine

describe("README example", () => {
  it.live("supervises a local and a WSL backend and follows the settings", () =>
    Effect.gen(function*() {
      const { fakeWslHostOptions } = yield* Effect.promise(() => import("@isthmus/wsl/testing"))
      const host = fakeWslHostOptions({
        distros: [
          {
            name: "Ubuntu",
            state: "Running",
            default: true,
            networkingMode: "mirrored",
            node: { path: "/usr/bin/node", version: "v22.23.3" }
          },
          {
            name: "Debian",
            state: "Running",
            interfaces: [{ name: "eth0", address: "172.30.0.9" }],
            networkingMode: "nat",
            node: { path: "/usr/bin/node", version: "v24.1.0" }
          }
        ]
      })
      yield* Effect.scoped(
        Effect.gen(function*() {
          const pool = yield* BackendPool
          const settings = yield* supervise(fixture("daemon.mjs"), "shared-token", {
            wslEnabled: false,
            distro: "Ubuntu",
            apiKey: "sk-readme"
          })
          yield* waitFor((ids) => ids.length === 1 && ids[0] === "native")

          yield* SubscriptionRef.update(settings, (s) => ({ ...s, wslEnabled: true }))
          const both = yield* waitFor((ids) => ids.length === 2)
          assert.deepStrictEqual(both.map((s) => s.id), ["native", "wsl:Ubuntu"])
          assert.match(both[1]!.url ?? "", /^http:\/\/127\.0\.0\.1:\d+$/) // mirrored: loopback
          const nativePid = both[0]!.pid

          yield* SubscriptionRef.update(settings, (s) => ({ ...s, distro: "Debian" }))
          const switched = yield* waitFor((ids) => ids.includes("wsl:Debian") && !ids.includes("wsl:Ubuntu"))
          // NAT with localhost forwarding (WSL's default): a 127.0.0.1 bind is reached at Windows'
          // 127.0.0.1 through the relay, never at the distro address (172.30.0.9).
          assert.match(switched.find((s) => s.id === "wsl:Debian")!.url ?? "", /^http:\/\/127\.0\.0\.1:\d+$/)
          // The native backend was not touched by the WSL changes.
          assert.strictEqual(switched.find((s) => s.id === "native")!.pid, nativePid)
          assert.strictEqual(switched.find((s) => s.id === "native")!.restartCount, 0)

          yield* SubscriptionRef.update(settings, (s) => ({ ...s, wslEnabled: false }))
          yield* waitFor((ids) => ids.length === 1)
          assert.deepStrictEqual((yield* pool.status).map((s) => s.id), ["native"])
        }).pipe(Effect.provide(poolLayer(host)))
      )
    }), 240_000)
})
