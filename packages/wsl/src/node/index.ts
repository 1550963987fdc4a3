/**
 * `@isthmus/wsl/node` — the Node services of `@isthmus/wsl`:
 *
 * - `Wsl`: WSL from the Windows side, through `wsl.exe` (distros, `exec`, `runScript`, the real
 *   `wslpath`, addresses, networking mode, reachable host, preflight, …);
 * - `WslHost`: what `Wsl` runs on (the real `wsl.exe`, or a fake from `@isthmus/wsl/testing`);
 * - `WslEnvironment`: WSL as seen from inside a distro;
 * - `Preflight`: the preflight probe and its verdict;
 * - `WslProbes`: the probe scripts the service sends on stdin.
 *
 * The pure modules (`WslPath`, `DistroList`, `Wslenv`, `Networking`, errors, …) are in the
 * browser-safe root entry, `@isthmus/wsl`.
 * @module
 */
export * as Preflight from "./Preflight.ts"
export * as Wsl from "./Wsl.ts"
export * as WslEnvironment from "./WslEnvironment.ts"
export * as WslHost from "./WslHost.ts"
export * as WslProbes from "./WslProbes.ts"
