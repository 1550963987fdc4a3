/**
 * `@isthmus/wsl` — WSL facts as data: paths converted like `wslpath`, distro names, `wsl.exe`
 * output decoded and parsed (in any display language), `WSLENV`, `wsl.exe` command lines,
 * networking rules (`Networking.reachableHost`), availability states with advice (`WslState`)
 * and the typed errors of the services.
 *
 * This entry is **browser-safe**: every module here is pure (no Node built-ins, no processes), so
 * a renderer, a Tauri webview or a browser bundle can import it. The Node services — `Wsl` (the
 * Windows side, through `wsl.exe`), `WslHost` (what `Wsl` runs on), `WslEnvironment` (inside a
 * distro) and `Preflight` — are in `@isthmus/wsl/node`; the fakes are in `@isthmus/wsl/testing`.
 * @module
 */
export * as DistroList from "./DistroList.ts"
export * as DistroName from "./DistroName.ts"
export * as Networking from "./Networking.ts"
export * as WslCommand from "./WslCommand.ts"
export * as Wslenv from "./Wslenv.ts"
export * as WslError from "./WslError.ts"
export * as WslPath from "./WslPath.ts"
export * as WslState from "./WslState.ts"
