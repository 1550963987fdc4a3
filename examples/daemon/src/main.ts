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
 */
import { NodeRuntime } from "@effect/platform-node"
import { ENV_LIFETIME_FD, exitWhenHostGone, readBootstrap, signalReady } from "@isthmus/backend-pool/child"
import { Effect, Option, Redacted, Schedule } from "effect"
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

const program = Effect.gen(function*() {
  const bootstrap = Option.orElse(yield* readBootstrap(DaemonBootstrap), fromEnvironment)
  if (Option.isNone(bootstrap)) {
    return yield* Effect.fail(
      new Error("no bootstrap envelope and no DAEMON_TOKEN: start me from a pool, or set DAEMON_TOKEN")
    )
  }
  yield* exitWhenHostGone(lifetime())
  const { name, token, tickMs } = bootstrap.value
  const daemon = yield* startDaemon({ name, token: Redacted.make(token) })
  console.log(`daemon ${name}: pid ${process.pid}, tcp ${daemon.tcpUrl}, ws ${daemon.wsUrl}`)
  yield* signalReady({ url: daemon.tcpUrl })
  yield* daemon.tick.pipe(Effect.repeat(Schedule.spaced(`${tickMs ?? 1000} millis`)))
})

NodeRuntime.runMain(Effect.scoped(program))
