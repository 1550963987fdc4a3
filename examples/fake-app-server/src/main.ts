#!/usr/bin/env node
/**
 * `fake-app-server`: a stand-in for `codex app-server` over stdio (its default transport: JSONL on
 * stdin/stdout, diagnostics on stderr; protocols.md §2). Like codex, it exits when stdin ends.
 *
 * Options: `--delta-delay-ms N` (pause between streamed deltas, default 15);
 * `--listen stdio://` is accepted for command-line compatibility with codex.
 */
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

// tokio `lines()`: split on LF, CR stripped, no length limit (protocols.md §2). Chunks are kept
// as buffers until a newline arrives (node:readline rescans long lines and took seconds per MB).
let pending: Array<Buffer> = []
const onLine = (bytes: Buffer) => {
  const line = bytes.toString("utf8").replace(/\r$/, "")
  if (line.trim().length > 0) server.receive(line)
}
process.stdin.on("data", (chunk: Buffer) => {
  let start = 0
  let nl = chunk.indexOf(10)
  while (nl !== -1) {
    pending.push(chunk.subarray(start, nl))
    onLine(pending.length === 1 ? pending[0]! : Buffer.concat(pending))
    pending = []
    start = nl + 1
    nl = chunk.indexOf(10, start)
  }
  if (start < chunk.length) pending.push(chunk.subarray(start))
})
process.stdin.on("end", () => {
  if (pending.length > 0) onLine(Buffer.concat(pending))
  server.close()
  process.stderr.write("fake-app-server: stdin closed, exiting\n")
  process.stdout.write("", () => process.exit(0))
})
process.stderr.write(`fake-app-server: listening on stdio (pid ${process.pid})\n`)
