/**
 * The main process's logic under plain Node, Electron's APIs stubbed (no Electron binary here):
 * the native backend really runs (the Node binary with ELECTRON_RUN_AS_NODE=1, as Electron would
 * run itself), a settings change sent over IPC reaches the pool after start-up, quitting stops
 * every backend, and the preload runs as CommonJS with only `require("electron")` (what a
 * `sandbox: true` preload gets).
 */
import { BackendPool } from "@isthmus/backend-pool"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import * as NodeVm from "node:vm"
import { afterAll, describe, expect, it } from "vitest"
import { type ElectronApis, type MainProcess, start } from "../src/MainProcess.ts"

const appPath = fileURLToPath(new URL("..", import.meta.url))
const tmp = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "electron-main-"))

/** Electron's main-process APIs, recorded. */
const stubElectron = () => {
  const handlers = new Map<string, (event: unknown, ...args: Array<unknown>) => unknown>()
  const quitListeners: Array<(event: { preventDefault(): void }) => void> = []
  const windows: Array<{ options: unknown; loaded: Array<string> }> = []
  const exit: { resolve: (code: number | undefined) => void; promise?: Promise<number | undefined> } = {
    resolve: () => undefined
  }
  exit.promise = new Promise((resolve) => (exit.resolve = resolve))
  const apis: ElectronApis = {
    app: {
      whenReady: () => Promise.resolve(),
      getPath: (name) => NodePath.join(tmp, name),
      getAppPath: () => appPath,
      on: (_event, listener) => quitListeners.push(listener),
      exit: (code) => exit.resolve(code)
    },
    ipcMain: { handle: (channel, listener) => void handlers.set(channel, listener) },
    BrowserWindow: class {
      readonly record: { options: unknown; loaded: Array<string> }
      constructor(options: unknown) {
        this.record = { options, loaded: [] }
        windows.push(this.record)
      }
      loadFile(path: string) {
        this.record.loaded.push(path)
        return Promise.resolve()
      }
    }
  }
  const invoke = async (channel: string, ...args: Array<unknown>): Promise<unknown> => {
    const handler = handlers.get(channel)
    if (handler === undefined) throw new Error(`no handler for ${channel}`)
    return await handler({ sender: "renderer" }, ...args)
  }
  /** Sends `will-quit`; resolves with the code `app.exit` was called with. */
  const quit = () => {
    let prevented = false
    for (const listener of quitListeners) listener({ preventDefault: () => (prevented = true) })
    return exit.promise!.then((code) => ({ code, prevented }))
  }
  return { apis, handlers, windows, invoke, quit }
}

type Backend = { id: string; phase: string; url: string | null; token: string }

