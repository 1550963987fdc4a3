/**
 * The dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core), against a
 * real pool supervising real daemons — two native ones, one in a WSL distro through `fake-wsl`,
 * and one that fails at start: cards show where each runs, uptime, restarts, the failure with its
 * log tail and live plots; logs are in time order, filterable, with pool and protocol lines told
 * apart; a Restart click moves an instance through its states; the layout holds at 360, 800 and
 * 1280 px (screenshots of each); a wrong token is refused.
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, Launchers, LocalLauncher, WslLauncher } from "@isthmus/backend-pool"
import { Wsl } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, Layer, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Page } from "playwright-core"
import { describe, expect, it } from "vitest"
import { acquireChromium, skipWithoutChromium, updateScreenshots } from "../../../test/support/chromium.ts"
import { pageWsUrl } from "../src/Api.ts"
import { sameOriginUpgrade, serveDashboard } from "../src/server.ts"

const daemonEntry = fileURLToPath(new URL("../../daemon/src/main.ts", import.meta.url))
/** With UPDATE_SCREENSHOTS=1 the README's screenshots are replaced; otherwise they go to a temp dir. */
const screenshotDir = updateScreenshots
  ? fileURLToPath(new URL("../screenshots/", import.meta.url))
  : mkdtempSync(join(tmpdir(), "dashboard-shots-"))
const widths = [360, 800, 1280] as const

const host = fakeWslHostOptions({
  distros: [{
    name: "Ubuntu-24.04",
    state: "Running",
    version: 2,
    default: true,
    interfaces: [{ name: "eth0", address: "127.0.0.1" }],
    networkingMode: "mirrored",
    // Node as nvm installs it (`~/.bashrc` puts its directory first), so the preflight finds this
    // Node and not the machine's `/usr/bin/node`, whatever version that is.
    node: { path: process.execPath, version: process.version },
    bashrc: { path: [dirname(process.execPath)] }
  }]
})

const poolLayer = BackendPool.layer.pipe(
  Layer.provide(
    Layer.effect(
      Launchers,
      Effect.map(
        Effect.all([LocalLauncher.make, WslLauncher.make({ host, requirements: { node: ">=22" } })]),
        (ls) => Launchers.fromLaunchers(ls)
      )
    )
  ),
  Layer.provide(Layer.merge(Wsl.layer({ host }), NodeServices.layer))
)

const daemonSpec = (id: string, label: string) => ({
  id,
  label,
  launcher: { _tag: "Local" as const, command: process.execPath, args: [daemonEntry] },
  bootstrap: { delivery: "fd3" as const, envelope: { name: id, token: `token-${id}`, tickMs: 500 } },
  stop: { graceMs: 2000 }
})

const specs = [
  daemonSpec("native", "Native daemon"),
  daemonSpec("worker", "Native worker"),
  {
    id: "wsl",
    label: "WSL daemon",
    launcher: { _tag: "Wsl" as const, distro: "Ubuntu-24.04", command: process.execPath, args: [daemonEntry] },
    bootstrap: { delivery: "stdin" as const, envelope: { name: "wsl", token: "token-wsl", tickMs: 500 } },
    stop: { graceMs: 2000 }
  },
  {
    id: "broken",
    label: "Misconfigured",
    launcher: {
      _tag: "Local" as const,
      command: process.execPath,
      args: [
        "-e",
        "console.log('reading /etc/app.json'); console.error('boom: /etc/app.json is missing'); process.exit(3)"
      ]
    },
    restart: { mode: "never" as const }
  }
]

/** `ps`'s count of a process group's live members (an independent reader of the process table). */
const psMembers = (pgid: number) =>
  execFileSync("ps", ["-o", "stat=", "-g", String(pgid)], { encoding: "utf8" })
    .trim().split("\n").filter((stat) => stat.trim() !== "" && !stat.trim().startsWith("Z")).length

/** A plain TCP forward from a new loopback port to `port` (what `ssh -L` or a proxy does). */
const forward = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<{ server: Net.Server; sockets: Set<Net.Socket> }>((resume) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((client) => {
        const upstream = Net.connect(port, "127.0.0.1")
        sockets.add(client).add(upstream)
        client.pipe(upstream).pipe(client)
        const close = () => {
          client.destroy()
          upstream.destroy()
        }
        client.on("error", close).on("close", close)
        upstream.on("error", close).on("close", close)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
    }),
    // The browser may still hold connections through it: cut them, or close would wait for them.
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ server }) => (server.address() as Net.AddressInfo).port))

