/**
 * Readiness checks. Each returns an effect that completes with what it learnt (the URL) once the
 * backend is ready, and otherwise keeps trying; the instance bounds it with the startup timeout,
 * so readiness fails closed.
 *
 * @module
 */
import { Dialect, Framing, RpcPeer } from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket } from "@isthmus/rpc-protocol/node"
import { Deferred, Effect } from "effect"
import * as NodeNet from "node:net"
import type { Readiness, ReadyInfo, ResolvedReadiness } from "./BackendSpec.ts"
import type { InstanceLog, LogLine } from "./InstanceLog.ts"
import { parseReady, portOfUrl } from "./Protocol.ts"

/** What a check knows about the run. */
export interface ReadinessInput {
  readonly id: string
  readonly runId: number
  readonly host: string
  readonly port: number | undefined
}

/** Fills `{host}` and `{port}` in a URL template. */
export const fillTemplate = (template: string, input: Pick<ReadinessInput, "host" | "port">): string =>
  template.replaceAll("{host}", input.host).replaceAll("{port}", input.port === undefined ? "" : String(input.port))

/** Compiles a log-line pattern; an invalid pattern never matches (and is reported once in the log). */
const compile = (pattern: string, flags: string | undefined): RegExp | undefined => {
  try {
    return new RegExp(pattern, (flags ?? "").replaceAll("g", "").replaceAll("y", ""))
  } catch {
    return undefined
  }
}

/** Extracts the URL (named group `url`) or port (named group `port`) a log line announced. */
export const matchLine = (re: RegExp, text: string, host: string): ReadyInfo | undefined => {
  const m = re.exec(text)
  if (m === null) return undefined
  const url = m.groups?.["url"]
  if (url !== undefined) return { url, port: portOfUrl(url) }
  const portText = m.groups?.["port"]
  const port = portText === undefined ? undefined : Number(portText)
  if (port !== undefined && Number.isInteger(port) && port > 0 && port < 65536) {
    return { url: `http://${host}:${port}`, port }
  }
  return {}
}

/**
 * Arms the log-based checks (`Signal` and `LogLine`) on `log` before the process starts, so no
 * line can be missed. Returns the waiting effect and a disposer.
 */
export const armLineWatch = (
  policy: ResolvedReadiness,
  log: InstanceLog,
  input: () => ReadinessInput
) =>
  Effect.gen(function*() {
    const check = policy.check
    if (check._tag !== "Signal" && check._tag !== "LogLine") return undefined
    const found = yield* Deferred.make<ReadyInfo>()
    const re = check._tag === "LogLine" ? compile(check.pattern, check.flags) : undefined
    if (check._tag === "LogLine" && re === undefined) {
      log.append("system", input().runId, `readiness: invalid pattern ${JSON.stringify(check.pattern)}`)
    }
    const stream = check._tag === "LogLine" ? check.stream ?? "any" : "stdout"
    const onLine = (line: LogLine) => {
      const current = input()
      if (line.runId !== current.runId || line.source === "system") return
      if (stream !== "any" && line.source !== stream) return
      const info = check._tag === "Signal"
        ? parseReady(line.text)
        : re === undefined
        ? undefined
        : matchLine(re, line.text, current.host)
      if (info !== undefined) {
        Deferred.doneUnsafe(found, Effect.succeed(info))
        // Only the first matching line counts: stop watching, so the lines that follow (a flood,
        // say) are not decoded and parsed one by one for nothing.
        dispose()
      }
    }
    const dispose = log.observe(onLine)
    return {
      /** Completes with what the first matching line said. */
      ready: Deferred.await(found),
      /** Stops watching the log. */
      dispose
    }
  })

const tcpProbe = (host: string, port: number, timeoutMs: number) =>
  Effect.callback<boolean>((resume) => {
    const socket = NodeNet.connect({ host, port })
    const done = (ok: boolean) => {
      socket.removeAllListeners()
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

const httpProbe = (url: string, timeoutMs: number) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        redirect: "manual"
      })
      await response.body?.cancel()
      return response.status >= 200 && response.status < 400
    },
    catch: () => false
  }).pipe(Effect.orElseSucceed(() => false))

const dialects = { strict: Dialect.strict, lite: Dialect.lite, daemon: Dialect.daemon } as const

