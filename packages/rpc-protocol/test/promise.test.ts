/**
 * The Promise facade from plain TypeScript: this file imports nothing from `effect` (checked by
 * the last test). The other side is a hand-written CodexMonitor-style daemon on a real loopback
 * socket (`node:net`, NDJSON, `auth` first), not our RpcServer, so the facade is checked against
 * an independent implementation of the wire format.
 */
import { connect, type Peer } from "@isthmus/rpc-protocol/promise"
import { once } from "node:events"
import { readFileSync } from "node:fs"
import * as net from "node:net"
import { afterEach, describe, expect, it } from "vitest"

interface Wire {
  readonly id?: number
  readonly method?: string
  readonly params?: unknown
  readonly result?: unknown
  readonly error?: { readonly message: string }
}

/** A minimal daemon: token `auth` first, then `echo`, `fail`, `emit` (a notification) and `ask` (a request to us). */
const startDaemon = async (token: string) => {
  const received: Array<Wire> = []
  const sockets = new Set<net.Socket>()
  const replies = new Map<number, (message: Wire) => void>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    let authed = false
    let buffer = ""
    const send = (message: Wire) => socket.write(`${JSON.stringify(message)}\n`)
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8")
      let nl: number
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const message = JSON.parse(buffer.slice(0, nl)) as Wire
        buffer = buffer.slice(nl + 1)
        received.push(message)
        if (message.method === undefined && message.id !== undefined) {
          replies.get(message.id)?.(message)
          continue
        }
        const { id, method, params } = message
        if (method === "auth") {
          authed = (params as { token?: string } | null)?.token === token
          send(authed ? { id: id!, result: {} } : { id: id!, error: { message: "invalid token" } })
        } else if (!authed) send({ id: id!, error: { message: "unauthorized" } })
        else if (method === "echo") send({ id: id!, result: params })
        else if (method === "fail") send({ id: id!, error: { message: "workspace not found: ws-9" } })
        else if (method === "emit") {
          send({ method: "tick", params: { n: 1 } })
          send({ method: "other", params: { n: 2 } })
          send({ id: id!, result: null })
        } else if (method === "ask") {
          const askId = 1000 + (id ?? 0)
          replies.set(askId, (reply) => send({ id: id!, result: reply }))
          send({ id: askId, method: "approve", params })
        } else if (method === "hang") {
          // never answered
        } else send({ id: id!, error: { message: `unknown method: ${method}` } })
      }
    })
    socket.on("close", () => sockets.delete(socket))
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `tcp://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup()
})

const setup = async (options: { readonly handlers?: { readonly [m: string]: (p: unknown) => unknown } } = {}) => {
  const daemon = await startDaemon("s3cret")
  cleanups.push(daemon.close)
  const peer: Peer = await connect(daemon.url, { dialect: "daemon", authToken: "s3cret", ...options })
  cleanups.push(() => peer.close())
  return { daemon, peer }
}

describe("connect (Promise facade)", () => {
  it("authenticates first, then calls resolve with the daemon's results", async () => {
    const { daemon, peer } = await setup()
    expect(await peer.request("echo", { path: "/repo" })).toEqual({ path: "/repo" })
    expect(await peer.state()).toBe("connected")
    // The daemon saw auth (numeric id, token object, no "jsonrpc") before anything else.
    expect(daemon.received[0]).toEqual({ id: 1, method: "auth", params: { token: "s3cret" } })
    expect(daemon.received[1]).toEqual({ id: 2, method: "echo", params: { path: "/repo" } })
  })

  it("an error reply rejects with a tagged RpcError carrying the daemon's message", async () => {
    const { peer } = await setup()
    const error = await peer.request("fail").catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    expect(error).toMatchObject({ _tag: "RpcError", message: "workspace not found: ws-9" })
  })

  it("a wrong token rejects connect with a HandshakeError", async () => {
    const daemon = await startDaemon("s3cret")
    cleanups.push(daemon.close)
    const error = await connect(daemon.url, { dialect: "daemon", authToken: "nope" }).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "HandshakeError", step: "auth" })
    expect((error as Error).message).toContain("invalid token")
    expect((error as Error).message).not.toContain("nope")
  })

  it("a URL it cannot use rejects with ConnectOptionsError and opens nothing", async () => {
    for (const url of ["http://127.0.0.1:1", "tcp://127.0.0.1", "not a url"]) {
      const error = await connect(url).catch((e: unknown) => e)
      expect(error).toMatchObject({ _tag: "ConnectOptionsError" })
      expect((error as Error).message).toContain(JSON.stringify(url))
    }
  })

  it("a refused connection rejects with PeerDisconnectedError", async () => {
    const daemon = await startDaemon("s3cret")
    await daemon.close() // the port is free again: nothing listens
    const error = await connect(daemon.url, { dialect: "daemon" }).catch((e: unknown) => e)
    expect(error).toMatchObject({ _tag: "PeerDisconnectedError" })
  })

  it("notifications reach `on` listeners by method and '*', and an iterator opened before the call", async () => {
    const { peer } = await setup()
    const ticks: Array<unknown> = []
    const all: Array<string> = []
    const stopTicks = peer.on("tick", (params) => ticks.push(params))
    peer.on("*", (_params, notification) => all.push(notification.method))
    const iterator = peer.notifications()
    await peer.request("emit") // the daemon sends both notifications before its reply
    // Listeners ran in wire order before the reply resolved the call.
    expect(ticks).toEqual([{ n: 1 }])
    expect(all).toEqual(["tick", "other"])
    expect((await iterator.next()).value).toMatchObject({ method: "tick", params: { n: 1 } })
    expect((await iterator.next()).value).toMatchObject({ method: "other", params: { n: 2 } })
    await iterator.return?.()
    stopTicks()
    await peer.request("emit")
    expect(ticks).toEqual([{ n: 1 }])
    expect(all).toEqual(["tick", "other", "tick", "other"])
  })

  it("answers the daemon's requests with the handlers: a value, or a thrown error's message", async () => {
    const { peer } = await setup({
      handlers: {
        approve: async (params) => {
          if ((params as { command: string }).command === "rm -rf /") throw new Error("declined by policy")
          return { decision: "accept" }
        }
      }
    })
    expect(await peer.request("ask", { command: "ls" })).toMatchObject({ result: { decision: "accept" } })
    expect(await peer.request("ask", { command: "rm -rf /" })).toMatchObject({
      error: { message: "declined by policy" }
    })
  })

  it("close rejects a pending call and every later call with PeerDisconnectedError", async () => {
    const { peer } = await setup()
    const pending = peer.request("hang").catch((e: unknown) => e)
    await peer.request("echo") // "hang" has been written
    await peer.close()
    expect(await pending).toMatchObject({ _tag: "PeerDisconnectedError", method: "hang" })
    expect(await peer.request("echo").catch((e: unknown) => e)).toMatchObject({ _tag: "PeerDisconnectedError" })
    expect(await peer.state()).toBe("closed")
    await peer.close() // idempotent
  })

  it("this file uses the facade without importing effect", () => {
    const source = readFileSync(new URL(import.meta.url), "utf8")
    expect(source).not.toMatch(/from\s+["'](effect|@effect\/)/)
  })
})
