import { describe, expect, it } from "@effect/vitest"
import { type Message, RpcBridge, RpcBridgePolicy } from "@isthmus/rpc-protocol"
import { Redacted } from "effect"
import * as fc from "fast-check"

const { defaultThreadIdOf, followAll, makeRing, matchToken, mayCall, passes, roleOf } = RpcBridgePolicy
type Notification = Message.Notification

const tokens = [
  { token: Redacted.make("alpha-token"), name: "alpha" },
  { token: "viewer-token", role: "readOnly" as const, allow: ["thread/list"], name: "viewer" }
]

describe("RpcBridgePolicy", () => {
  it("matches a token exactly: no prefix, no suffix, no empty", () => {
    expect(matchToken(tokens, "alpha-token")?.name).toBe("alpha")
    expect(matchToken(tokens, "viewer-token")?.name).toBe("viewer")
    for (const wrong of ["alpha-toke", "alpha-token!", "", "alpha-tokeN", "viewer-token\n"]) {
      expect(matchToken(tokens, wrong)).toBeUndefined()
    }
  })

  it("roles: full calls anything; read-only only its allow-list and bridge/*", () => {
    const viewer = roleOf(tokens[1]!, [])
    expect(mayCall(viewer, "thread/list")).toBe(true)
    expect(mayCall(viewer, "bridge/follow")).toBe(true)
    expect(mayCall(viewer, "turn/start")).toBe(false)
    expect(mayCall(roleOf(tokens[0]!, []), "turn/start")).toBe(true)
    // A read-only token without its own list gets the bridge's default.
    expect(mayCall(roleOf({ token: "x", role: "readOnly" }, ["model/list"]), "model/list")).toBe(true)
  })

  it("filters by thread and opt-out; global events always pass", () => {
    const filter = { threads: new Set(["thr_1"]), optOut: new Set(["item/agentMessage/delta"]) }
    expect(passes(filter, "turn/started", "thr_1")).toBe(true)
    expect(passes(filter, "turn/started", "thr_2")).toBe(false)
    expect(passes(filter, "account/updated", undefined)).toBe(true)
    expect(passes(filter, "item/agentMessage/delta", "thr_1")).toBe(false)
    expect(passes(followAll, "anything", "thr_9")).toBe(true)
    expect(defaultThreadIdOf("thread/started", { thread: { id: "thr_3" } })).toBe("thr_3")
    expect(defaultThreadIdOf("turn/started", { threadId: "thr_4", thread: { id: "x" } })).toBe("thr_4")
    expect(defaultThreadIdOf("x", [1])).toBeUndefined()
  })

  it("the ring keeps the newest `capacity` notifications in order (model: the array's tail)", () => {
    fc.assert(
      fc.property(fc.nat(20), fc.array(fc.string(), { maxLength: 60 }), (capacity, methods) => {
        const ring = makeRing(capacity)
        const all: Array<Notification> = methods.map((method) => ({ _tag: "Notification", method, params: undefined }))
        for (const n of all) ring.push(n)
        expect(ring.snapshot()).toEqual(capacity === 0 ? [] : all.slice(-capacity))
        ring.clear()
        expect(ring.snapshot()).toEqual([])
      })
    )
  })

  it("recognises the upstream-restarted error by code or reason", () => {
    expect(RpcBridge.isUpstreamRestarted({ code: RpcBridge.BridgeErrorCode.UpstreamRestarted })).toBe(true)
    expect(RpcBridge.isUpstreamRestarted({ data: { reason: "upstreamRestarted" } })).toBe(true) // daemon dialect: no code
    expect(RpcBridge.isUpstreamRestarted({ code: -32600 })).toBe(false)
  })
})
