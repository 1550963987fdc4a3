/**
 * The remote session's page script, bundled for the browser (or a Tauri/Electron webview) with
 * esbuild. Only the browser-safe root of `@isthmus/rpc-protocol` and the browser's own WebSocket.
 *
 * The fragment carries the secrets and the address (a fragment never reaches a server or its
 * logs): `#token=…` and, when the page is not served by the host (a Tauri webview), `&ws=ws://…`.
 * It authenticates with the bridge's `auth`, initializes (answered by the bridge from the shared
 * session), renders the session's streaming events, sends messages (`thread/start` once, then
 * `turn/start`), and shows approvals with Accept / Decline; a card disappears when this page or
 * another client settled the request.
 */
import { Dialect, Framing, Handshake, type Message, RpcError, RpcPeer } from "@isthmus/rpc-protocol"
import { Deferred, Effect } from "effect"
import * as Socket from "effect/socket/Socket"

type Json = Record<string, unknown>

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const fragment = new URLSearchParams(location.hash.slice(1))
const token = fragment.get("token") ?? ""
const wsUrl = fragment.get("ws") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rpc`

const timeline = byId<HTMLElement>("timeline")
const approvals = byId<HTMLElement>("approvals")
const agentBubbles = new Map<string, HTMLElement>()
const commands = new Map<string, HTMLElement>()
const cards = new Map<string, { element: HTMLElement; answer: Deferred.Deferred<unknown> }>()
let threadId: string | undefined

const setConnection = (state: string, text: string) => {
  const badge = byId("connection")
  badge.dataset["state"] = state
  badge.textContent = text
}

const scrolled = (element: HTMLElement) => {
  timeline.append(element)
  timeline.scrollTop = timeline.scrollHeight
  return element
}

const bubble = (role: "user" | "agent", text: string) => {
  const element = document.createElement("div")
  element.className = "msg"
  element.dataset["role"] = role
  element.textContent = text
  return scrolled(element)
}

const event = (text: string) => {
  const element = document.createElement("div")
  element.className = "event"
  element.textContent = text
  return scrolled(element)
}

const textOf = (content: unknown) =>
  Array.isArray(content)
    ? content.map((c) => (typeof c === "object" && c !== null ? String((c as Json)["text"] ?? "") : "")).join("")
    : ""

const onNotification = (n: Message.Notification) => {
  const p = (n.params ?? {}) as Json
  const item = (p["item"] ?? {}) as Json
  switch (n.method) {
    case "thread/started":
      threadId ??= ((p["thread"] ?? {}) as Json)["id"] as string | undefined
      return
    case "turn/started":
      threadId ??= p["threadId"] as string | undefined
      event(`turn started · ${String(p["threadId"] ?? "")}`)
      return
    case "turn/completed":
      event(`turn ${String(((p["turn"] ?? {}) as Json)["status"] ?? "completed")}`).dataset["turn"] = "completed"
      return
    case "item/started":
      if (item["type"] === "userMessage") bubble("user", textOf(item["content"]))
      else if (item["type"] === "agentMessage") agentBubbles.set(String(item["id"]), bubble("agent", ""))
      else if (item["type"] === "commandExecution") {
        const element = document.createElement("div")
        element.className = "command"
        element.dataset["status"] = "inProgress"
        element.textContent = `$ ${String(item["command"])}`
        commands.set(String(item["id"]), scrolled(element))
      }
      return
    case "item/agentMessage/delta": {
      const target = agentBubbles.get(String(p["itemId"]))
      if (target !== undefined) target.textContent += String(p["delta"] ?? "")
      return
    }
    case "item/completed":
      if (item["type"] === "agentMessage") {
        const target = agentBubbles.get(String(item["id"]))
        if (target !== undefined) target.textContent = String(item["text"] ?? target.textContent)
      } else if (item["type"] === "commandExecution") {
        const target = commands.get(String(item["id"]))
        if (target !== undefined) {
          target.dataset["status"] = String(item["status"])
          target.textContent = `$ ${String(item["command"])} · ${String(item["status"])}`
        }
      }
      return
    case "serverRequest/resolved": {
      // Settled here or by another client: close the prompt (its answer, if any, is ignored).
      const key = String(p["requestId"])
      const card = cards.get(key)
      if (card !== undefined) {
        cards.delete(key)
        card.element.remove()
        Deferred.doneUnsafe(card.answer, Effect.succeed({ decision: "decline" }))
      }
      return
    }
    case "bridge/upstream":
      byId("upstream").textContent = p["state"] === "ready" ? "" : "backend restarting…"
      if (p["state"] === "ready" && Number(p["generation"]) > 1) event("backend restarted")
      return
    default:
      return
  }
}

/** An approval card; resolves with the decision this page's user clicks. */
const approve = (request: Message.Request): Effect.Effect<unknown, RpcError> =>
  Effect.gen(function*() {
    const p = (request.params ?? {}) as Json
    const answer = yield* Deferred.make<unknown>()
    const element = document.createElement("div")
    element.className = "approval"
    element.dataset["requestId"] = String(request.id)
    const title = document.createElement("div")
    title.textContent = `Run this command? (${String(p["reason"] ?? "approval")})`
    const code = document.createElement("code")
    code.textContent = String(p["command"] ?? request.method)
    const buttons = document.createElement("div")
    buttons.className = "buttons"
    for (const decision of ["accept", "decline"] as const) {
      const button = document.createElement("button")
      button.type = "button"
      button.dataset["decision"] = decision
      button.textContent = decision === "accept" ? "Accept" : "Decline"
      button.addEventListener("click", () => {
        cards.delete(String(request.id))
        element.remove()
        Deferred.doneUnsafe(answer, Effect.succeed({ decision }))
      })
      buttons.append(button)
    }
    element.append(title, code, buttons)
    approvals.append(element)
    cards.set(String(request.id), { element, answer })
    return yield* Deferred.await(answer)
  })

const run = (effect: Effect.Effect<unknown, unknown>) =>
  Effect.runFork(effect.pipe(Effect.catch((e) => Effect.sync(() => event(`error: ${String(e)}`)))))

const program = Effect.gen(function*() {
  const peer = yield* RpcPeer.make({
    connect: Socket.makeWebSocket(wsUrl).pipe(Effect.provide(Socket.layerWebSocketConstructorGlobal)),
    dialect: Dialect.lite,
    framing: Framing.webSocket(),
    handshake: Handshake.sequence(
      Handshake.tokenAuth(token),
      Handshake.initialize({ clientInfo: { name: "isthmus_remote", title: "isthmus remote page", version: "0.1.0" } })
    ),
    dispatch: (request) =>
      request.method.endsWith("/requestApproval")
        ? approve(request)
        : Effect.fail(new RpcError({ code: -32601, message: `this page does not handle ${request.method}` })),
    onNotification: (n) => Effect.sync(() => onNotification(n)),
    requestTimeout: "10 minutes"
  })
  const ready = yield* Effect.exit(peer.awaitReady)
  if (ready._tag === "Failure") {
    setConnection("refused", "refused (check the token)")
    return
  }
  setConnection("connected", "connected")
  byId<HTMLFormElement>("composer").addEventListener("submit", (e) => {
    e.preventDefault()
    const input = byId<HTMLInputElement>("input")
    const text = input.value.trim()
    if (text === "") return
    input.value = ""
    run(Effect.gen(function*() {
      if (threadId === undefined) {
        const started = (yield* peer.request("thread/start", {})) as { thread: { id: string } }
        threadId = started.thread.id
      }
      yield* peer.request("turn/start", { threadId, input: [{ type: "text", text }] })
    }))
  })
  yield* peer.closed
  setConnection("closed", "disconnected")
}).pipe(Effect.scoped)

void Effect.runPromise(program)
