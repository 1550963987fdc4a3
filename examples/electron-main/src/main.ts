/**
 * examples/electron-main — the Electron entry: passes Electron's real APIs to `MainProcess.start`.
 * Bundled by `pnpm build` into `dist/main.mjs` (the package's `main`); `pnpm start` runs it.
 */
import { app, BrowserWindow, ipcMain } from "electron"
import { start } from "./MainProcess.ts"

start({ app, ipcMain, BrowserWindow })
