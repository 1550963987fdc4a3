/**
 * examples/orchestrator — the README's demo: a host that supervises several daemons
 * (examples/daemon) from `backends.json`, the way a desktop app would.
 *
 *   node src/main.ts                 scripted run: start, talk, crash + recovery, settings edit, shutdown
 *   node src/main.ts --watch         keep running; edit the settings file and watch the pool follow
 *   node src/main.ts --settings F    use settings file F (default: a copy of backends.json)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect } from "effect"
import { parseArgs } from "node:util"
import { errorMessage, runOrchestrator } from "./Orchestrator.ts"

const { values } = parseArgs({
  options: {
    watch: { type: "boolean", default: false },
    settings: { type: "string" },
    help: { type: "boolean", short: "h", default: false }
  },
  strict: true
})

if (values.help) {
  console.log("usage: orchestrator [--watch] [--settings backends.json]")
} else {
  NodeRuntime.runMain(
    runOrchestrator({ watch: values.watch, settingsFile: values.settings }).pipe(
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
    ),
    { disableErrorReporting: true }
  )
}
