/**
 * The typed errors of the `Wsl` service. Each names what failed and says what to do.
 * @module
 */
import * as Schema from "effect/Schema"
import { InvalidDistroNameError } from "./DistroName.ts"

export { InvalidDistroNameError }

/** `wsl.exe` cannot be run here: not Windows and no explicit executable, or the file is missing. */
export class WslUnavailableError extends Schema.TaggedError<WslUnavailableError>()("WslUnavailableError", {
  executable: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `WSL is not available (${this.executable}): ${this.reason}. Install WSL with \`wsl.exe --install\`, or point the Wsl layer at an executable.`
  }
}

/** Starting `wsl.exe` failed (the operating system refused to run it). */
export class WslSpawnError extends Schema.TaggedError<WslSpawnError>()("WslSpawnError", {
  executable: Schema.String,
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `${this.operation}: could not start ${this.executable}: ${
      this.cause instanceof Error ? this.cause.message : String(this.cause)
    }. Check that WSL is installed and the path is right.`
  }
}

/**
 * A call did not finish in time. `linuxStop` says what was done about its Linux side: killing
 * `wsl.exe` does not stop the Linux process (microsoft/WSL#2496), so the `Wsl` service stops its
 * process group inside the distro.
 */
export class WslTimeoutError extends Schema.TaggedError<WslTimeoutError>()("WslTimeoutError", {
  operation: Schema.String,
  distro: Schema.optional(Schema.String),
  timeoutMillis: Schema.Number,
  linuxStop: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `${this.operation}${
      this.distro === undefined ? "" : ` in ${this.distro}`
    } timed out after ${this.timeoutMillis} ms; ${
      this.linuxStop ?? "wsl.exe was killed, which does not stop a Linux process it started (microsoft/WSL#2496)"
    }. A cold distro can take long to start: run Wsl.preWarm first or raise the timeout.`
  }
}

/**
 * `wsl.exe` itself failed (exit code -1, seen as 4294967295 on Windows or 255 from `fake-wsl`),
 * as opposed to the Linux command's own exit code. `output` is wsl.exe's message (it prints
 * errors on stdout) and `errorCode` the `Wsl/…` code when it printed one.
 */
export class WslExeError extends Schema.TaggedError<WslExeError>()("WslExeError", {
  operation: Schema.String,
  distro: Schema.optional(Schema.String),
  exitCode: Schema.Number,
  output: Schema.String,
  errorCode: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const text = this.output.trim().split(/\r*\n/)[0] ?? ""
    return `${this.operation}: wsl.exe failed (exit ${this.exitCode})${
      this.errorCode === undefined ? "" : ` [${this.errorCode}]`
    }: ${text.length > 0 ? text : "no message"}${
      this.errorCode === "Wsl/Service/WSL_E_DISTRO_NOT_FOUND" ? " Check the name with `wsl.exe --list --quiet`." : ""
    }`
  }
}

/**
 * This `wsl.exe` does not know an option the call needs: it answered with its usage text (an
 * "Invalid command line option" line, localised, then the option list) and no error code. Old
 * inbox builds do this for `--status`, `--version`, `--shell-type`, … `output` is the whole text.
 */
export class WslUnsupportedError extends Schema.TaggedError<WslUnsupportedError>()("WslUnsupportedError", {
  operation: Schema.String,
  feature: Schema.String,
  exitCode: Schema.Number,
  output: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: this wsl.exe does not support ${this.feature} (it printed its usage text). Update WSL with \`wsl.exe --update\`, or install WSL from the Microsoft Store.`
  }
}

/** A Linux command run by the service exited with a non-zero code where success was needed. */
export class WslCommandError extends Schema.TaggedError<WslCommandError>()("WslCommandError", {
  operation: Schema.String,
  distro: Schema.String,
  command: Schema.String,
  exitCode: Schema.Number,
  stderr: Schema.String
}) {
  override get message(): string {
    const detail = this.stderr.trim()
    return `${this.operation}: \`${this.command}\` exited with ${this.exitCode} in ${this.distro}${
      detail.length > 0 ? `: ${detail}` : ""
    }${this.exitCode === 127 ? ". The command is not installed in the distribution." : ""}`
  }
}

/** Output of `wsl.exe` or of a probe could not be understood. */
export class WslParseError extends Schema.TaggedError<WslParseError>()("WslParseError", {
  operation: Schema.String,
  output: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: unexpected output (${this.reason}): ${JSON.stringify(this.output.slice(0, 200))}`
  }
}

/** An argument was refused before anything was run (bad user name, env name, tool name, cwd…). */
export class WslArgumentError extends Schema.TaggedError<WslArgumentError>()("WslArgumentError", {
  operation: Schema.String,
  argument: Schema.String,
  value: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: invalid ${this.argument} ${JSON.stringify(this.value)}: ${this.reason}`
  }
}

/**
 * Windows cannot reach a server bound to `bind` inside `distro` (networking mode `none`, a
 * loopback bind with `localhostForwarding=false`, a bind on another interface, …). `fix` says
 * what to change.
 */
export class WslUnreachableError extends Schema.TaggedError<WslUnreachableError>()("WslUnreachableError", {
  distro: Schema.String,
  bind: Schema.String,
  mode: Schema.String,
  reason: Schema.String,
  fix: Schema.String
}) {
  override get message(): string {
    return `A server bound to ${this.bind} in ${this.distro} is not reachable from Windows: ${this.reason}. Fix: ${this.fix}.`
  }
}

/** Errors of running `wsl.exe`. */
export type WslRunError = WslUnavailableError | WslSpawnError | WslTimeoutError | WslExeError

/** Every error of the `Wsl` service. */
export type WslError =
  | InvalidDistroNameError
  | WslUnavailableError
  | WslSpawnError
  | WslTimeoutError
  | WslExeError
  | WslCommandError
  | WslParseError
  | WslArgumentError
  | WslUnreachableError
  | WslUnsupportedError
