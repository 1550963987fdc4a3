/**
 * @isthmus/wsl — WSL interrogation as Effect services: faithful paths, distros, exec,
 * addresses, networking mode, WSLENV and preflight.
 *
 * Pure modules (browser-safe): `WslPath`, `DistroName`, `DistroList`, `Wslenv`, `WslCommand`,
 * `Networking`. Node services: `Wsl` (Windows side, through `wsl.exe`), `WslHost` (what `Wsl`
 * runs on) and `WslEnvironment` (inside a distro).
 * @module
 */
export * as DistroList from "./DistroList.ts"
export * as DistroName from "./DistroName.ts"
export * as Networking from "./Networking.ts"
export * as Preflight from "./Preflight.ts"
export * as Wsl from "./Wsl.ts"
export * as WslCommand from "./WslCommand.ts"
export * as Wslenv from "./Wslenv.ts"
export * as WslEnvironment from "./WslEnvironment.ts"
export * as WslError from "./WslError.ts"
export * as WslHost from "./WslHost.ts"
export * as WslPath from "./WslPath.ts"
export * as WslProbes from "./WslProbes.ts"
