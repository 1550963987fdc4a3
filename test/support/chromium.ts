/**
 * Headless Chromium for the browser tests: Debian's `chromium` (scripts/test.sh installs it;
 * no browser is ever downloaded), driven by playwright-core.
 */
import { Effect, type Scope } from "effect"
import { existsSync } from "node:fs"
import { type Browser, chromium } from "playwright-core"

export const chromiumPath = "/usr/bin/chromium"

/**
 * Whether browser tests should be skipped: only on a machine without Chromium and outside CI.
 * Under CI a missing browser fails the tests instead of hiding them.
 */
export const skipWithoutChromium = !existsSync(chromiumPath) && process.env["CI"] !== "true"

/**
 * Whether a browser test should replace the screenshots checked in next to its README
 * (`UPDATE_SCREENSHOTS=1`; the older `UPDATE_SCREENSHOT=1` is accepted as an alias). Otherwise
 * screenshots go to a temporary directory or are not taken.
 */
export const updateScreenshots = process.env["UPDATE_SCREENSHOTS"] === "1" || process.env["UPDATE_SCREENSHOT"] === "1"

/** Flags for a closed network: no background requests, no sandbox (tests run as root), no GPU. */
export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** A browser that is closed with the scope. */
export const acquireChromium: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })),
  (browser) => Effect.promise(() => browser.close())
)
