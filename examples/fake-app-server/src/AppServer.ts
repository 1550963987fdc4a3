/**
 * The protocol engine of a fake `codex app-server`: one connection's worth of codex's JSON-RPC
 * ("lite": no `"jsonrpc"` field) as documented in `../shared/reference/protocols.md` §2 and the
 * app-server README (openai/codex `codex-rs/app-server/README.md`). Plain TypeScript, no
 * dependencies: it is an independent oracle for the code that talks to it (`RpcPeer`, `RpcBridge`),
 * not a copy of it.
 *
 * What it models, each from protocols.md §2 unless said otherwise:
 * - bad input (not JSON, arrays, fractional ids, `{"id":1}`) is dropped without a reply (logged);
 * - a line with both `id` and `method` is a request (request > notification > response > error);
 * - any request before `initialize` gets `-32600 "Not initialized"`; a second `initialize` gets
 *   `-32600 "Already initialized"`; `clientInfo.name` must be a valid HTTP header value;
 * - unknown methods and bad params get `-32600 "Invalid request: …"` (serde's messages);
 * - `thread/start` answers `{thread}` and emits `thread/started` (README "Start or resume a thread");
 * - `turn/start` answers `{turn}` with `status: "inProgress"`, then streams `turn/started`,
 *   `item/started` / `item/agentMessage/delta` / `item/completed` and `turn/completed` (README
 *   "Events"); a message naming a command (`run …` or a command in backticks) makes the turn ask
 *   `item/commandExecution/requestApproval` mid-turn (README "Approvals"), then emits
 *   `serverRequest/resolved {threadId, requestId}` once answered;
 * - server-request ids are integers counted from 0 by one process-wide counter;
 * - `turn/interrupt` answers `{}` and ends the turn with `status: "interrupted"`;
 * - `capabilities.optOutNotificationMethods` suppresses those notifications for the connection;
 * - every notification carries a top-level `emittedAtMs` (epoch ms) beside `method` and `params`,
 *   a field outside the protocol's types (observed on app-server 0.157.1, as a codex client notes).
 * Nothing is ever executed: a command's "output" is a fixed text.
 */

/** What the engine needs from its transport. */
export interface AppServerOptions {
  /** Writes one JSON text (without framing) to the client. */
  readonly write: (text: string) => void
  /** Diagnostics (stderr for the stdio transport); never the protocol stream. */
  readonly log?: ((text: string) => void) | undefined
  /** Pause between streamed deltas, in ms (default 15), so streaming is visible; 0 streams at once. */
  readonly deltaDelayMs?: number | undefined
  /** `codexHome` reported by `initialize`. */
  readonly codexHome?: string | undefined
}

/** One connection of the fake app-server. */
export interface AppServer {
  /** Handles one JSON text from the client (one line on stdio). */
  readonly receive: (text: string) => void
  /** Stops streaming (the transport closed). */
  readonly close: () => void
}

type Id = number | string

interface Thread {
  readonly id: string
  preview: string
  readonly createdAt: number
  updatedAt: number
  readonly turns: Array<{ id: string; status: string }>
  activeTurn: { id: string; interrupted: boolean; cancelApproval: (() => void) | undefined } | undefined
}

const InvalidRequest = -32600

// One process-wide counter for server-request ids, from 0 (protocols.md §2).
let nextServerRequestId = 0

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** serde rejects `1.0` / `1e0` for an i64 id although JSON.parse makes it an integer. */
const fractionalId = (raw: string): boolean => /"id"\s*:\s*-?\d+(?:\.\d*|[eE])/.test(raw)

/** A valid HTTP header value: visible ASCII, space and tab (RFC 9110 field-value, no obs-text). */
const isHeaderValue = (s: string): boolean => /^[\t\x20-\x7e]*$/.test(s) && s.trim() === s

