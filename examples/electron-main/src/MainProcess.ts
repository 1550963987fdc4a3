/**
 * The main process's logic, with Electron's APIs passed in (so a test can run it under plain Node
 * with stubs; `main.ts` passes the real ones).
 *
 * - One `ManagedRuntime` for the app's lifetime: `BackendPool` with the `Local` and `Wsl` launchers
 *   and the `Wsl` service, plus the app's state (the setting and the desired specs).
 * - `BackendPool.follow` runs in that runtime's scope (a layer), so it follows every settings
 *   change until the app quits; quitting disposes the runtime, which stops every backend.
 * - IPC (all `ipcMain.handle`, so the renderer awaits typed answers):
 *   `isthmus:list-distros`, `isthmus:get-wsl-backend`, `isthmus:set-wsl-backend` (validated,
 *   stored, followed by the pool), `isthmus:backends` (state, URL and token per backend).
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, type BackendSpec, WslLauncher } from "@isthmus/backend-pool"
import { Wsl } from "@isthmus/wsl/node"
import { Context, Effect, Exit, Layer, ManagedRuntime, Schema, SubscriptionRef } from "effect"
import { randomBytes } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type BackendPaths, desiredSpecs, WslBackendSetting } from "./Settings.ts"

/** The parts of Electron's main-process API this app uses (the real `electron` module fits). */
export interface ElectronApis {
  readonly app: {
    whenReady(): Promise<void>
    getPath(name: "userData" | "logs"): string
    getAppPath(): string
    on(event: "will-quit", listener: (event: { preventDefault(): void }) => void): unknown
    exit(exitCode?: number): void
  }
  readonly ipcMain: {
    handle(channel: string, listener: (event: unknown, ...args: Array<unknown>) => unknown): void
  }
  readonly BrowserWindow: new(options: {
    width: number
    height: number
    webPreferences: { preload: string; contextIsolation: boolean; sandbox: boolean; nodeIntegration: boolean }
  }) => { loadFile(path: string): Promise<void> }
}

export interface MainOptions {
  /** The binary that runs the native backend (default `process.execPath`: Electron's, run as Node). */
  readonly node?: string | undefined
  /** The native backend's entry (default `<app>/dist/server.mjs`, built by `pnpm build`). */
  readonly serverEntry?: string | undefined
  /** The pool and `Wsl` service (default: the real launchers on this machine's `wsl.exe`). */
  readonly services?: Layer.Layer<BackendPool | Wsl.Wsl> | undefined
}

/** The running app, for `main.ts` (nothing) and tests (everything). */
export interface MainProcess {
  readonly runtime: ManagedRuntime.ManagedRuntime<BackendPool | Wsl.Wsl | AppState, never>
  /** Resolves once the pool follows the settings and the window is open. */
  readonly ready: Promise<void>
}

/** The current setting and the desired specs the pool follows. */
export class AppState extends Context.Service<AppState, {
  readonly setting: SubscriptionRef.SubscriptionRef<WslBackendSetting>
  readonly desired: SubscriptionRef.SubscriptionRef<ReadonlyArray<BackendSpec.BackendSpec>>
}>()("electron-main/AppState") {}

const defaultServices: Layer.Layer<BackendPool | Wsl.Wsl> = BackendPool.layer.pipe(
  Layer.provide(WslLauncher.layer({ requirements: { node: ">=22.19" } })),
  Layer.provideMerge(Layer.merge(Wsl.layer(), NodeServices.layer))
)

/** Wires the pool into the main process; call once, before or after `app.whenReady`. */
export const start = (electron: ElectronApis, options: MainOptions = {}): MainProcess => {
  const { app, ipcMain, BrowserWindow } = electron
  const settingsFile = join(app.getPath("userData"), "wsl-backend.json")
  const loadSetting = (): WslBackendSetting => {
    try {
      return Schema.decodeUnknownSync(WslBackendSetting)(JSON.parse(readFileSync(settingsFile, "utf8")))
    } catch {
      return { enabled: false, distro: null }
    }
  }
  const paths: BackendPaths = {
    node: options.node ?? process.execPath,
    serverEntry: options.serverEntry ?? join(app.getAppPath(), "dist", "server.mjs"),
    wslNode: "node",
    wslServerEntry: "/opt/my-app/server/main.js",
    logDir: join(app.getPath("logs"), "backends")
  }
  // Stable per id, so an unchanged backend keeps its spec (and keeps running) across changes.
  const tokens = new Map<string, string>()
  const tokenFor = (id: string) => {
    let token = tokens.get(id)
    if (token === undefined) {
      token = randomBytes(32).toString("base64url")
      tokens.set(id, token)
    }
    return token
  }

  // The state and the follow live in the runtime's scope: as long as the app does.
  const appState = Layer.effect(
    AppState,
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const initial = loadSetting()
      const setting = yield* SubscriptionRef.make(initial)
      const desired = yield* SubscriptionRef.make(desiredSpecs(initial, paths, tokenFor))
      yield* pool.follow(desired)
      return AppState.of({ setting, desired })
    })
  )
  const runtime = ManagedRuntime.make(Layer.provideMerge(appState, options.services ?? defaultServices))

  ipcMain.handle("isthmus:list-distros", () =>
    runtime.runPromise(
      Effect.flatMap(Wsl.Wsl, (wsl) => wsl.listDistros).pipe(
        Effect.map((distros) =>
          distros.map((d) => ({ name: d.name, state: d.state, version: d.version, isDefault: d.isDefault }))
        ),
        // The UI shows an empty list rather than an exception (no WSL, or wsl.exe failing).
        Effect.catch(() => Effect.succeed([]))
      )
    ))
  ipcMain.handle(
    "isthmus:get-wsl-backend",
    () => runtime.runPromise(Effect.flatMap(AppState, (s) => SubscriptionRef.get(s.setting)))
  )
  ipcMain.handle("isthmus:set-wsl-backend", (_event, input) => {
    const decoded = Schema.decodeUnknownExit(WslBackendSetting)(input)
    if (Exit.isFailure(decoded)) {
      return { ok: false as const, message: "invalid WSL backend setting (distro names follow WSL's rules)" }
    }
    const setting = decoded.value
    return runtime.runPromise(Effect.gen(function*() {
      const state = yield* AppState
      yield* Effect.sync(() => {
        mkdirSync(app.getPath("userData"), { recursive: true })
        writeFileSync(settingsFile, JSON.stringify(setting))
      })
      yield* SubscriptionRef.set(state.setting, setting)
      // The pool's follow picks this up (bursts are coalesced) and reconciles.
      yield* SubscriptionRef.set(state.desired, desiredSpecs(setting, paths, tokenFor))
      return { ok: true as const }
    }))
  })
  ipcMain.handle("isthmus:backends", () =>
    runtime.runPromise(
      Effect.flatMap(BackendPool, (pool) => pool.status).pipe(
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

  // Quitting waits for the runtime to close: every backend's whole process group is stopped.
  let quitting = false
  app.on("will-quit", (event) => {
    event.preventDefault()
    if (quitting) return
    quitting = true
    void runtime.dispose().finally(() => app.exit(0))
  })

  const ready = app.whenReady().then(async () => {
    await runtime.runPromise(Effect.void) // builds the layers: the pool starts following
    const window = new BrowserWindow({
      width: 1100,
      height: 720,
      webPreferences: {
        preload: join(app.getAppPath(), "src", "preload.cjs"),
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false
      }
    })
    await window.loadFile(join(app.getAppPath(), "renderer", "index.html"))
  })
  return { runtime, ready }
}
