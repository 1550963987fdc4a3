/**
 * examples/orchestrator — the README's demo: a host that supervises several daemons
 * (examples/daemon) from `backends.json`, the way a desktop app would.
 *
 *   node src/main.ts                 scripted run: start, talk, crash + recovery, settings edit, shutdown
 *   node src/main.ts --watch         keep running; edit the settings file and watch the pool follow
 *   node src/main.ts --settings F    use settings file F (default: a copy of backends.json)
 *   node src/main.ts --help          usage, flags and exit codes
 *
 * Exit codes: 0 the run completed (or --help); 1 a step did not happen (the message says which and
 * why); 2 bad usage (an unknown flag or a missing value: the usage is printed with the error).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Option } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import { errorMessage, runOrchestrator } from "./Orchestrator.ts"

/** The documented exit codes. */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const

export const orchestrator = Command.make(
  "orchestrator",
  {
    watch: Flag.Boolean("watch").pipe(
      Flag.withDescription(
        "Keep running and serve the dashboard; on a terminal the table is redrawn in place, " +
          "otherwise only changes are printed"
      ),
      Flag.withDefault(false)
    ),
    settings: Flag.String("settings").pipe(
      Flag.withDescription("The settings file the pool follows (default: a copy of backends.json)"),
      Flag.optional
    )
  },
  ({ settings, watch }) =>
    runOrchestrator({ watch, settingsFile: Option.getOrUndefined(settings) }).pipe(
      Effect.scoped,
      // A step that did not happen says so (which step, where each backend was, what to look at);
      // never a bare stack trace. Ctrl-C is an interruption, not a failure.
      Effect.tapCause((cause) =>
        Effect.sync(() => {
          if (!Cause.hasInterruptsOnly(cause)) {
            process.stderr.write(`\norchestrator stopped: ${errorMessage(Cause.squash(cause))}\n`)
          }
        })
      )
    )
).pipe(
  Command.withDescription(
    "Supervise the example daemons from a settings file with @isthmus/backend-pool. Exit codes: " +
      "0 the run completed; 1 a step did not happen; 2 bad usage."
  ),
  Command.withExamples([
    { command: "orchestrator", description: "The scripted demo (about ten seconds), then exit" },
    { command: "orchestrator --watch --settings my-backends.json", description: "Follow your own file, live" }
  ])
)

NodeRuntime.runMain(
  Command.runWith(orchestrator, { version: "0.1.0" })(process.argv.slice(2)).pipe(
    // The usage (with the error) is already printed; bad usage exits 2, as POSIX tools do.
    Effect.catchIf(CliError.isCliError, () => Effect.sync(() => process.exit(ExitCode.usage))),
    Effect.provide(NodeServices.layer)
  ),
  { disableErrorReporting: true }
)
