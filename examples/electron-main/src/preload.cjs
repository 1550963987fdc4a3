// The renderer's window onto the main process: four calls, nothing else.
// CommonJS on purpose: with `sandbox: true` (Electron's default since 20) a preload is not an ES
// module and may `require` only a few modules, `electron` among them.
"use strict"
const { contextBridge, ipcRenderer } = require("electron")

contextBridge.exposeInMainWorld("isthmus", {
  listDistros: () => ipcRenderer.invoke("isthmus:list-distros"),
  getWslBackend: () => ipcRenderer.invoke("isthmus:get-wsl-backend"),
  setWslBackend: (setting) => ipcRenderer.invoke("isthmus:set-wsl-backend", setting),
  backends: () => ipcRenderer.invoke("isthmus:backends")
})
