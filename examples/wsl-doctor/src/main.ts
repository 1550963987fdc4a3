/**
 * examples/wsl-doctor — reports the WSL environment (see README.md, or run with --help).
 *
 * Exit codes: 0 ready, 1 NOT READY (WSL unusable or the preflight failed), 2 bad command line,
 * 3 the report could not be made.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Wsl, WslEnvironment } from "@isthmus/wsl/node"
import { FakeWslHost } from "@isthmus/wsl/testing"
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { exitCodes, formatInside, formatWindows, insideReport, windowsReport } from "./Doctor.ts"
import { fakeHost, fakeStates } from "./FakeHost.ts"

const print = (title: string, lines: ReadonlyArray<string>) => Console.log([title, ...lines].join("\n"))

const doctor = Command.make(
  "wsl-doctor",
  {
    fake: Flag.Boolean("fake").pipe(
      Flag.withDescription("report on a simulated Windows host (in memory) instead of this machine"),
      Flag.withDefault(false)
    ),
    fakeState: Flag.Literals("fake-state", fakeStates).pipe(
      Flag.withDescription("the simulated host's state: which WslState --fake shows"),
      Flag.withDefault("ready")
    ),
    node: Flag.String("node").pipe(
      Flag.withDescription("the semver range the backend's Node must satisfy"),
      Flag.withDefault(">=22.12")
    ),
    tool: Flag.String("tool").pipe(
      Flag.withDescription("a command the backend needs in the distro (repeatable)"),
      Flag.atLeast(0)
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("print the report as JSON"), Flag.withDefault(false))
  },
  Effect.fn(function*(flags) {
    const options = { nodeRange: flags.node, tools: flags.tool.length === 0 ? ["git"] : flags.tool }
    if (flags.fake || process.platform === "win32") {
      const layer = flags.fake ? FakeWslHost.layer(fakeHost(flags.fakeState)) : Wsl.layer()
      const report = yield* windowsReport(options).pipe(Effect.provide(layer))
      if (flags.json) {
        yield* Console.log(JSON.stringify({ where: flags.fake ? "simulated" : "windows", ...report }, null, 2))
      } else {
        yield* print(
          flags.fake ? `wsl doctor (simulated Windows host: ${flags.fakeState})` : "wsl doctor (Windows)",
          formatWindows(report, options)
        )
      }
      process.exitCode = report.ok ? exitCodes.ready : exitCodes.notReady
      return
    }
    const inside = yield* insideReport.pipe(Effect.provide(WslEnvironment.layer))
    if (flags.json) {
      yield* Console.log(JSON.stringify({ where: inside.isWsl ? "inside-wsl" : "elsewhere", ...inside }, null, 2))
    } else if (inside.isWsl) yield* print("wsl doctor (inside a distro)", formatInside(inside))
    else {
      yield* print("wsl doctor", [
        `this is ${process.platform}, neither Windows nor a WSL distro: there is no WSL to report on.`,
        "run with --fake to see the report against a simulated WSL host.",
        ...formatInside(inside)
      ])
    }
    process.exitCode = inside.isWsl ? exitCodes.ready : exitCodes.notReady
  })
).pipe(
  Command.withDescription(
    "Reports whether WSL can run a Node backend here, and what to do if not. Exit codes: 0 ready, 1 NOT READY, 2 bad command line, 3 the report could not be made."
  ),
  Command.withExamples([
    { command: "wsl-doctor --fake", description: "the report against a simulated Windows host" },
    {
      command: "wsl-doctor --fake --fake-state vmp-missing",
      description: "a host without the Virtual Machine Platform"
    },
    { command: "wsl-doctor --fake --node \">=24\" --tool rg --json", description: "a stricter preflight, as JSON" }
  ])
)

const program = Command.run(doctor, { version: "0.1.0" }).pipe(
  // effect/cli has printed the usage, and what was wrong with the command line if anything.
  Effect.catchTag("ShowHelp", (help) =>
    Effect.sync(() => {
      process.exitCode = help.errors.length > 0 ? exitCodes.usage : exitCodes.ready
    })),
  Effect.catch((error) =>
    Effect.sync(() => {
      const cliError = [
        "UnrecognizedOption",
        "DuplicateOption",
        "MissingOption",
        "MissingArgument",
        "UnexpectedArgument",
        "InvalidValue",
        "UnknownSubcommand",
        "ValidationError"
      ]
        .includes((error as { readonly _tag?: string })._tag ?? "")
      process.exitCode = cliError ? exitCodes.usage : exitCodes.failed
      if (!cliError) {
        console.error(`wsl doctor could not make its report: ${error instanceof Error ? error.message : String(error)}`)
      }
    })
  ),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(program, { disableErrorReporting: true })
