/**
 * examples/daemon — a small backend built on the isthmus packages, the kind a desktop host
 * supervises:
 *
 * - reads its bootstrap envelope (name, token, tick period) with `@isthmus/backend-pool/child`;
 * - binds port 0 on loopback twice: the minimal daemon dialect over NDJSON/TCP with a token `auth`
 *   first, and the same methods over WebSocket with `Authorization: Bearer` on the upgrade;
 * - reports its URL in the ready signal (no port race);
 * - broadcasts `daemon_tick` to authenticated clients every tick;
 * - exits when its host goes away (the lifetime descriptor reaches EOF); started by hand with a
 *   pipe on stdin, when that pipe closes.
 *
 * Run by hand: `DAEMON_TOKEN=s3cret node examples/daemon/src/main.ts` (the token never goes in argv).
 * `--help` prints the usage. Exit codes: 0 stopped normally (its host or stdin pipe went away),
 * 1 failed while running, 2 bad command line or no token.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { ENV_LIFETIME_FD, exitWhenHostGone, readBootstrap, signalReady } from "@isthmus/backend-pool/child"
import { Console, Effect, Option, Redacted, Schedule } from "effect"
import { Command } from "effect/cli"
import { fstatSync } from "node:fs"
import { DaemonBootstrap, type DaemonBootstrap as Bootstrap } from "./Bootstrap.ts"
import { startDaemon } from "./Daemon.ts"

const fromEnvironment = (): Option.Option<Bootstrap> => {
  const token = process.env["DAEMON_TOKEN"]
  return token === undefined || token.length === 0
    ? Option.none()
    : Option.some({ name: process.env["DAEMON_NAME"] ?? "daemon", token })
}

/**
 * Under a pool the lifetime descriptor is named in the environment. Started by hand, stdin is the
 * lifetime pipe only when it is a pipe (or socket): a terminal or /dev/null says nothing about a
 * parent, and /dev/null would read as EOF at once.
 */
const lifetime = (): { readonly fd: number } | undefined => {
  if (process.env[ENV_LIFETIME_FD] !== undefined) return undefined // the pool's choice
  try {
    const stat = fstatSync(0)
    return stat.isFIFO() || stat.isSocket() ? { fd: 0 } : undefined
  } catch {
    return undefined
  }
}

/** Exit codes (README and `--help`). */
export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const

const serve = Effect.gen(function*() {
  const bootstrap = Option.orElse(yield* readBootstrap(DaemonBootstrap), fromEnvironment)
  if (Option.isNone(bootstrap)) {
    yield* Console.error(
      "daemon: no token. Start it from a pool (which hands it a bootstrap envelope), or by hand with\n" +
        "  DAEMON_TOKEN=<token> node examples/daemon/src/main.ts\n" +
        "(the token is never read from the command line). --help for more."
    )
    process.exitCode = exitCodes.usage
    return
  }
  yield* exitWhenHostGone(lifetime())
  const { name, token, tickMs } = bootstrap.value
  const daemon = yield* startDaemon({ name, token: Redacted.make(token) })
  console.log(`daemon ${name}: pid ${process.pid}, tcp ${daemon.tcpUrl}, ws ${daemon.wsUrl}`)
  yield* signalReady({ url: daemon.tcpUrl })
  yield* daemon.tick.pipe(Effect.repeat(Schedule.spaced(`${tickMs ?? 1000} millis`)))
})

const handler: Effect.Effect<void, Error> = Effect.scoped(serve).pipe(
  Effect.asVoid,
  Effect.mapError((e) => (e instanceof Error ? e : new Error(String(e))))
)

const daemon = Command.make("daemon", {}, () => handler).pipe(
  Command.withDescription(
    "A backend for a pool: reads its token from the pool's bootstrap envelope (or DAEMON_TOKEN by hand), " +
      "serves ping, daemon_info, list_dir and process_stats over NDJSON/TCP and WebSocket on loopback, " +
      "and exits when its host goes away (or, by hand, when a pipe on its stdin closes). " +
      "Exit codes: 0 stopped normally, 1 failed while running, 2 bad command line or no token."
  ),
  Command.withExamples([
    { command: "DAEMON_TOKEN=s3cret daemon", description: "by hand; stop it with Ctrl-C" },
    { command: "some-producer | DAEMON_TOKEN=s3cret daemon", description: "exits when the pipe closes" }
  ])
)

const program = Command.run(daemon, { version: "0.1.0" }).pipe(
  // effect/cli has printed the usage, and what was wrong with the command line if anything.
  Effect.catchTag("ShowHelp", (help) =>
    Effect.sync(() => {
      process.exitCode = help.errors.length > 0 ? exitCodes.usage : exitCodes.ok
    })),
  Effect.catch((error) =>
    Effect.sync(() => {
      const tag = (error as { readonly _tag?: string })._tag ?? ""
      const cliError = [
        "UnrecognizedOption",
        "DuplicateOption",
        "MissingOption",
        "MissingArgument",
        "UnexpectedArgument",
        "InvalidValue",
        "UnknownSubcommand",
        "ValidationError"
      ].includes(tag)
      process.exitCode = cliError ? exitCodes.usage : exitCodes.failed
      if (!cliError) console.error(`daemon: ${error instanceof Error ? error.message : String(error)}`)
    })
  ),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(program, { disableErrorReporting: true })
