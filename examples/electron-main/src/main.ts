/**
 * examples/electron-main — the pool and the WSL settings wired into an Electron main process.
 *
 * IPC (all `ipcMain.handle`, so the renderer awaits typed answers):
 *   isthmus:list-distros      → the distros `wsl.exe --list --verbose` reports
 *   isthmus:get-wsl-backend   → the current WSL backend setting
 *   isthmus:set-wsl-backend   → validates and stores a new setting; the pool follows it
 *   isthmus:backends          → each backend's state, URL and token, for the renderer to connect
 *
 * Type-checked against Electron's published types; not run here (no Electron binary is downloaded).
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, type BackendSpec, WslLauncher } from "@isthmus/backend-pool"
import { Wsl } from "@isthmus/wsl/node"
import { Effect, Exit, Layer, ManagedRuntime, Schema, SubscriptionRef } from "effect"
import { app, BrowserWindow, ipcMain } from "electron"
import { randomBytes } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type BackendPaths, desiredSpecs, WslBackendSetting } from "./Settings.ts"

const settingsFile = () => join(app.getPath("userData"), "wsl-backend.json")

const loadSetting = (): WslBackendSetting => {
  try {
    return Schema.decodeUnknownSync(WslBackendSetting)(JSON.parse(readFileSync(settingsFile(), "utf8")))
  } catch {
    return { enabled: false, distro: null }
  }
}

const paths: BackendPaths = {
  node: process.execPath,
  serverEntry: join(app.getAppPath(), "server", "main.js"),
  wslNode: "node",
  wslServerEntry: "/opt/my-app/server/main.js",
  logDir: join(app.getPath("logs"), "backends")
}

// One runtime for the app's lifetime: the pool, its Local and Wsl launchers, and the Wsl service.
const runtime = ManagedRuntime.make(
  BackendPool.layer.pipe(
    Layer.provide(WslLauncher.layer({ requirements: { node: ">=22.19" } })),
    Layer.provideMerge(Layer.merge(Wsl.layer(), NodeServices.layer))
  )
)

const tokens = new Map<string, string>()
const tokenFor = (id: string) => {
  let token = tokens.get(id)
  if (token === undefined) {
    token = randomBytes(32).toString("base64url")
    tokens.set(id, token)
  }
  return token
}

const main = Effect.gen(function*() {
  const pool = yield* BackendPool
  const wsl = yield* Wsl.Wsl
  let setting = loadSetting()
  const desired = yield* SubscriptionRef.make<ReadonlyArray<BackendSpec.BackendSpec>>(
    desiredSpecs(setting, paths, tokenFor)
  )
  yield* pool.follow(desired)

  ipcMain.handle("isthmus:list-distros", () =>
    runtime.runPromise(
      wsl.listDistros.pipe(
        Effect.map((distros) =>
          distros.map((d) => ({ name: d.name, state: d.state, version: d.version, isDefault: d.isDefault }))
        ),
        // The UI shows an empty list (and says why) rather than an exception.
        Effect.catch(() => Effect.succeed([]))
      )
    ))
  ipcMain.handle("isthmus:get-wsl-backend", () => setting)
  ipcMain.handle("isthmus:set-wsl-backend", async (_event, input: unknown) => {
    const decoded = Schema.decodeUnknownExit(WslBackendSetting)(input)
    if (Exit.isFailure(decoded)) {
      return { ok: false as const, message: "invalid WSL backend setting (distro names follow WSL's rules)" }
    }
    setting = decoded.value
    writeFileSync(settingsFile(), JSON.stringify(setting))
    await runtime.runPromise(SubscriptionRef.set(desired, desiredSpecs(setting, paths, tokenFor)))
    return { ok: true as const }
  })
  ipcMain.handle("isthmus:backends", () =>
    runtime.runPromise(
      pool.status.pipe(
        Effect.map((snapshots) =>
          snapshots.map((s) => ({
            id: s.id,
            label: s.label,
            phase: s.phase,
            url: s.url ?? null,
            token: tokenFor(s.id)
          }))
        )
      )
    ))
}).pipe(Effect.scoped)

void app.whenReady().then(async () => {
  await runtime.runPromise(Effect.forkDetach(Effect.andThen(main, Effect.never)))
  const window = new BrowserWindow({
    width: 1100,
    height: 720,
    webPreferences: { preload: join(import.meta.dirname, "preload.js"), contextIsolation: true, sandbox: true }
  })
  await window.loadFile(join(app.getAppPath(), "renderer", "index.html"))
})

// Closing the runtime closes the pool's scope: every backend is stopped, whole process groups.
app.on("will-quit", (event) => {
  event.preventDefault()
  void runtime.dispose().finally(() => app.exit(0))
})
