/**
 * The dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core), against a
 * real pool supervising a real daemon: rows appear, a restart click moves the instance through
 * its states, log lines stream, a wrong token is refused.
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, Launchers, LocalLauncher } from "@isthmus/backend-pool"
import { Effect, Layer, Redacted } from "effect"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { acquireChromium, skipWithoutChromium } from "../../../test/support/chromium.ts"
import { serveDashboard } from "../src/server.ts"

const daemonEntry = fileURLToPath(new URL("../../daemon/src/main.ts", import.meta.url))
const screenshot = fileURLToPath(new URL("../screenshot.png", import.meta.url))

const poolLayer = BackendPool.layer.pipe(
  Layer.provide(Layer.effect(Launchers, Effect.map(LocalLauncher.make, (l) => Launchers.fromLaunchers([l])))),
  Layer.provide(NodeServices.layer)
)

const daemonSpec = (id: string, label: string) => ({
  id,
  label,
  launcher: { _tag: "Local" as const, command: process.execPath, args: [daemonEntry] },
  bootstrap: { delivery: "fd3" as const, envelope: { name: id, token: `token-${id}`, tickMs: 200 } },
  stop: { graceMs: 2000 }
})

describe.skipIf(skipWithoutChromium)("dashboard in headless Chromium", () => {
  it("shows rows, restarts an instance through its states, streams logs, refuses a wrong token", async () => {
    const token = "dashboard-test-token"
    const program = Effect.gen(function*() {
      const pool = yield* BackendPool
      yield* pool.reconcile([daemonSpec("native", "Native daemon"), daemonSpec("worker", "Native worker")])
      for (const instance of yield* pool.list) yield* instance.awaitReady
      const dashboard = yield* serveDashboard({ token: Redacted.make(token) })
      const browser = yield* acquireChromium
      return yield* Effect.promise(async () => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 640 } })
        await page.goto(`${dashboard.url}#token=${token}`)
        await page.waitForSelector("#connection[data-state=connected]")
        // Rows appear, both Ready.
        await page.waitForSelector("tr[data-id=native] .state[data-state=Ready]")
        await page.waitForSelector("tr[data-id=worker] .state[data-state=Ready]")
        const labels = await page.$$eval(
          "#instances tr td.label",
          (cells) => cells.map((c) => c.firstChild?.textContent)
        )
        // Log lines stream: the daemons' own lines and the pool's run boundaries.
        await page.waitForFunction(() => document.querySelectorAll("#logs .line").length >= 2)
        // Record every state the native row shows, then click Restart.
        await page.evaluate(() => {
          const seen: Array<string> = []
          ;(window as unknown as { seen: Array<string> }).seen = seen
          new MutationObserver(() => {
            const state = document.querySelector("tr[data-id=native] .state")?.getAttribute("data-state")
            if (state && seen.at(-1) !== state) seen.push(state)
          }).observe(document.getElementById("instances")!, { childList: true, subtree: true, attributes: true })
        })
        const linesBefore = await page.$$eval("#logs .line", (lines) => lines.length)
        await page.click("tr[data-id=native] button[data-action=restart]")
        await page.waitForFunction(
          () => {
            const seen = (window as unknown as { seen: Array<string> }).seen
            return seen.includes("Stopping") && seen.at(-1) === "Ready"
          },
          undefined,
          { timeout: 90_000 } // a restart takes ~1 s when quiet; generous for a loaded machine
        )
        const seen = await page.evaluate(() => (window as unknown as { seen: Array<string> }).seen)
        await page.waitForFunction((n) => document.querySelectorAll("#logs .line").length > n, linesBefore)
        const newLines = await page.$$eval("#logs .line .text", (lines) => lines.map((l) => l.textContent ?? ""))
        if (process.env["UPDATE_SCREENSHOT"] === "1") await page.screenshot({ path: screenshot })
        // A wrong token: the page says so and shows nothing.
        const intruder = await browser.newPage()
        await intruder.goto(`${dashboard.url}#token=wrong`)
        await intruder.waitForSelector("#connection[data-state=refused]")
        const intruderRows = await intruder.$$eval("#instances tr", (rows) => rows.length)
        return { labels, seen, newLines, intruderRows }
      })
    }).pipe(Effect.scoped, Effect.provide(poolLayer))

    const result = await Effect.runPromise(program)
    expect(result.labels).toEqual(["Native daemon", "Native worker"])
    expect(result.seen).toContain("Stopping")
    expect(result.seen).toContain("Starting")
    expect(result.seen.at(-1)).toBe("Ready")
    expect(result.newLines.some((line) => /daemon native: pid \d+/.test(line))).toBe(true)
    expect(result.intruderRows).toBe(0)
  }, 240_000)
})
