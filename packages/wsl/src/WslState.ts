/**
 * Is WSL usable on this Windows machine, and if not, what should the user do? A typed answer
 * instead of "`wsl.exe` exists" (windows-reality.md §3): since KB5004296 `System32\wsl.exe` is an
 * installer stub on machines without WSL, so the file existing says nothing.
 *
 * `Wsl.state` (in `@isthmus/wsl/node`) decides it the way mature tools do: `wsl.exe --status`
 * exit 0 means installed (an old inbox `wsl.exe` that does not know `--status` falls back to
 * `--list --quiet`), a non-empty `--list --quiet` means there are distributions, and only starting
 * a distribution tells whether WSL 2 can run (its `Wsl/…/HCS_E_…` error code). This module holds
 * the states, the rules that read an error code, and the advice for each state.
 *
 * Pure module: no Node built-ins.
 * @module
 */
import * as Option from "effect/Option"
import type * as DistroList from "./DistroList.ts"
import type * as DistroName from "./DistroName.ts"

/** No usable `wsl.exe`: missing, or the installer stub that answers everything with its usage text. */
export interface NotInstalled {
  readonly _tag: "NotInstalled"
  /** The executable probed. */
  readonly executable: string
  /** Why, in words (the file is missing; the stub printed its usage text and exited 1; …). */
  readonly reason: string
  /** What `wsl.exe` printed, whole (empty when it could not run). */
  readonly output: string
}

/**
 * WSL is installed but WSL 2 cannot start a VM: `HCS_E_HYPERV_NOT_INSTALLED` (0x80370102). WSL
 * itself cannot tell "Virtual Machine Platform missing" from "virtualization off in the firmware"
 * (microsoft/WSL#40723), so the advice names both.
 */
export interface VirtualizationDisabled {
  readonly _tag: "VirtualizationDisabled"
  /** The `Wsl/…` error code, e.g. `Wsl/Service/CreateInstance/CreateVm/HCS/HCS_E_HYPERV_NOT_INSTALLED`. */
  readonly errorCode: string
  readonly output: string
}

/**
 * An optional component is missing: the Virtual Machine Platform is only partly installed
 * (`HCS_E_SERVICE_NOT_AVAILABLE`, 0x80370114), or a WSL 1 distribution needs the "Windows
 * Subsystem for Linux" component (`WSL_E_WSL_OPTIONAL_COMPONENT_REQUIRED`).
 */
export interface ComponentMissing {
  readonly _tag: "ComponentMissing"
  readonly component: "VirtualMachinePlatform" | "WindowsSubsystemForLinux"
  readonly errorCode: string
  readonly output: string
}

/** WSL is installed and has no distribution. */
export interface NoDistributions {
  readonly _tag: "NoDistributions"
  /** `wsl.exe --version`; `None` for an inbox `wsl.exe`. */
  readonly version: Option.Option<DistroList.Version>
}

/** WSL is installed and has distributions; `started` says whether starting the default one was tried and worked. */
export interface Ready {
  readonly _tag: "Ready"
  /** `wsl.exe --version`; `None` for an inbox `wsl.exe` (update it for mirrored networking and `WSL_UTF8`). */
  readonly version: Option.Option<DistroList.Version>
  readonly distros: ReadonlyArray<DistroList.DistroInfo>
  readonly defaultDistro: Option.Option<DistroName.DistroName>
  /** The default distribution was started (`--exec true`) and ran. `false`: not tried. */
  readonly started: boolean
}

/**
 * Something else: `wsl.exe` failed in a way the states above do not cover; `output` is what it
 * printed. {@link advice} names the fix for the codes it knows (`WSL_E_LOCAL_SYSTEM_NOT_SUPPORTED`:
 * the host runs as LocalSystem).
 */
export interface Unknown {
  readonly _tag: "Unknown"
  /** The command that failed, e.g. `wsl.exe --status`. */
  readonly command: string
  readonly exitCode: number
  readonly errorCode: Option.Option<string>
  readonly output: string
}

/** Whether WSL is usable here, and if not, why. */
export type WslState = NotInstalled | VirtualizationDisabled | ComponentMissing | NoDistributions | Ready | Unknown

