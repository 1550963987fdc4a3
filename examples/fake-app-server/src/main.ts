#!/usr/bin/env node
/**
 * `fake-app-server`: a stand-in for `codex app-server` over stdio (its default transport: JSONL on
 * stdin/stdout, diagnostics on stderr; protocols.md §2). Like codex, it exits when stdin ends.
 *
 * Options: `--delta-delay-ms N` (pause between streamed deltas, default 15);
 * `--listen stdio://` is accepted for command-line compatibility with codex.
 */
import * as readline from "node:readline"
import { makeAppServer } from "./AppServer.ts"

const args = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const listen = option("--listen") ?? "stdio://"
if (listen !== "stdio://") {
  process.stderr.write(`fake-app-server: only --listen stdio:// is supported (got ${listen})\n`)
  process.exit(2)
}
const delay = Number(option("--delta-delay-ms") ?? process.env["FAKE_APP_SERVER_DELTA_DELAY_MS"] ?? 15)

const server = makeAppServer({
  write: (text) => void process.stdout.write(text + "\n"),
  log: (text) => void process.stderr.write(`fake-app-server: ${text}\n`),
  deltaDelayMs: Number.isFinite(delay) && delay >= 0 ? delay : 15
})

// tokio `lines()`: CR stripped, no length limit (protocols.md §2).
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })
lines.on("line", (line) => {
  if (line.trim().length > 0) server.receive(line)
})
lines.on("close", () => {
  server.close()
  process.stderr.write("fake-app-server: stdin closed, exiting\n")
  process.stdout.write("", () => process.exit(0))
})
process.stderr.write(`fake-app-server: listening on stdio (pid ${process.pid})\n`)