const seconds = () => Math.floor(Date.now() / 1000)
const turnView = (id: string, status: string) => ({ id, status, items: [], error: null })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The command a user message asks to run: `run <command>` or the first `command` in backticks. */
export const commandOf = (text: string): string | undefined => {
  const quoted = /`([^`]+)`/.exec(text)
  if (quoted !== null) return quoted[1]!.trim()
  const run = /^\s*run\s+(.+)$/i.exec(text)
  return run === null ? undefined : run[1]!.trim()
}

/** The words the agent streams back, one delta each (a leading space on all but the first). */
export const replyDeltas = (text: string): ReadonlyArray<string> =>
  text.split(" ").map((word, i) => (i === 0 ? word : ` ${word}`))

/** Creates one connection's protocol engine. */
export const makeAppServer = (options: AppServerOptions): AppServer => {
  const log = options.log ?? (() => {})
  const deltaDelayMs = options.deltaDelayMs ?? 15
  let initialized = false
  let optOut = new Set<string>()
  let closed = false
  let nextThread = 1
  let nextTurn = 1
  let nextItem = 1
  const threads = new Map<string, Thread>()
  const awaitingAnswer = new Map<Id, (answer: { result?: unknown; error?: unknown }) => void>()

  const send = (message: Record<string, unknown>) => {
    if (!closed) options.write(JSON.stringify(message))
  }
  const reply = (id: Id, result: unknown) => send({ id, result })
  const fail = (id: Id, message: string, code = InvalidRequest) => send({ id, error: { code, message } })
  // Notifications carry a top-level `emittedAtMs` beside `method` and `params`, outside the
  // protocol's types (observed on app-server 0.157.1 by a codex client's notes).
  const notify = (method: string, params: unknown) => {
    if (!optOut.has(method)) send({ method, params, emittedAtMs: Date.now() })
  }
  const serverRequest = (method: string, params: unknown) => {
    const id = nextServerRequestId++
    const answer = new Promise<{ result?: unknown; error?: unknown }>((resolve) => awaitingAnswer.set(id, resolve))
    send({ id, method, params })
    return { id, answer }
  }

  const threadView = (t: Thread) => ({
    id: t.id,
    preview: t.preview,
    modelProvider: "fake",
    createdAt: t.createdAt,
    updatedAt: t.updatedAt
  })

  const threadOf = (params: Record<string, unknown>): Thread | string => {
    const threadId = params["threadId"]
    if (typeof threadId !== "string") return "Invalid request: missing field `threadId`"
    return threads.get(threadId) ?? `Invalid request: thread not found: ${threadId}`
  }

  const runTurn = async (thread: Thread, turn: NonNullable<Thread["activeTurn"]>, text: string, input: unknown) => {
    const threadId = thread.id
    const turnId = turn.id
    const stopped = () => closed || turn.interrupted
    notify("turn/started", { threadId, turn: turnView(turnId, "inProgress") })
    const userItem = { type: "userMessage", id: `item_${nextItem++}`, content: input }
    notify("item/started", { threadId, turnId, item: userItem })
    notify("item/completed", { threadId, turnId, item: userItem })
    let outcome = ""
    const command = commandOf(text)
    if (command !== undefined && !stopped()) {
      const item = {
        type: "commandExecution",
        id: `item_${nextItem++}`,
        command,
        cwd: "/fake/repo",
        status: "inProgress",
        commandActions: [],
        aggregatedOutput: null as string | null,
        exitCode: null as number | null,
        durationMs: null as number | null
      }
      notify("item/started", { threadId, turnId, item })
      const asked = serverRequest("item/commandExecution/requestApproval", {
        threadId,
        turnId,
        itemId: item.id,
        command,
        cwd: item.cwd,
        reason: "fake-app-server asks before every command"
      })
      const requestId = asked.id
      const answer = await new Promise<{ result?: unknown; error?: unknown } | "interrupted">((resolve) => {
        turn.cancelApproval = () => resolve("interrupted")
        void asked.answer.then(resolve)
      })
      turn.cancelApproval = undefined
      awaitingAnswer.delete(requestId)
      notify("serverRequest/resolved", { threadId, requestId })
      const decision = answer !== "interrupted" && isRecord(answer.result) ? answer.result["decision"] : undefined
      if (decision === "accept" || decision === "acceptForSession") {
        const output = `(fake) ${command}: nothing was run\n`
        notify("item/commandExecution/outputDelta", { threadId, turnId, itemId: item.id, delta: output })
        notify("item/completed", {
          threadId,
          turnId,
          item: { ...item, status: "completed", aggregatedOutput: output, exitCode: 0, durationMs: 1 }
        })
        outcome = ` I ran ${command}.`
      } else {
        notify("item/completed", { threadId, turnId, item: { ...item, status: "declined" } })
        outcome = ` I did not run ${command}.`
      }
    }
    if (!stopped()) {
      const agent = { type: "agentMessage", id: `item_${nextItem++}`, text: "" }
      notify("item/started", { threadId, turnId, item: agent })
      const full = `You said: ${text}.${outcome}`
      for (const delta of replyDeltas(full)) {
        if (stopped()) break
        if (deltaDelayMs > 0) await sleep(deltaDelayMs)
        if (stopped()) break
        agent.text += delta
        notify("item/agentMessage/delta", { threadId, turnId, itemId: agent.id, delta })
      }
      notify("item/completed", { threadId, turnId, item: { ...agent } })
    }
    const status = turn.interrupted ? "interrupted" : "completed"
    const done = thread.turns.find((t) => t.id === turnId)
    if (done !== undefined) done.status = status
    thread.activeTurn = undefined
    thread.updatedAt = seconds()
    notify("turn/completed", { threadId, turn: turnView(turnId, status) })
  }

  const handlers: Record<string, (id: Id, params: Record<string, unknown>) => void> = {
    "thread/start": (id) => {
      const now = seconds()
      const thread: Thread = {
        id: `thr_${nextThread++}`,
        preview: "",
        createdAt: now,
        updatedAt: now,
        turns: [],
        activeTurn: undefined
      }
      threads.set(thread.id, thread)
      reply(id, { thread: threadView(thread), model: "fake-model", cwd: "/fake/repo" })
      notify("thread/started", { thread: threadView(thread) })
    },
    "thread/list": (id) => {
      const data = [...threads.values()].toReversed().map(threadView)
      reply(id, { data, nextCursor: null })
    },
    "thread/read": (id, params) => {
      const thread = threadOf(params)
      if (typeof thread === "string") return fail(id, thread)
      const view = params["includeTurns"] === true
        ? { ...threadView(thread), turns: thread.turns.map((t) => turnView(t.id, t.status)) }
        : threadView(thread)
      reply(id, { thread: view })
    },
    "thread/loaded/list": (id) => reply(id, { data: [...threads.keys()] }),
    "turn/start": (id, params) => {
      const thread = threadOf(params)
      if (typeof thread === "string") return fail(id, thread)
      const input = params["input"]
      if (!Array.isArray(input)) return fail(id, "Invalid request: missing field `input`")
      if (thread.activeTurn !== undefined) {
        return fail(id, `Invalid request: a turn is already running on thread ${thread.id}`)
      }
      const text = input
        .filter((i): i is { type: "text"; text: string } => isRecord(i) && i["type"] === "text")
        .map((i) => i.text)
        .join("\n")
      const turn = { id: `turn_${nextTurn++}`, interrupted: false, cancelApproval: undefined }
      thread.activeTurn = turn
      thread.turns.push({ id: turn.id, status: "inProgress" })
      if (thread.preview === "") thread.preview = text.slice(0, 80)
      reply(id, { turn: turnView(turn.id, "inProgress") })
      void runTurn(thread, turn, text, input).catch((e: unknown) => log(`turn failed: ${String(e)}`))
    },
    "turn/interrupt": (id, params) => {
      const thread = threadOf(params)
      if (typeof thread === "string") return fail(id, thread)
      const turn = thread.activeTurn
      if (turn === undefined || turn.id !== params["turnId"]) {
        return fail(id, `Invalid request: no active turn ${String(params["turnId"])} on thread ${thread.id}`)
      }
      turn.interrupted = true
      turn.cancelApproval?.()
      reply(id, {})
    },
    "model/list": (id) =>
      reply(id, {
        data: [{ id: "fake-model", model: "fake-model", displayName: "Fake model", isDefault: true }],
        nextCursor: null
      })
  }
  const known = ["initialize", ...Object.keys(handlers)].map((m) => `\`${m}\``).join(", ")

  const onRequest = (id: Id, method: string, params: unknown) => {
    const p = isRecord(params) ? params : {}
    if (method === "initialize") {
      if (initialized) return fail(id, "Already initialized")
      const clientInfo = isRecord(p["clientInfo"]) ? p["clientInfo"] : undefined
      const name = clientInfo?.["name"]
      if (typeof name !== "string") return fail(id, "Invalid request: missing field `clientInfo`")
      if (!isHeaderValue(name)) return fail(id, "Invalid request: clientInfo.name is not a valid HTTP header value")
      const capabilities = isRecord(p["capabilities"]) ? p["capabilities"] : {}
      const methods = capabilities["optOutNotificationMethods"]
      optOut = new Set(Array.isArray(methods) ? methods.filter((m): m is string => typeof m === "string") : [])
      initialized = true
      return reply(id, {
        userAgent: `${name}/0.0.0-fake (fake-app-server; ${process.platform})`,
        codexHome: options.codexHome ?? "/fake/.codex",
        platformFamily: "unix",
        platformOs: process.platform === "darwin" ? "macos" : process.platform
      })
    }
    if (!initialized) return fail(id, "Not initialized")
    const handler = handlers[method]
    if (handler === undefined) {
      return fail(id, `Invalid request: unknown variant \`${method}\`, expected one of ${known}`)
    }
    handler(id, p)
  }

  const receive = (text: string) => {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return log("dropped a line that is not JSON")
    }
    if (!isRecord(value)) return log("dropped a message that is not an object (no batches)")
    const hasId = Object.prototype.hasOwnProperty.call(value, "id")
    const id = value["id"]
    if (hasId && !(typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id)))) {
      return log("dropped a message with an invalid id")
    }
    if (hasId && typeof id === "number" && fractionalId(text)) return log("dropped a message with a fractional id")
    const method = value["method"]
    if (typeof method === "string") {
      if (hasId) return onRequest(id as Id, method, value["params"])
      if (method === "initialized") return log("client initialized")
      return log(`ignored client notification ${method}`)
    }
    if (hasId && (Object.prototype.hasOwnProperty.call(value, "result") || isRecord(value["error"]))) {
      const waiting = awaitingAnswer.get(id as Id)
      if (waiting === undefined) return log(`answer to unknown server request ${String(id)}`)
      awaitingAnswer.delete(id as Id)
      return waiting(
        Object.prototype.hasOwnProperty.call(value, "result") ? { result: value["result"] } : {
          error: value["error"]
        }
      )
    }
    log("dropped a message that is not a request, notification or response")
  }

  return {
    receive,
    close: () => {
      closed = true
      for (const thread of threads.values()) thread.activeTurn?.cancelApproval?.()
    }
  }
}