/** The status of a WebSocket upgrade sent with these `Host` and `Origin` headers. */
const upgradeStatus = (port: number, hostHeader: string, origin: string) =>
  new Promise<number>((resolve, reject) => {
    const request = Http.request({
      port,
      host: "127.0.0.1",
      path: "/rpc",
      headers: {
        host: hostHeader,
        origin,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="
      }
    })
    request.on("response", (response) => resolve(response.statusCode ?? 0))
    request.on("upgrade", (response, socket) => {
      socket.destroy()
      resolve(response.statusCode ?? 0)
    })
    request.on("error", reject)
    request.end()
  })

describe("the page's WebSocket address and origin check", () => {
  it("the page connects to /rpc where it was loaded from, ws or wss", () => {
    expect(pageWsUrl({ protocol: "http:", host: "localhost:9000" })).toBe("ws://localhost:9000/rpc")
    expect(pageWsUrl({ protocol: "https:", host: "dash.example" })).toBe("wss://dash.example/rpc")
  })
  it("accepts the origin of the Host it was sent to, on loopback names or allowed ones only", () => {
    expect(sameOriginUpgrade("http://127.0.0.1:4000", "127.0.0.1:4000")).toBe(true)
    expect(sameOriginUpgrade("http://localhost:9000", "localhost:9000")).toBe(true)
    expect(sameOriginUpgrade("http://[::1]:9000", "[::1]:9000")).toBe(true)
    expect(sameOriginUpgrade("http://localhost:9001", "localhost:9000")).toBe(false)
    expect(sameOriginUpgrade("http://evil.test:9000", "localhost:9000")).toBe(false)
    // DNS rebinding: Origin and Host agree, but the name is nobody's loopback.
    expect(sameOriginUpgrade("http://evil.test:9000", "evil.test:9000")).toBe(false)
    expect(sameOriginUpgrade("https://dash.example", "dash.example", ["dash.example"])).toBe(true)
    expect(sameOriginUpgrade("null", "localhost:9000")).toBe(false)
    expect(sameOriginUpgrade("http://localhost:9000", undefined)).toBe(false)
  })
})

/** Every layout problem at the current width: horizontal scrolling, or a control or card cut off. */
const layoutProblems = (page: Page) =>
  page.evaluate(() => {
    const width = document.documentElement.clientWidth
    const problems: Array<string> = []
    if (document.documentElement.scrollWidth > width) {
      problems.push(`page scrolls sideways (${document.documentElement.scrollWidth} > ${width})`)
    }
    for (const node of document.querySelectorAll<HTMLElement>(".card, .card button, .card .url, .chart svg")) {
      const box = node.getBoundingClientRect()
      const name = `${node.closest(".card")?.getAttribute("data-id")} ${node.tagName.toLowerCase()}.${node.className}`
      if (box.left < 0 || box.right > width + 0.5) problems.push(`${name} is cut off (${box.left}..${box.right})`)
      if (box.width === 0 || box.height === 0) problems.push(`${name} has no size`)
    }
    return problems
  })

