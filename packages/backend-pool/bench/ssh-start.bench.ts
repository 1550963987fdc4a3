/**
 * SSH run start: from `launch` to the backend's first output line (the loader ran, the watchdog
 * reported its group, the backend started), for a trivial backend (`sh`), on a real sshd
 * (`SshTestServer`: its own network namespace when root). Three ways:
 * - over the host's master connection, already open (what every run after the first pays);
 * - the first run on a host, which opens the master (what the first run pays);
 * - over a connection of its own (`multiplex: "never"`, what a Windows client pays every time):
 *   the baseline.
 * Without an sshd (Debian: `apt-get install openssh-server`) there are no rows.
 */
import { NodeServices } from "@effect/platform-node"
import { BackendSpec, type LaunchRequest, type SshConnection, SshLauncher, SshMaster } from "@isthmus/backend-pool"
import { SshTestServer } from "@isthmus/backend-pool/testing"
import { Effect, Exit, Layer, Redacted, Scope, Stream } from "effect"
import type { BenchRow } from "../../../scripts/bench-kit.ts"
import { median } from "./_shared.ts"

const runs = 15

const request = (connection: SshConnection.SshConnection, runId: number): LaunchRequest => {
  const spec: BackendSpec.BackendSpec = {
    id: "bench",
    launcher: { _tag: "Ssh", connection, command: "sh", args: ["-c", "echo up; exec sleep 300"] },
    stop: { signal: "SIGKILL", graceMs: 0 }
  }
  return {
    id: "bench",
    runId,
    spec,
    port: undefined,
    env: {},
    secrets: { BENCH_SECRET: Redacted.make("x") },
    bootstrapLine: undefined,
    stop: BackendSpec.resolveStop(spec)
  }
}

/** One run: launch, wait for the first stdout bytes, stop; the time to the first bytes in ms. */
const timeOneRun = (connection: SshConnection.SshConnection, runId: number) =>
  Effect.gen(function*() {
    const launcher = yield* SshLauncher.make()
    return yield* Effect.scoped(Effect.gen(function*() {
      const start = performance.now()
      const proc = yield* launcher.launch(request(connection, runId))
      yield* proc.stdout.pipe(Stream.take(1), Stream.runDrain)
      const took = performance.now() - start
      yield* proc.stop({ signal: "SIGKILL", graceMs: 0 })
      return took
    }))
  })

const services = (options: SshMaster.MastersOptions = {}) =>
  SshMaster.SshMasters.layer(options).pipe(Layer.provideMerge(NodeServices.layer))

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function*() {
    const lab = yield* SshTestServer.make()
    const fresh = { ...lab.connection, multiplex: "never" as const }
    const over: Array<number> = []
    const first: Array<number> = []
    const alone: Array<number> = []
    // Warm-up: the host's first connection (and the page cache) on nobody's clock.
    yield* timeOneRun(fresh, 0).pipe(Effect.provide(services()))
    // Over an open master: one pool (one set of masters) for all runs; the first run opens it.
    yield* Effect.scoped(Effect.gen(function*() {
      const scope = yield* Effect.scope
      const context = yield* Layer.buildWithScope(services(), scope)
      yield* timeOneRun(lab.connection, 1).pipe(Effect.provide(context))
      for (let i = 0; i < runs; i++) over.push(yield* timeOneRun(lab.connection, i + 2).pipe(Effect.provide(context)))
    }))
    // First run on a host: a new pool (new masters) each time.
    for (let i = 0; i < 5; i++) {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(services(), scope)
      first.push(yield* timeOneRun(lab.connection, i).pipe(Effect.provide(context)))
      yield* Scope.close(scope, Exit.void)
    }
    for (let i = 0; i < runs; i++) alone.push(yield* timeOneRun(fresh, i).pipe(Effect.provide(services())))
    return { isolation: lab.isolation, over, first, alone }
  })))
  if (Exit.isFailure(exit)) {
    process.stderr.write(`bench: ssh-start skipped: ${String(exit.cause).split("\n")[0]}\n`)
    return []
  }
  const { alone, first, isolation, over } = exit.value
  const where = isolation === "netns" ? "sshd in a network namespace" : "sshd on loopback"
  return [
    {
      name: `ssh run start over an open master (median of ${runs}, ${where})`,
      value: median(over),
      unit: "ms",
      baseline: "the same run over a connection of its own (multiplex never)",
      baselineValue: median(alone),
      better: "lower",
      target: "faster than a fresh connection",
      met: median(over) < median(alone)
    },
    {
      name: `ssh first run on a host, opening its master (median of 5, ${where})`,
      value: median(first),
      unit: "ms",
      baseline: "the same run over a connection of its own (multiplex never)",
      baselineValue: median(alone),
      better: "lower"
    }
  ]
}