/** Polls `isthmus:backends` until `predicate` holds (real processes: bounded generously for a loaded CI). */
const until = async (
  invoke: (channel: string) => Promise<unknown>,
  predicate: (backends: Array<Backend>) => boolean
): Promise<Array<Backend>> => {
  const deadline = performance.now() + 60_000
  for (;;) {
    const backends = (await invoke("isthmus:backends")) as Array<Backend>
    if (predicate(backends)) return backends
    if (performance.now() > deadline) throw new Error(`backends never matched: ${JSON.stringify(backends)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const pidOf = (main: MainProcess, id: string) =>
  main.runtime.runPromise(
    Effect.flatMap(BackendPool, (pool) => pool.get(id)).pipe(
      Effect.flatMap((i) => i.snapshot),
      Effect.map((s) => s.pid)
    )
  )

const alive = (pid: number) => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return false
  }
}

describe("electron-main's main process (Electron stubbed)", () => {
  const electron = stubElectron()
  const main = start(electron.apis, {
    node: process.execPath,
    serverEntry: NodePath.join(appPath, "src", "server.ts")
  })
  afterAll(() => main.runtime.dispose()) // a failing test leaves no backend behind

  it("opens a sandboxed window with a CommonJS preload and the renderer page", async () => {
    await main.ready
    expect(electron.windows).toHaveLength(1)
    const { options, loaded } = electron.windows[0]!
    const prefs = (options as { webPreferences: Record<string, unknown> }).webPreferences
    expect(prefs).toMatchObject({ sandbox: true, contextIsolation: true, nodeIntegration: false })
    expect(NodeFs.existsSync(prefs["preload"] as string)).toBe(true)
    expect(loaded).toEqual([NodePath.join(appPath, "renderer", "index.html")])
    expect(NodeFs.existsSync(loaded[0]!)).toBe(true)
  })

  it("the native backend runs as Node with ELECTRON_RUN_AS_NODE=1 and answers its token only", async () => {
    const backends = await until(electron.invoke, (b) => b.some((x) => x.id === "native" && x.phase === "Ready"))
    const native = backends.find((b) => b.id === "native")!
    expect(native.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const ok = await fetch(native.url!, { headers: { authorization: `Bearer ${native.token}` } })
    expect(await ok.json()).toEqual({ name: "native", electronRunAsNode: "1" })
    expect((await fetch(native.url!, { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
  })

  it("a settings change after start-up reaches the pool; the native backend keeps running", async () => {
    const nativePid = await pidOf(main, "native")
    expect(await electron.invoke("isthmus:get-wsl-backend")).toEqual({ enabled: false, distro: null })
    expect(await electron.invoke("isthmus:set-wsl-backend", { enabled: true, distro: "Ubuntu; rm -rf /" }))
      .toMatchObject({ ok: false })
    expect(await electron.invoke("isthmus:set-wsl-backend", { enabled: true, distro: "Debian" })).toEqual({ ok: true })
    // The pool follows it: the WSL backend is registered (here it cannot start: no wsl.exe).
    await until(electron.invoke, (b) => b.map((x) => x.id).join() === "native,wsl-debian")
    expect(await electron.invoke("isthmus:get-wsl-backend")).toEqual({ enabled: true, distro: "Debian" })
    expect(JSON.parse(NodeFs.readFileSync(NodePath.join(tmp, "userData", "wsl-backend.json"), "utf8")))
      .toEqual({ enabled: true, distro: "Debian" })
    // Turned off again: removed, and the native backend was never restarted.
    expect(await electron.invoke("isthmus:set-wsl-backend", { enabled: false, distro: "Debian" })).toEqual({ ok: true })
    await until(electron.invoke, (b) => b.map((x) => x.id).join() === "native")
    expect(await pidOf(main, "native")).toBe(nativePid)
  })

  it("lists no distros (and does not throw) where wsl.exe is missing", async () => {
    expect(await electron.invoke("isthmus:list-distros")).toEqual([])
  })

  it("quitting waits for the pool to stop every backend, then exits", async () => {
    const pid = (await pidOf(main, "native"))!
    expect(alive(pid)).toBe(true)
    expect(await electron.quit()).toEqual({ code: 0, prevented: true })
    expect(alive(pid)).toBe(false)
  })
})

describe("the preload", () => {
  it("runs as CommonJS with only require('electron') and exposes four calls on their channels", async () => {
    const source = NodeFs.readFileSync(NodePath.join(appPath, "src", "preload.cjs"), "utf8")
    const exposed: Record<string, Record<string, (...args: Array<unknown>) => unknown>> = {}
    const invoked: Array<Array<unknown>> = []
    const electron = {
      contextBridge: { exposeInMainWorld: (key: string, api: (typeof exposed)[string]) => (exposed[key] = api) },
      ipcRenderer: { invoke: (...args: Array<unknown>) => (invoked.push(args), Promise.resolve(null)) }
    }
    // A sandboxed preload: a CommonJS wrapper, no Node modules but a few (`electron` here).
    const sandboxRequire = (name: string) => {
      if (name === "electron") return electron
      throw new Error(`module not found: ${name} (a sandboxed preload cannot require it)`)
    }
    const module = { exports: {} }
    NodeVm.runInNewContext(`(function (require, module, exports) {${source}\n})`, {})(
      sandboxRequire,
      module,
      module.exports
    )
    expect(Object.keys(exposed["isthmus"]!).toSorted()).toEqual([
      "backends",
      "getWslBackend",
      "listDistros",
      "setWslBackend"
    ])
    await exposed["isthmus"]!["setWslBackend"]!({ enabled: true, distro: "Debian" })
    await exposed["isthmus"]!["backends"]!()
    expect(invoked).toEqual([["isthmus:set-wsl-backend", { enabled: true, distro: "Debian" }], ["isthmus:backends"]])
  })
})