/** `true` when WSL can run commands (state `Ready`). */
export const isReady = (state: WslState): state is Ready => state._tag === "Ready"

/**
 * What starting a distribution's failure means (windows-reality.md §3, `wslutil.cpp`
 * `GetErrorString`): a `HCS_E_HYPERV_NOT_INSTALLED` token is virtualization, a
 * `HCS_E_SERVICE_NOT_AVAILABLE` token a partly installed Virtual Machine Platform, a
 * `WSL_E_WSL_OPTIONAL_COMPONENT_REQUIRED` token the WSL 1 component; anything else is `Unknown`.
 */
export const fromStartFailure = (
  command: string,
  exitCode: number,
  errorCode: string | undefined,
  output: string
): WslState => {
  const name = errorCode?.split("/").pop()
  if (errorCode !== undefined && (name === "HCS_E_HYPERV_NOT_INSTALLED" || name === "0x80370102")) {
    return { _tag: "VirtualizationDisabled", errorCode, output }
  }
  if (errorCode !== undefined && (name === "HCS_E_SERVICE_NOT_AVAILABLE" || name === "0x80370114")) {
    return { _tag: "ComponentMissing", component: "VirtualMachinePlatform", errorCode, output }
  }
  if (errorCode !== undefined && name === "WSL_E_WSL_OPTIONAL_COMPONENT_REQUIRED") {
    return { _tag: "ComponentMissing", component: "WindowsSubsystemForLinux", errorCode, output }
  }
  return { _tag: "Unknown", command, exitCode, errorCode: Option.fromNullishOr(errorCode), output }
}

/** One paragraph that tells the user what to do in `state`. */
export const advice = (state: WslState): string => {
  switch (state._tag) {
    case "NotInstalled":
      return `WSL is not installed (${state.reason}). Install it from an elevated terminal with \`wsl.exe --install\`, then restart Windows.`
    case "VirtualizationDisabled":
      return `WSL is installed but cannot start a WSL 2 virtual machine [${state.errorCode}]. Enable the "Virtual Machine Platform" component (\`wsl.exe --install --no-distribution\` from an elevated terminal) and turn on virtualization (Intel VT-x / AMD-V, "SVM") in the computer's firmware settings, then restart. See https://aka.ms/enablevirtualization.`
    case "ComponentMissing":
      return state.component === "VirtualMachinePlatform"
        ? `The "Virtual Machine Platform" component is not fully installed [${state.errorCode}]. Run \`wsl.exe --install --no-distribution\` from an elevated terminal and restart Windows.`
        : `This WSL 1 distribution needs the "Windows Subsystem for Linux" optional component [${state.errorCode}]. Run \`wsl.exe --install --enable-wsl1 --no-distribution\` from an elevated terminal, or convert the distribution with \`wsl.exe --set-version <distro> 2\`.`
    case "NoDistributions":
      return "WSL is installed but has no Linux distribution. Install one with `wsl.exe --install -d Ubuntu` (list them with `wsl.exe --list --online`)."
    case "Ready":
      return `WSL is ready${
        Option.match(state.version, {
          onNone: () => " (inbox wsl.exe: run `wsl.exe --update` for the current WSL)",
          onSome: (v) => ` (WSL ${v.wsl})`
        })
      }; ${state.distros.length} distribution${state.distros.length === 1 ? "" : "s"}${
        Option.match(state.defaultDistro, { onNone: () => "", onSome: (d) => `, default ${d}` })
      }.`
    case "Unknown":
      if (Option.exists(state.errorCode, (c) => c.endsWith("/WSL_E_LOCAL_SYSTEM_NOT_SUPPORTED"))) {
        return `\`${state.command}\` was refused [${
          Option.getOrThrow(state.errorCode)
        }]: WSL does not run as LocalSystem (a Windows service account). Run this as the signed-in user who owns the distributions, e.g. from a scheduled task of that user (logon type S4U), not from a service.`
      }
      return `\`${state.command}\` failed (exit ${state.exitCode}${
        Option.match(state.errorCode, { onNone: () => "", onSome: (c) => `, ${c}` })
      }) in a way isthmus does not recognise. Run it in a terminal to see the message; \`wsl.exe --update\` or \`wsl.exe --shutdown\` fix many service errors.`
  }
}
