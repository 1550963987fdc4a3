/**
 * The dashboard page's script (bundled for the browser by server.ts): connects to the
 * orchestrator with the browser build of `@isthmus/rpc-protocol`, authenticates with the token
 * from the URL fragment (a fragment never reaches a server or its logs), then keeps the instance
 * cards, their plots and the log pane live from notifications.
 */
import { Dialect, Framing, Handshake, RpcPeer } from "@isthmus/rpc-protocol"
import { Effect, Schema, Stream } from "effect"
import * as Socket from "effect/socket/Socket"
import {
  DashboardMethods,
  InstanceView,
  lineKind,
  LogLineView,
  Notifications,
  pageWsUrl,
  SampleView,
  sampleWindowMs
} from "./Api.ts"

const maxLogLines = 1000
const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const rows = new Map<string, InstanceView>()
const samples = new Map<string, Array<SampleView>>()
/** The highest log sequence number shown per instance (lines are never shown twice). */
const shownSeq = new Map<string, number>()
type Action = "dashboard_restart" | "dashboard_stop" | "dashboard_start"

const setConnection = (state: "connecting" | "connected" | "refused" | "closed", text: string) => {
  const badge = byId("connection")
  badge.dataset["state"] = state
  badge.textContent = text
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string) => {
  const node = document.createElement(tag)
  if (className !== undefined) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

const duration = (ms: number) => {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}
const bytes = (n: number) => n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${(n / (1 << 20)).toFixed(1)} MiB`
const clock = (time: number) => new Date(time).toISOString().slice(11, 19)

// ---------------------------------------------------------------------------------------------
// Plots: plain SVG polylines over the sample window, scaled to each series' own maximum.
// ---------------------------------------------------------------------------------------------

const svgNs = "http://www.w3.org/2000/svg"

/** The plots' time axis: the sample window, or less while the page has not seen that much yet. */
const axisStart = (now: number) => {
  const first = Math.min(now - 60_000, ...[...samples.values()].flatMap((s) => s.slice(0, 1).map((x) => x.time)))
  return Math.max(now - sampleWindowMs, first)
}

const plot = (metric: "rss" | "cpu" | "restarts", title: string, series: ReadonlyArray<SampleView>) => {
  const now = Date.now()
  const start = axisStart(now)
  const value = (s: SampleView) => metric === "rss" ? s.rssBytes : metric === "cpu" ? s.cpuPercent : s.restartCount
  const points = series.filter((s) => value(s) !== null)
  const latest = points.at(-1)
  const latestValue = latest === undefined ? null : value(latest)!
  const max = Math.max(metric === "cpu" ? 10 : 1, ...points.map((s) => value(s)!))
  const box = el("div", "chart")
  box.dataset["metric"] = metric
  const head = el("div", "title")
  head.append(
    el("span", undefined, title),
    el(
      "b",
      undefined,
      latestValue === null
        ? "–"
        : metric === "rss"
        ? bytes(latestValue)
        : metric === "cpu"
        ? `${latestValue.toFixed(0)}%`
        : String(latestValue)
    )
  )
  const svg = document.createElementNS(svgNs, "svg")
  svg.setAttribute("viewBox", "0 0 100 40")
  svg.setAttribute("preserveAspectRatio", "none")
  svg.setAttribute("role", "img")
  svg.setAttribute("aria-label", `${title} since ${clock(start)}`)
  if (points.length > 0) {
    const x = (time: number) => (100 * (time - start)) / (now - start)
    const y = (v: number) => 38 - (36 * v) / max
    // Restarts are a count: drawn as steps.
    const d = points.map((s, i) => {
      const px = x(s.time).toFixed(2)
      const py = y(value(s)!).toFixed(2)
      if (i === 0) return `M${px},${py}`
      return metric === "restarts" ? `H${px}V${py}` : `L${px},${py}`
    }).join("")
    const path = document.createElementNS(svgNs, "path")
    path.setAttribute("class", "line")
    path.setAttribute("d", d)
    svg.append(path)
  }
  box.append(head, svg)
  return box
}

/** The latest sample's counts: processes in the group, log lines lost and queued. */
const usage = (latest: SampleView | undefined) => {
  const line = el("div", "usage")
  if (latest === undefined) return line
  const item = (name: string, value: string) => {
    const span = el("span", undefined, value)
    span.dataset["usage"] = name
    line.append(span)
  }
  if (latest.processes !== null) item("processes", `${latest.processes} process${latest.processes === 1 ? "" : "es"}`)
  item("log-dropped", `${latest.logDropped} log lines dropped`)
  item("log-queued", `${latest.logQueued} queued`)
  if (latest.logPendingBytes > 0) item("log-pending", `${bytes(latest.logPendingBytes)} to disk`)
  return line
}

const charts = (id: string) => {
  const series = samples.get(id) ?? []
  const box = el("div", "charts")
  box.append(
    plot("rss", "RSS", series),
    plot("cpu", "CPU", series),
    plot("restarts", "restarts", series),
    usage(series.at(-1))
  )
  return box
}

// ---------------------------------------------------------------------------------------------
// Instance cards
// ---------------------------------------------------------------------------------------------

const card = (view: InstanceView, act: (method: Action, id: string) => void) => {
  const root = el("article", "card")
  root.dataset["id"] = view.id
  root.dataset["phase"] = view.phase
  const head = el("div", "head")
  const label = el("div", "label", view.label)
  label.append(el("small", undefined, view.id))
  const state = el("span", "state", view.phase)
  state.dataset["state"] = view.phase
  head.append(label, state)

  const facts = el("dl", "facts")
  const fact = (name: string, value: string, className?: string) => {
    const dd = el("dd", className, value)
    dd.dataset["fact"] = name
    facts.append(el("dt", undefined, name), dd)
  }
  fact("runs on", `${view.host} (${view.launcher})`)
  fact(view.phase === "Ready" ? "uptime" : "in state", duration(Date.now() - view.since), "age")
  fact("restarts", String(view.restartCount))
  fact("pid", view.pid === null ? "–" : String(view.pid))
  fact("url", view.url ?? "–", view.url === null ? undefined : "url")
  if (view.lastExit !== null) {
    fact("last exit", `${view.lastExit}${view.lastExitAt === null ? "" : ` at ${clock(view.lastExitAt)}`}`)
  }

  const parts: Array<HTMLElement> = [head, facts]
  if (view.failure !== null) {
    const failure = el("details", "failure")
    failure.open = view.phase === "Failed" || view.phase === "CrashLoop"
    failure.append(
      el("summary", undefined, `${view.failure.reason}: ${view.failure.message}`),
      el("pre", undefined, view.failure.tail.length === 0 ? "(no output)" : view.failure.tail.join("\n"))
    )
    parts.push(failure)
  }
  parts.push(charts(view.id))

  const actions = el("div", "actions")
  const buttons: Array<[Action, string]> = [["dashboard_restart", "Restart"], ["dashboard_stop", "Stop"]]
  if (view.phase === "Stopped" || view.phase === "Failed" || view.phase === "CrashLoop") {
    buttons.push(["dashboard_start", "Start"])
  }
  for (const [method, text] of buttons) {
    const button = el("button", undefined, text)
    button.dataset["action"] = text.toLowerCase()
    button.addEventListener("click", () => act(method, view.id))
    actions.append(button)
  }
  parts.push(actions)
  root.append(...parts)
  return root
}

const render = (act: (method: Action, id: string) => void) => {
  const list = byId("instances")
  const views = [...rows.values()].toSorted((a, b) => a.id.localeCompare(b.id))
  list.replaceChildren(...views.map((view) => card(view, act)))
  byId("no-instances").hidden = rows.size > 0
  // The log filter lists every backend.
  const select = byId<HTMLSelectElement>("log-instance")
  const chosen = select.value
  select.replaceChildren(el("option", undefined, "all"), ...views.map((v) => el("option", undefined, v.id)))
  ;(select.firstElementChild as HTMLOptionElement).value = ""
  select.value = views.some((v) => v.id === chosen) ? chosen : ""
}

/** Moves the clock-driven parts (uptime, plots) without touching the rest of a card (or its buttons). */
const tick = () => {
  for (const view of rows.values()) {
    const root = document.querySelector<HTMLElement>(`.card[data-id="${CSS.escape(view.id)}"]`)
    if (root === null) continue
    const age = root.querySelector(".age")
    if (age !== null) age.textContent = duration(Date.now() - view.since)
    root.querySelector(".charts")?.replaceWith(charts(view.id))
  }
}

// ---------------------------------------------------------------------------------------------
// Logs: one pane in time order, filtered by backend and by kind of line
// ---------------------------------------------------------------------------------------------

const visible = (div: HTMLElement) => {
  const chosen = byId<HTMLSelectElement>("log-instance").value
  const kinds = new Set(
    [...document.querySelectorAll<HTMLInputElement>(".filters input[data-kind]")]
      .filter((box) => box.checked)
      .map((box) => box.dataset["kind"])
  )
  return (chosen === "" || div.dataset["id"] === chosen) && kinds.has(div.dataset["kind"])
}

const applyFilter = () => {
  for (const div of document.querySelectorAll<HTMLElement>("#logs .line")) div.hidden = !visible(div)
}

const appendLog = (line: LogLineView) => {
  if (line.seq <= (shownSeq.get(line.id) ?? 0)) return
  shownSeq.set(line.id, line.seq)
  const pane = byId("logs")
  const kind = lineKind(line)
  const div = el("div", `line ${kind}`)
  div.dataset["id"] = line.id
  div.dataset["kind"] = kind
  div.dataset["time"] = String(line.time)
  const meta = el("span", "meta", `${new Date(line.time).toISOString().slice(11, 23)} ${line.id}#${line.runId} `)
  div.append(
    el("span", "kind", kind === "protocol" ? "rpc" : kind === "system" ? "pool" : kind),
    meta,
    el("span", "text", line.text)
  )
  div.hidden = !visible(div)
  const atBottom = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 8
  // Keep time order: a line older than the last one shown goes before the first newer one.
  let after = pane.lastElementChild as HTMLElement | null
  while (after !== null && Number(after.dataset["time"]) > line.time) {
    after = after.previousElementSibling as HTMLElement | null
  }
  if (after === null) pane.prepend(div)
  else after.after(div)
  while (pane.childElementCount > maxLogLines) pane.firstElementChild?.remove()
  if (atBottom) pane.scrollTop = pane.scrollHeight
}