/** One JSON-RPC call over a fresh connection; true when it returned a result in time. */
export const rpcProbe = (
  url: string,
  dialect: keyof typeof dialects,
  method: string,
  params: unknown,
  timeoutMs: number
): Effect.Effect<boolean> =>
  Effect.scoped(Effect.gen(function*() {
    const u = new URL(url)
    const ws = u.protocol === "ws:" || u.protocol === "wss:"
    const port = Number(u.port)
    if (!ws && (!Number.isInteger(port) || port <= 0)) return false
    const peer = yield* RpcPeer.make({
      connect: ws
        ? connectWebSocket(url, { openTimeout: timeoutMs })
        : connectTcp({ host: u.hostname, port, openTimeout: timeoutMs }),
      dialect: dialects[dialect],
      framing: ws ? Framing.webSocket() : Framing.ndjson(),
      requestTimeout: timeoutMs
    })
    yield* peer.request(method, params, { timeout: timeoutMs })
    return true
  })).pipe(
    Effect.timeout(timeoutMs + 500),
    Effect.orElseSucceed(() => false),
    Effect.catchDefect(() => Effect.succeed(false))
  )

/**
 * One attempt of a polling check (`Http`, `Tcp`, `Rpc`, `Custom`): what it learnt, or `undefined`
 * when the backend did not answer. Log-based checks (`Signal`, `LogLine`) have no single attempt
 * and answer `undefined`.
 */
export const probeOnce = (check: Readiness, input: ReadinessInput): Effect.Effect<ReadyInfo | undefined> =>
  Effect.gen(function*() {
    switch (check._tag) {
      case "Http": {
        const url = fillTemplate(check.url, input)
        if (!(yield* httpProbe(url, check.probeTimeoutMs ?? 1_000))) return undefined
        const u = new URL(url)
        return { url: `${u.protocol}//${u.host}`, port: portOfUrl(url) }
      }
      case "Tcp": {
        const host = check.host ?? input.host
        const port = check.port ?? input.port
        if (port === undefined || !(yield* tcpProbe(host, port, 1_000))) return undefined
        return { url: `tcp://${host}:${port}`, port }
      }
      case "Rpc": {
        const url = fillTemplate(check.url ?? "tcp://{host}:{port}", input)
        const ok = yield* rpcProbe(
          url,
          check.dialect ?? "strict",
          check.method ?? "ping",
          check.params,
          check.probeTimeoutMs ?? 1_000
        )
        return ok ? { url, port: portOfUrl(url) ?? input.port } : undefined
      }
      case "Custom": {
        const result = yield* Effect.result(check.check(input))
        return result._tag === "Success" ? result.success : undefined
      }
      default:
        return undefined
    }
  }).pipe(Effect.catchDefect(() => Effect.succeed(undefined)))

/** Whether a check can be polled (and so used as a liveness probe). */
export const isPollable = (check: Readiness): boolean => check._tag !== "Signal" && check._tag !== "LogLine"

/**
 * The polling checks (`Http`, `Tcp`, `Rpc`, `Custom`): tried every `periodMs` until one succeeds.
 * Never completes on its own when the backend never becomes ready; the caller times it out.
 */
export const poll = (policy: ResolvedReadiness, input: ReadinessInput): Effect.Effect<ReadyInfo> =>
  Effect.gen(function*() {
    if (!isPollable(policy.check)) return yield* Effect.never
    while (true) {
      const info = yield* probeOnce(policy.check, input)
      if (info !== undefined) return info
      yield* Effect.sleep(policy.periodMs)
    }
  })

/**
 * Liveness after Ready: probes every `periodMs` (each probe bounded by the period) and completes
 * after `failureThreshold` consecutive failures, with their count. Never completes while the
 * backend answers.
 */
export const watchLiveness = (
  liveness: { readonly check: Readiness; readonly periodMs: number; readonly failureThreshold: number },
  input: ReadinessInput
): Effect.Effect<number> =>
  Effect.gen(function*() {
    if (!isPollable(liveness.check)) return yield* Effect.never
    let failures = 0
    while (true) {
      yield* Effect.sleep(liveness.periodMs)
      const info = yield* probeOnce(liveness.check, input).pipe(
        Effect.timeout(liveness.periodMs),
        Effect.orElseSucceed(() => undefined)
      )
      failures = info === undefined ? failures + 1 : 0
      if (failures >= liveness.failureThreshold) return failures
    }
  })
