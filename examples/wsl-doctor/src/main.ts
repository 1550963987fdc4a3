/**
 * examples/wsl-doctor — reports the WSL environment.
 *
 *   node src/main.ts            on Windows: distros, networking, the address a UI should use, preflight;
 *                               inside WSL: what WslEnvironment sees; elsewhere: says so
 *   node src/main.ts --fake     the Windows report against fake-wsl (a simulated WSL host)
 *   --node <range>              the Node range for the preflight (default ">=22.19")
 *   --tool <name>               a tool the backend needs (repeatable; default: git)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Wsl, WslEnvironment } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Console, Effect } from "effect"
import { parseArgs } from "node:util"
import { insideReport, windowsReport } from "./Doctor.ts"
import { fakeHost } from "./FakeHost.ts"

const { values } = parseArgs({
  options: {
    fake: { type: "boolean", default: false },
    node: { type: "string", default: ">=22.19" },
    tool: { type: "string", multiple: true, default: ["git"] }
  },
  strict: true
})

const options = { nodeRange: values.node, tools: values.tool }
const print = (title: string, lines: ReadonlyArray<string>) => Console.log([title, ...lines].join("\n"))

const program = Effect.gen(function*() {
  if (values.fake) {
    const lines = yield* windowsReport(options).pipe(
      Effect.provide(Wsl.layer({ host: fakeWslHostOptions(fakeHost) }))
    )
    return yield* print("wsl doctor (simulated Windows host: fake-wsl)", lines)
  }
  if (process.platform === "win32") {
    return yield* print("wsl doctor (Windows)", yield* windowsReport(options).pipe(Effect.provide(Wsl.layer())))
  }
  const inside = yield* insideReport.pipe(Effect.provide(WslEnvironment.layer))
  if (inside[0] === "inside WSL: yes") return yield* print("wsl doctor (inside a distro)", inside)
  return yield* print(
    "wsl doctor",
    [
      `this is ${process.platform}, neither Windows nor a WSL distro: there is no WSL to report on.`,
      "run with --fake to see the report against a simulated WSL host.",
      ...inside
    ]
  )
})

NodeRuntime.runMain(program)
