/** The renderer's window onto the main process: four calls, nothing else. */
import { contextBridge, ipcRenderer } from "electron"

contextBridge.exposeInMainWorld("isthmus", {
  listDistros: () => ipcRenderer.invoke("isthmus:list-distros"),
  getWslBackend: () => ipcRenderer.invoke("isthmus:get-wsl-backend"),
  setWslBackend: (setting: { enabled: boolean; distro: string | null }) =>
    ipcRenderer.invoke("isthmus:set-wsl-backend", setting),
  backends: () => ipcRenderer.invoke("isthmus:backends")
})
