/**
 * The fake app-server as a real process over stdio, checked against the test vectors of
 * `../shared/reference/protocols.md` §2 (the oracle) and the app-server README's turn and
 * approval order.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { commandOf, replyDeltas } from "../src/AppServer.ts"

const entry = fileURLToPath(new URL("../src/main.ts", import.meta.url))

interface Proc {
  readonly child: ChildProcessWithoutNullStreams
  readonly send: (text: string) => void
  /** The next message the server writes (parsed). */
  readonly next: () => Promise<Record<string, unknown>>
  /** Messages until (and including) the first that matches. */
  readonly until: (match: (m: Record<string, unknown>) => boolean) => Promise<Array<Record<string, unknown>>>
}

const running: Array<ChildProcessWithoutNullStreams> = []
afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGKILL")
})

const start = (): Proc => {
  const child = spawn(process.execPath, [entry, "--delta-delay-ms", "1"], { stdio: "pipe" })
  running.push(child)
  const queue: Array<Record<string, unknown>> = []
  const waiters: Array<(m: Record<string, unknown>) => void> = []
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    const message = JSON.parse(line) as Record<string, unknown>
    const waiter = waiters.shift()
    if (waiter) waiter(message)
    else queue.push(message)
  })
  const next = () =>
    new Promise<Record<string, unknown>>((resolve) => {
      const m = queue.shift()
      if (m) resolve(m)
      else waiters.push(resolve)
    })
  return {
    child,
    send: (text) => void child.stdin.write(text + "\n"),
    next,
    until: async (match) => {
      const seen: Array<Record<string, unknown>> = []
      for (;;) {
        const m = await next()
        seen.push(m)
        if (match(m)) return seen
      }
    }
  }
}

const init =
  `{"method":"initialize","id":0,"params":{"clientInfo":{"name":"my_app","title":"My App","version":"1.0.0"}}}`

describe("fake-app-server (stdio)", () => {
  it("follows the handshake vectors: Not initialized, initialize, Already initialized, unknown variant", async () => {
    const p = start()
    p.send(`{"id":1,"method":"thread/start","params":{}}`)
    expect(await p.next()).toEqual({ id: 1, error: { code: -32600, message: "Not initialized" } })
    p.send(init)
    const result = (await p.next())["result"] as Record<string, unknown>
    expect(Object.keys(result).toSorted()).toEqual(["codexHome", "platformFamily", "platformOs", "userAgent"])
    expect(result["userAgent"]).toMatch(/^my_app\//)
    p.send(`{"method":"initialized"}`)
    p.send(`{"id":2,"method":"initialize","params":{"clientInfo":{"name":"again","version":"1"}}}`)
    expect(await p.next()).toEqual({ id: 2, error: { code: -32600, message: "Already initialized" } })
    p.send(`{"id":3,"method":"no/such"}`)
    const unknown = await p.next()
    expect(unknown["id"]).toBe(3)
    expect((unknown["error"] as { message: string }).message).toMatch(/^Invalid request: unknown variant `no\/such`/)
    // The "jsonrpc" field is accepted and ignored; string ids are echoed.
    p.send(`{"jsonrpc":"2.0","id":"req-a","method":"model/list"}`)
    expect((await p.next())["id"]).toBe("req-a")
  })

  it("drops bad input without a reply and keeps going", async () => {
    const p = start()
    p.send(init)
    await p.next()
    for (const bad of ["not json", `[{"id":5,"method":"model/list"}]`, `{"id":1.5,"method":"x"}`, `{"id":6}`]) {
      p.send(bad)
    }
    p.send(`{"id":1.0,"method":"model/list"}`)
    p.send(`{"id":7,"method":"model/list"}`)
    // The first reply after the bad lines is the one to id 7: nothing else was answered.
    expect((await p.next())["id"]).toBe(7)
  })

  it("streams a turn with an approval mid-turn, in the README's order", async () => {
    const p = start()
    p.send(init)
    await p.next()
    p.send(`{"id":1,"method":"thread/start","params":{}}`)
    const started = await p.next()
    const threadId = (started["result"] as { thread: { id: string } }).thread.id
    expect(await p.next()).toMatchObject({ method: "thread/started", params: { thread: { id: threadId } } })
    p.send(
      JSON.stringify({ id: 2, method: "turn/start", params: { threadId, input: [{ type: "text", text: "run ls" }] } })
    )
    expect(await p.next()).toMatchObject({ id: 2, result: { turn: { status: "inProgress" } } })
    const beforeApproval = await p.until((m) => m["method"] === "item/commandExecution/requestApproval")
    const approval = beforeApproval.at(-1)!
    expect(beforeApproval.map((m) => m["method"])).toEqual([
      "turn/started",
      "item/started",
      "item/completed",
      "item/started",
      "item/commandExecution/requestApproval"
    ])
    expect(approval["id"]).toBe(0) // server-request ids count from 0
    expect(approval["params"]).toMatchObject({ threadId, command: "ls", cwd: "/fake/repo" })
    p.send(JSON.stringify({ id: approval["id"], result: { decision: "accept" } }))
    const rest = await p.until((m) => m["method"] === "turn/completed")
    expect(rest[0]).toEqual({
      method: "serverRequest/resolved",
      params: { threadId, requestId: 0 },
      emittedAtMs: expect.any(Number)
    })
    // Every notification carries a top-level emittedAtMs, outside the protocol's types.
    expect(rest.filter((m) => m["method"] !== undefined && typeof m["emittedAtMs"] !== "number")).toEqual([])
    const deltas = rest.filter((m) => m["method"] === "item/agentMessage/delta")
      .map((m) => (m["params"] as { delta: string }).delta)
    expect(deltas.join("")).toBe("You said: run ls. I ran ls.")
    expect(rest.at(-1)).toMatchObject({ params: { threadId, turn: { status: "completed" } } })
    const completedItems = rest.filter((m) => m["method"] === "item/completed")
      .map((m) => (m["params"] as { item: { type: string; status?: string } }).item)
    expect(completedItems[0]).toMatchObject({ type: "commandExecution", status: "completed", exitCode: 0 })
  })

  it("exits when stdin ends", async () => {
    const p = start()
    const code = new Promise((resolve) => p.child.once("exit", resolve))
    p.child.stdin.end()
    expect(await code).toBe(0)
  })
})

describe("fake-app-server (pure parts)", () => {
  it("finds the command a message names", () => {
    expect(commandOf("please run `npm test` now")).toBe("npm test")
    expect(commandOf("run ls -la")).toBe("ls -la")
    expect(commandOf("hello there")).toBeUndefined()
  })
  it("streams every word once", () => {
    expect(replyDeltas("a b  c").join("")).toBe("a b  c")
  })
})
