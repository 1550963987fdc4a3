/**
 * Two pages of the remote client in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) on one session: the fake app-server supervised by a real pool over stdio,
 * shared through RpcBridge over WebSocket. A message sent from page A streams on both; the
 * approval appears on both, is answered on B and disappears from A. `UPDATE_SCREENSHOTS=1`
 * refreshes the README's screenshots.
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher } from "@isthmus/backend-pool"
import { Effect, Layer, Redacted } from "effect"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { acquireChromium, skipWithoutChromium, updateScreenshots } from "../../../test/support/chromium.ts"
import { pageUrl, startRemoteBridge } from "../src/host.ts"

const screenshot = (name: string) => fileURLToPath(new URL(`../${name}`, import.meta.url))
const pool = BackendPool.layer.pipe(Layer.provide(LocalLauncher.layer), Layer.provide(NodeServices.layer))

describe.skipIf(skipWithoutChromium)("remote bridge in headless Chromium", () => {
  it("two pages share one session: streaming on both, an approval answered on B vanishes from A", async () => {
    const token = Redacted.make("browser-test-token")
    const program = Effect.gen(function*() {
      const remote = yield* startRemoteBridge({ token, deltaDelayMs: 5 })
      const browser = yield* acquireChromium
      return yield* Effect.promise(async () => {
        const phone = { viewport: { width: 390, height: 760 }, deviceScaleFactor: 1 }
        const a = await browser.newPage(phone)
        const b = await browser.newPage(phone)
        const errors: Array<string> = []
        for (const page of [a, b]) page.on("pageerror", (e) => errors.push(e.message))
        await a.goto(pageUrl(remote, token))
        await b.goto(pageUrl(remote, token))
        for (const page of [a, b]) await page.waitForSelector("#connection[data-state=connected]")
        // A sends; both pages stream the reply.
        await a.fill("#input", "hello from the sofa")
        await a.click("#send")
        const reply = "You said: hello from the sofa."
        for (const page of [a, b]) {
          await page.waitForFunction(
            (text) => [...document.querySelectorAll(".msg[data-role=agent]")].some((m) => m.textContent === text),
            reply,
            { timeout: 20_000 }
          )
        }
        const userOnB = await b.$$eval(".msg[data-role=user]", (ms) => ms.map((m) => m.textContent))
        // A asks for a command: the approval appears on both pages.
        await a.fill("#input", "run ls -la")
        await a.click("#send")
        for (const page of [a, b]) await page.waitForSelector(".approval", { timeout: 20_000 })
        const commandOnA = await a.$eval(".approval code", (c) => c.textContent)
        if (updateScreenshots) {
          await a.screenshot({ path: screenshot("screenshot-approval.png") })
        }
        // B accepts; the card disappears from A, and both see the command complete.
        await b.click(".approval button[data-decision=accept]")
        await a.waitForSelector(".approval", { state: "detached", timeout: 20_000 })
        for (const page of [a, b]) {
          await page.waitForSelector(".command[data-status=completed]", { timeout: 20_000 })
          await page.waitForFunction(
            () =>
              [...document.querySelectorAll(".msg[data-role=agent]")].some((m) =>
                m.textContent?.endsWith("I ran ls -la.")
              ),
            undefined,
            { timeout: 20_000 }
          )
        }
        if (updateScreenshots) await b.screenshot({ path: screenshot("screenshot.png") })
        const approvalsLeft = await Promise.all([a, b].map((p) => p.$$eval(".approval", (c) => c.length)))
        // A wrong token is refused and sees nothing.
        const intruder = await browser.newPage(phone)
        await intruder.goto(pageUrl(remote, Redacted.make("wrong")))
        await intruder.waitForSelector("#connection[data-state=refused]", { timeout: 20_000 })
        const intruderMessages = await intruder.$$eval(".msg", (ms) => ms.length)
        return { errors, userOnB, commandOnA, approvalsLeft, intruderMessages }
      })
    }).pipe(Effect.scoped, Effect.provide(pool))
    const out = await Effect.runPromise(program)
    expect(out.errors).toEqual([])
    expect(out.userOnB).toContain("hello from the sofa")
    expect(out.commandOnA).toBe("ls -la")
    expect(out.approvalsLeft).toEqual([0, 0])
    expect(out.intruderMessages).toBe(0)
  }, 180_000)
})
