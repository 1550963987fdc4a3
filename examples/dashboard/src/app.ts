/**
 * The dashboard page's script (bundled for the browser by server.ts): connects to the
 * orchestrator with the browser build of `@isthmus/rpc-protocol`, authenticates with the token
 * from the URL fragment (a fragment never reaches a server or its logs), then keeps the table and
 * the log pane live from notifications.
 */
import { Dialect, Framing, Handshake, RpcPeer } from "@isthmus/rpc-protocol"
import { Effect, Schema, Stream } from "effect"
import * as Socket from "effect/socket/Socket"
import { DashboardMethods, InstanceView, LogLineView, Notifications } from "./Api.ts"

const maxLogLines = 500
const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const rows = new Map<string, InstanceView>()

const setConnection = (state: "connecting" | "connected" | "refused" | "closed", text: string) => {
  const badge = byId("connection")
  badge.dataset["state"] = state
  badge.textContent = text
}

const cell = (text: string, className?: string) => {
  const td = document.createElement("td")
  if (className !== undefined) td.className = className
  td.textContent = text
  return td
}

const render = (act: (method: "dashboard_restart" | "dashboard_stop" | "dashboard_start", id: string) => void) => {
  const body = byId("instances")
  body.replaceChildren()
  for (const view of [...rows.values()].toSorted((a, b) => a.id.localeCompare(b.id))) {
    const tr = document.createElement("tr")
    tr.dataset["id"] = view.id
    const label = cell(view.label, "label")
    const small = document.createElement("small")
    small.textContent = view.id
    const where = document.createElement("small")
    where.className = "location"
    where.textContent = view.location
    label.append(small, where)
    const state = document.createElement("td")
    const badge = document.createElement("span")
    badge.className = "state"
    badge.dataset["state"] = view.phase
    badge.textContent = view.phase
    state.append(badge)
    const actions = document.createElement("td")
    actions.className = "actions"
    for (const [method, text] of [["dashboard_restart", "Restart"], ["dashboard_stop", "Stop"]] as const) {
      const button = document.createElement("button")
      button.textContent = text
      button.dataset["action"] = text.toLowerCase()
      button.addEventListener("click", () => act(method, view.id))
      actions.append(button, " ")
    }
    if (view.phase === "Stopped" || view.phase === "Failed" || view.phase === "CrashLoop") {
      const button = document.createElement("button")
      button.textContent = "Start"
      button.dataset["action"] = "start"
      button.addEventListener("click", () => act("dashboard_start", view.id))
      actions.append(button)
    }
    tr.append(
      label,
      state,
      cell(String(view.restartCount), "restarts"),
      cell(view.pid === null ? "–" : String(view.pid), "pid"),
      cell(view.url ?? "–", "url"),
      actions
    )
    body.append(tr)
  }
  byId("no-instances").hidden = rows.size > 0
}

const appendLog = (line: LogLineView) => {
  const pane = byId("logs")
  const div = document.createElement("div")
  div.className = `line ${line.source === "system" ? "boundary" : line.source}`
  const meta = document.createElement("span")
  meta.className = "meta"
  meta.textContent = `${new Date(line.time).toISOString().slice(11, 23)} ${line.id}#${line.runId} ${line.source} `
  const text = document.createElement("span")
  text.className = "text"
  text.textContent = line.text
  div.append(meta, text)
  const atBottom = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 8
  pane.append(div)
  while (pane.childElementCount > maxLogLines) pane.firstElementChild?.remove()
  if (atBottom) pane.scrollTop = pane.scrollHeight
}

const decodeInstance = Schema.decodeUnknownOption(InstanceView)
const decodeLine = Schema.decodeUnknownOption(LogLineView)
const Removed = Schema.Struct({ id: Schema.String, removed: Schema.Boolean })
const decodeRemoved = Schema.decodeUnknownOption(Removed)

const program = Effect.gen(function*() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? ""
  const config = yield* Effect.promise(() => fetch("/config.json").then((r) => r.json() as Promise<{ wsUrl: string }>))
  const peer = yield* RpcPeer.make({
    connect: Socket.makeWebSocket(config.wsUrl).pipe(Effect.provide(Socket.layerWebSocketConstructorGlobal)),
    dialect: Dialect.daemon,
    framing: Framing.webSocket(),
    methods: DashboardMethods,
    handshake: Handshake.tokenAuth(token),
    requestTimeout: "10 seconds"
  })
  const notifications = yield* peer.subscribe
  const ready = yield* Effect.result(peer.awaitReady)
  if (ready._tag === "Failure") {
    setConnection("refused", "token refused")
    return
  }
  setConnection("connected", "connected")
  const act = (method: "dashboard_restart" | "dashboard_stop" | "dashboard_start", id: string) =>
    void Effect.runFork(peer.call(method, { id }).pipe(Effect.ignore))
  const refresh = Effect.gen(function*() {
    rows.clear()
    for (const view of yield* peer.call("dashboard_status", undefined)) rows.set(view.id, view)
    render(act)
  })
  yield* refresh
  for (const view of rows.values()) {
    for (const line of yield* peer.call("dashboard_logs", { id: view.id, limit: 50 })) appendLog(line)
  }
  yield* notifications.pipe(
    Stream.runForEach((notification) =>
      Effect.gen(function*() {
        if (notification.method === Notifications.log) {
          const line = decodeLine(notification.params)
          if (line._tag === "Some") appendLog(line.value)
        } else if (notification.method === Notifications.instance) {
          const view = decodeInstance(notification.params)
          if (view._tag === "Some") {
            rows.set(view.value.id, view.value)
            render(act)
          } else if (decodeRemoved(notification.params)._tag === "Some") {
            yield* refresh
          }
        }
      })
    )
  )
  setConnection("closed", "disconnected")
})

Effect.runFork(
  program.pipe(
    Effect.scoped,
    Effect.catchCause(() => Effect.sync(() => setConnection("closed", "disconnected")))
  )
)