const addSample = (sample: SampleView) => {
  const kept = (samples.get(sample.id) ?? []).filter((s) => s.time > sample.time - sampleWindowMs)
  kept.push(sample)
  samples.set(sample.id, kept)
}

const decodeInstance = Schema.decodeUnknownOption(InstanceView)
const decodeLine = Schema.decodeUnknownOption(LogLineView)
const decodeSample = Schema.decodeUnknownOption(SampleView)
const Removed = Schema.Struct({ id: Schema.String, removed: Schema.Boolean })
const decodeRemoved = Schema.decodeUnknownOption(Removed)

const program = Effect.gen(function*() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? ""
  const peer = yield* RpcPeer.make({
    connect: Socket.makeWebSocket(pageWsUrl(location)).pipe(Effect.provide(Socket.layerWebSocketConstructorGlobal)),
    dialect: Dialect.daemon,
    framing: Framing.webSocket(),
    methods: DashboardMethods,
    handshake: Handshake.tokenAuth(token),
    requestTimeout: "10 seconds"
  })
  // Subscribed before the first status call: nothing that happens after it is missed.
  const notifications = yield* peer.subscribe
  const ready = yield* Effect.result(peer.awaitReady)
  if (ready._tag === "Failure") {
    setConnection("refused", "token refused")
    return
  }
  setConnection("connected", "connected")
  const act = (method: Action, id: string) => void Effect.runFork(peer.call(method, { id }).pipe(Effect.ignore))
  for (const input of document.querySelectorAll(".filters select, .filters input")) {
    input.addEventListener("change", applyFilter)
  }
  const refresh = Effect.gen(function*() {
    rows.clear()
    for (const view of yield* peer.call("dashboard_status", undefined)) rows.set(view.id, view)
    render(act)
  })
  for (const sample of yield* peer.call("dashboard_samples", undefined)) addSample(sample)
  yield* refresh
  // Every backend's recent lines, merged in time order (then live lines keep the order).
  const backlog = yield* Effect.forEach(
    [...rows.keys()],
    (id) => peer.call("dashboard_logs", { id, limit: 200 }),
    { concurrency: 4 }
  )
  for (const line of backlog.flat().toSorted((a, b) => a.time - b.time || a.seq - b.seq)) appendLog(line)
  // Uptime and the plots' time axis move even when nothing happens.
  setInterval(tick, 1000)
  yield* notifications.pipe(
    Stream.runForEach((notification) =>
      Effect.gen(function*() {
        if (notification.method === Notifications.log) {
          const line = decodeLine(notification.params)
          if (line._tag === "Some") appendLog(line.value)
        } else if (notification.method === Notifications.sample) {
          const sample = decodeSample(notification.params)
          if (sample._tag === "Some") addSample(sample.value)
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
