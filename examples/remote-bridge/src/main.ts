/**
 * `node examples/remote-bridge/src/main.ts [--codex PATH [--wsl DISTRO]] [--port N]`: one supervised
 * app-server session shared by every browser that opens the printed link (tokens are made fresh
 * each start; the full-access link and a read-only one are printed once, never logged elsewhere).
 * With `--wsl`, `codex app-server` runs inside that distro over `wsl.exe`'s stdio, and PATH is
 * its Linux path there.
 *
 * Exit codes: 0 `--help`; 130 stopped by Ctrl-C (SIGINT, as shells report it); 1 the bridge failed
 * (the message says why);
 * 2 bad usage (an unknown flag, a missing value, `--wsl` without `--codex`: the usage is printed).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher, WslLauncher } from "@isthmus/backend-pool"
import { Wsl } from "@isthmus/wsl/node"
import { Cause, Effect, Layer, Option, Redacted } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import { randomBytes } from "node:crypto"
import { pageUrl, startRemoteBridge } from "./host.ts"

/** The documented exit codes. */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const

const serve = (
  options: { readonly codex: string | undefined; readonly wsl: string | undefined; readonly port: number | undefined }
) =>
  Effect.gen(function*() {
    const token = Redacted.make(randomBytes(24).toString("base64url"))
    const viewerToken = Redacted.make(randomBytes(24).toString("base64url"))
    const remote = yield* startRemoteBridge({ ...options, token, viewerToken })
    const where = options.wsl === undefined ? "" : ` in WSL (${options.wsl})`
    console.log(`backend: ${options.codex === undefined ? "fake app-server" : `${options.codex} app-server${where}`}`)
    console.log(`open (full access): ${pageUrl(remote, token)}`)
    console.log(`open (read-only):   ${pageUrl(remote, viewerToken)}`)
    console.log("Ctrl-C stops the bridge and the backend.")
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(
      BackendPool.layer.pipe(
        Layer.provide(
          options.wsl === undefined ? LocalLauncher.layer : Layer.provide(WslLauncher.layer(), Wsl.layer())
        ),
        Layer.provide(NodeServices.layer)
      )
    )
  )

export const remoteBridge = Command.make(
  "remote-bridge",
  {
    codex: Flag.String("codex").pipe(
      Flag.withDescription("Run this `codex` binary's app-server instead of the fake app-server"),
      Flag.optional
    ),
    wsl: Flag.String("wsl").pipe(
      Flag.withDescription("Run codex app-server inside this WSL distro (--codex is then its Linux path there)"),
      Flag.optional
    ),
    port: Flag.Int("port").pipe(
      Flag.withDescription("The loopback port to serve the page and the WebSocket on (default: any free port)"),
      Flag.optional
    )
  },
  (flags) => {
    const options = {
      codex: Option.getOrUndefined(flags.codex),
      wsl: Option.getOrUndefined(flags.wsl),
      port: Option.getOrUndefined(flags.port)
    }
    if (options.wsl !== undefined && options.codex === undefined) {
      return Effect.sync(() => {
        console.error(
          "remote-bridge: --wsl DISTRO runs codex app-server inside the distro: give its Linux path there with --codex PATH"
        )
        process.exit(ExitCode.usage)
      })
    }
    return serve(options).pipe(
      // Say what failed, never a bare stack trace; Ctrl-C is an interruption, not a failure.
      Effect.tapCause((cause) =>
        Effect.sync(() => {
          if (!Cause.hasInterruptsOnly(cause)) {
            const error = Cause.squash(cause)
            process.stderr.write(`remote-bridge stopped: ${error instanceof Error ? error.message : String(error)}\n`)
          }
        })
      )
    )
  }
).pipe(
  Command.withDescription(
    "Share one supervised app-server session with every browser that opens the printed link. " +
      "Exit codes: 0 --help; 130 stopped by Ctrl-C; 1 the bridge failed; 2 bad usage."
  ),
  Command.withExamples([
    { command: "remote-bridge", description: "The fake app-server, on a free loopback port" },
    { command: "remote-bridge --codex $(which codex) --port 8765", description: "The real codex app-server" }
  ])
)

NodeRuntime.runMain(
  Command.runWith(remoteBridge, { version: "0.1.0" })(process.argv.slice(2)).pipe(
    // The usage (with the error) is already printed; bad usage exits 2, as POSIX tools do.
    Effect.catchIf(CliError.isCliError, () => Effect.sync(() => process.exit(ExitCode.usage))),
    Effect.provide(NodeServices.layer)
  ),
  { disableErrorReporting: true }
)