describe.skipIf(skipWithoutChromium)("dashboard in headless Chromium", () => {
  it(
    "shows where each backend runs, failures, plots, ordered filterable logs, restarts, and fits 360–1280 px",
    async () => {
      const token = "dashboard-test-token"
      mkdirSync(screenshotDir, { recursive: true })
      const program = Effect.gen(function*() {
        const pool = yield* BackendPool
        yield* pool.reconcile(specs)
        for (const id of ["native", "worker", "wsl"]) yield* Effect.flatMap(pool.get(id), (i) => i.awaitReady)
        yield* Effect.flip(Effect.flatMap(pool.get("broken"), (i) => i.awaitReady))
        const workerPid = (yield* Effect.flatMap(pool.get("worker"), (i) => i.snapshot)).pid!
        const dashboard = yield* serveDashboard({ token: Redacted.make(token) })
        const browser = yield* acquireChromium
        const result = yield* Effect.promise(async () => {
          const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
          await page.goto(`${dashboard.url}#token=${token}`)
          await page.waitForSelector("#connection[data-state=connected]")
          for (const id of ["native", "worker", "wsl"]) {
            await page.waitForSelector(`.card[data-id=${id}] .state[data-state=Ready]`)
          }
          await page.waitForSelector(".card[data-id=broken] .state[data-state=Failed]")
          const cards = await page.$$eval(".card", (all) =>
            all.map((c) => ({
              id: c.getAttribute("data-id"),
              label: c.querySelector(".label")?.firstChild?.textContent,
              runsOn: c.querySelector("[data-fact='runs on']")?.textContent,
              age: c.querySelector(".age")?.previousElementSibling?.textContent,
              failure: c.querySelector(".failure summary")?.textContent ?? null,
              tail: c.querySelector(".failure pre")?.textContent ?? null
            })))
          // Plots fill in: samples arrive every second (RSS of each daemon's process group).
          await page.waitForSelector(".card[data-id=native] .chart[data-metric=rss] path.line", { timeout: 60_000 })
          await page.waitForSelector(".card[data-id=native] .chart[data-metric=cpu] path.line", { timeout: 60_000 })
          const rssText = await page.textContent(".card[data-id=native] .chart[data-metric=rss] .title b")

          // Logs: in time order, pool and protocol lines marked.
          await page.waitForFunction(() => document.querySelectorAll("#logs .line").length >= 8)
          const times = await page.$$eval(
            "#logs .line",
            (lines) => lines.map((l) => Number(l.getAttribute("data-time")))
          )
          const kinds = await page.$$eval("#logs .line", (lines) => [
            ...new Set(lines.map((l) => l.getAttribute("data-kind")))
          ])
          const protocolText = await page.$$eval(
            "#logs .line.protocol .text",
            (lines) => lines.map((l) => l.textContent)
          )

          // Filter: one backend, then without the pool's own lines.
          await page.selectOption("#log-instance", "worker")
          const shownIds = await page.$$eval("#logs .line:not([hidden])", (lines) => [
            ...new Set(lines.map((l) => l.getAttribute("data-id")))
          ])
          await page.uncheck(".filters input[data-kind=system]")
          const shownKinds = await page.$$eval("#logs .line:not([hidden])", (lines) => [
            ...new Set(lines.map((l) => l.getAttribute("data-kind")))
          ])
          await page.check(".filters input[data-kind=system]")
          await page.selectOption("#log-instance", "")

          // Restart: record every state the native card shows, then click.
          await page.evaluate(() => {
            const seen: Array<string> = []
            ;(window as unknown as { seen: Array<string> }).seen = seen
            new MutationObserver(() => {
              const state = document.querySelector(".card[data-id=native] .state")?.getAttribute("data-state")
              if (state && seen.at(-1) !== state) seen.push(state)
            }).observe(document.getElementById("instances")!, { childList: true, subtree: true, attributes: true })
          })
          await page.click(".card[data-id=native] button[data-action=restart]")
          await page.waitForFunction(
            () => {
              const seen = (window as unknown as { seen: Array<string> }).seen
              return seen.includes("Stopping") && seen.at(-1) === "Ready"
            },
            undefined,
            { timeout: 60_000 }
          )
          const seen = await page.evaluate(() => (window as unknown as { seen: Array<string> }).seen)
          // A crash: the pool restarts the worker; its card counts it and its restarts plot steps up.
          process.kill(workerPid, "SIGKILL")
          await page.waitForFunction(
            () => document.querySelector(".card[data-id=worker] [data-fact=restarts]")?.textContent === "1",
            undefined,
            { timeout: 60_000 }
          )
          await page.waitForSelector(".card[data-id=worker] .state[data-state=Ready]", { timeout: 60_000 })
          const lastExit = await page.textContent(".card[data-id=worker] [data-fact='last exit']")

          // Layout at each width, with a screenshot of each.
          const layout: Record<number, Array<string>> = {}
          for (const width of widths) {
            await page.setViewportSize({ width, height: 900 })
            await page.waitForFunction((w) => document.documentElement.clientWidth === w, width)
            layout[width] = await layoutProblems(page)
            await page.screenshot({ path: join(screenshotDir, `dashboard-${width}.png`), fullPage: true })
          }

          // A wrong token: the page says so and shows nothing.
          const intruder = await browser.newPage()
          await intruder.goto(`${dashboard.url}#token=wrong`)
          await intruder.waitForSelector("#connection[data-state=refused]")
          const intruderCards = await intruder.$$eval(".card", (all) => all.length)

          // The native daemon's process count (shown under its plots) is ps's, and nothing was dropped.
          const nativePid = await page.textContent(".card[data-id=native] [data-fact=pid]")
          const members = psMembers(Number(nativePid))
          await page.waitForFunction(
            (n) =>
              document.querySelector(".card[data-id=native] [data-usage=processes]")?.textContent ===
                `${n} processes`,
            members,
            { timeout: 60_000 }
          )
          const dropped = await page.textContent(".card[data-id=native] [data-usage=log-dropped]")
          return {
            cards,
            rssText,
            times,
            kinds,
            protocolText,
            shownIds,
            shownKinds,
            seen,
            lastExit,
            layout,
            intruderCards,
            members,
            dropped
          }
        })
        // Through a forward on another port and another name (the page finds its WebSocket from
        // its own address): connected, with the cards; another site's origin is refused.
        const port = Number(new URL(dashboard.url).port)
        const forwarded = yield* forward(port)
        const viaForward = yield* Effect.promise(async () => {
          const page = await browser.newPage()
          await page.goto(`http://localhost:${forwarded}/#token=${token}`)
          await page.waitForSelector("#connection[data-state=connected]")
          await page.waitForSelector(".card[data-id=native] .state[data-state=Ready]")
          return {
            cards: await page.$$eval(".card", (all) => all.length),
            rebound: await upgradeStatus(forwarded, `evil.test:${forwarded}`, `http://evil.test:${forwarded}`),
            crossSite: await upgradeStatus(forwarded, `localhost:${forwarded}`, "http://evil.test")
          }
        })
        return { ...result, viaForward }
      }).pipe(Effect.scoped, Effect.provide(poolLayer))

      const result = await Effect.runPromise(program)
      const card = (id: string) => result.cards.find((c) => c.id === id)!
      expect(result.cards.map((c) => c.label)).toEqual([
        "Misconfigured",
        "Native daemon",
        "Native worker",
        "WSL daemon"
      ])
      expect(card("native").runsOn).toBe("this machine (Local)")
      expect(card("wsl").runsOn).toBe("WSL Ubuntu-24.04 (Wsl)")
      expect(card("native").age).toBe("uptime")
      expect(card("native").failure).toBe(null)
      expect(card("broken").failure).toMatch(/^ExitedBeforeReady: /)
      expect(card("broken").tail).toContain("boom: /etc/app.json is missing")
      expect(card("broken").tail).toContain("reading /etc/app.json")
      expect(result.rssText).toMatch(/^\d+\.\d MiB$/)
      expect(result.times).toEqual(result.times.toSorted((a, b) => a - b))
      expect(result.kinds).toEqual(expect.arrayContaining(["system", "protocol", "stdout"]))
      expect(result.protocolText.some((t) => t?.startsWith("@@isthmus:ready "))).toBe(true)
      expect(result.shownIds).toEqual(["worker"])
      expect(result.shownKinds).not.toContain("system")
      expect(result.shownKinds.length).toBeGreaterThan(0)
      expect(result.seen).toContain("Stopping")
      expect(result.seen).toContain("Starting")
      expect(result.seen.at(-1)).toBe("Ready")
      expect(result.lastExit).toMatch(/^Crashed \(signal SIGKILL\) at \d\d:\d\d:\d\d$/)
      expect(result.layout).toEqual({ 360: [], 800: [], 1280: [] })
      expect(result.intruderCards).toBe(0)
      expect(result.members).toBeGreaterThanOrEqual(2) // the watchdog and the daemon
      expect(result.dropped).toBe("0 log lines dropped")
      expect(result.viaForward.cards).toBe(4)
      expect(result.viaForward.rebound).toBe(403)
      expect(result.viaForward.crossSite).toBe(403)
    },
    300_000
  ) // real processes, fake-wsl and Chromium on a shared 2-core machine: ~25 s when quiet
})
