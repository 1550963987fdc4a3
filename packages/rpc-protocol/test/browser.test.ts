/**
 * The core entry, bundled for the browser with esbuild, runs a WebSocket request/notification
 * round trip (plus a server-to-client request) against a Node server inside headless Chromium.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MethodTable, RpcError, RpcServer } from "@isthmus/rpc-protocol"
import { serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Schema } from "effect"
import * as esbuild from "esbuild"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { acquireChromium, skipWithoutChromium } from "../../../test/support/chromium.ts"

const entry = fileURLToPath(new URL("./fixtures/browser-client.ts", import.meta.url))

const Methods = MethodTable.make({
  greet: MethodTable.method({ params: Schema.Struct({ name: Schema.String }), result: Schema.Unknown })
})

describe("browser (headless Chromium)", () => {
  it.live.skipIf(skipWithoutChromium)(
    "core entry: WebSocket request/notification round trip",
    () =>
      Effect.gen(function*() {
        const bundle = yield* Effect.promise(() =>
          esbuild.build({ entryPoints: [entry], bundle: true, write: false, platform: "browser", format: "esm" })
        )
        const code = bundle.outputFiles[0]!.text
        const server = yield* RpcServer.make({
          dialect: Dialect.lite,
          framing: Framing.webSocket(),
          methods: Methods,
          handlers: {
            greet: ({ name }, { peer }) =>
              Effect.gen(function*() {
                const who = yield* peer.request("browser/whoami").pipe(
                  Effect.mapError((e) => new RpcError({ code: -32603, message: e.message }))
                )
                yield* Effect.ignore(peer.notify("greeted", { name }))
                return { hello: name, who }
              })
          }
        })
        // The page comes from its own origin, which the WebSocket server must allow explicitly.
        const pageServer = yield* Effect.acquireRelease(
          Effect.callback<http.Server>((resume) => {
            const srv = http.createServer((_request, response) => response.end("<!doctype html><title>t</title>"))
            srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
          }),
          (srv) => Effect.callback<void>((resume) => void srv.close(() => resume(Effect.void)))
        )
        const origin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`
        const { port } = yield* serveWebSocket(server, {
          token: "browser-token",
          allowQueryToken: true,
          allowedOrigins: [origin]
        })
        // The same server without the page's origin on its list: refused (403), token or not.
        const { port: closedPort } = yield* serveWebSocket(server, { token: "browser-token", allowQueryToken: true })
        const browser = yield* acquireChromium
        const page = yield* Effect.promise(() => browser.newPage())
        yield* Effect.promise(() => page.goto(origin))
        const errors: Array<string> = []
        page.on("pageerror", (e) => errors.push(e.message))
        yield* Effect.promise(() => page.addScriptTag({ content: code, type: "module" }))
        const url = `ws://127.0.0.1:${port}/?token=browser-token`
        const out = yield* Effect.promise(() =>
          page.evaluate(
            (u) => (globalThis as unknown as { runRoundTrip: (url: string) => Promise<unknown> }).runRoundTrip(u),
            url
          )
        )
        assert.deepStrictEqual(errors, [])
        assert.deepStrictEqual(out, {
          result: { hello: "chromium", who: { agent: "chrome" } },
          notification: { _tag: "Notification", method: "greeted", params: { name: "chromium" } }
        })
        // Without the token the upgrade is refused and the call fails (inside the browser).
        const refused = yield* Effect.promise(() =>
          page.evaluate(
            (u) =>
              (globalThis as unknown as { runRoundTrip: (url: string) => Promise<unknown> }).runRoundTrip(u).then(
                () => "connected",
                (e: unknown) => String(e)
              ),
            `ws://127.0.0.1:${port}/`
          )
        )
        assert.include(refused, "PeerDisconnectedError")
        const otherOrigin = yield* Effect.promise(() =>
          page.evaluate(
            (u) =>
              (globalThis as unknown as { runRoundTrip: (url: string) => Promise<unknown> }).runRoundTrip(u).then(
                () => "connected",
                (e: unknown) => String(e)
              ),
            `ws://127.0.0.1:${closedPort}/?token=browser-token`
          )
        )
        assert.include(otherOrigin, "PeerDisconnectedError")
      }),
    60_000
  )
})
