/**
 * The pure parts of `RpcBridge`: its error codes and error objects, client tokens and roles,
 * per-client notification filters, and the bounded replay ring. No effects, no sockets.
 *
 * @since 0.1.0
 */
import { constantTimeEqual, reveal, type Token } from "./Auth.ts"
import type { ErrorObject, Notification } from "./Message.ts"

/**
 * Error codes the bridge itself answers with (JSON-RPC's server-error range). The daemon dialect
 * drops codes on the wire; the messages say the same.
 *
 * @since 0.1.0
 * @category constants
 */
export const BridgeErrorCode = {
  /** The upstream connection ended (the backend restarted) while the call was in flight. */
  UpstreamRestarted: -32010,
  /** No upstream connection became ready within the wait; the call was not sent. */
  UpstreamUnavailable: -32011,
  /** The upstream did not answer within the bridge's timeout. */
  UpstreamTimeout: -32012,
  /** The client's role does not allow the method (read-only clients). */
  Forbidden: -32013,
  /** No client answered a server-to-client request in time (answered upstream). */
  NoClientAnswered: -32014
} as const

/**
 * The `data.reason` the bridge puts in its error objects, for clients that match on it.
 *
 * @since 0.1.0
 * @category models
 */
export type BridgeErrorReason =
  | "upstreamRestarted"
  | "upstreamUnavailable"
  | "upstreamTimeout"
  | "forbidden"
  | "noClientAnswered"

/**
 * The error object for an in-flight call whose upstream connection ended.
 *
 * @since 0.1.0
 * @category errors
 */
export const upstreamRestarted = (method: string, generation: number): ErrorObject => ({
  code: BridgeErrorCode.UpstreamRestarted,
  message: `upstream restarted while "${method}" was in flight (connection ${generation} ended); ` +
    "the call may or may not have taken effect: check the state (e.g. list again) before retrying",
  data: { reason: "upstreamRestarted", method, generation }
})

/**
 * The error object for a call that found no ready upstream within the wait.
 *
 * @since 0.1.0
 * @category errors
 */
export const upstreamUnavailable = (method: string, waitMillis: number): ErrorObject => ({
  code: BridgeErrorCode.UpstreamUnavailable,
  message: `"${method}" was not sent: no upstream connection was ready within ${waitMillis} ms ` +
    "(the backend is starting, restarting or down); retry later",
  data: { reason: "upstreamUnavailable", method }
})

/**
 * The error object for a call the upstream did not answer in time.
 *
 * @since 0.1.0
 * @category errors
 */
export const upstreamTimeout = (method: string, timeoutMillis: number): ErrorObject => ({
  code: BridgeErrorCode.UpstreamTimeout,
  message: `the upstream did not answer "${method}" within ${timeoutMillis} ms; ` +
    "raise the bridge's `requestTimeout` if the method is slow",
  data: { reason: "upstreamTimeout", method }
})

/**
 * The error object for a method the client's role may not call.
 *
 * @since 0.1.0
 * @category errors
 */
export const forbidden = (method: string, role: string): ErrorObject => ({
  code: BridgeErrorCode.Forbidden,
  message: `"${method}" is not allowed for this client (role ${role}); ` +
    "connect with a full-access token, or add the method to the role's allow-list",
  data: { reason: "forbidden", method }
})

/**
 * The error object sent upstream when no client answered a server-to-client request in time.
 *
 * @since 0.1.0
 * @category errors
 */
export const noClientAnswered = (method: string, waitMillis: number): ErrorObject => ({
  code: BridgeErrorCode.NoClientAnswered,
  message: `no client answered "${method}" within ${waitMillis} ms`,
  data: { reason: "noClientAnswered", method }
})

/**
 * Whether an error object (e.g. an `RpcError` a client received) is the bridge's
 * "upstream restarted" error.
 *
 * @since 0.1.0
 * @category guards
 */
export const isUpstreamRestarted = (error: { readonly code?: number | undefined; readonly data?: unknown }): boolean =>
  error.code === BridgeErrorCode.UpstreamRestarted ||
  (typeof error.data === "object" && error.data !== null &&
    (error.data as { readonly reason?: unknown }).reason === "upstreamRestarted")

/**
 * What a client may do: `full` calls anything and answers server requests; `readOnly` receives
 * notifications and calls only `allow`-listed methods (plus the bridge's own `bridge/*` methods).
 *
 * @since 0.1.0
 * @category models
 */
export type Role =
  | { readonly _tag: "full" }
  | { readonly _tag: "readOnly"; readonly allow: ReadonlySet<string> }

/**
 * One accepted client token.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientToken {
  /** The secret; pass a `Redacted` so it never prints. */
  readonly token: Token
  /** `"full"` (default) or `"readOnly"`. */
  readonly role?: "full" | "readOnly" | undefined
  /** For `readOnly`: the methods it may call (default: the bridge's `readOnlyAllow`). */
  readonly allow?: ReadonlyArray<string> | undefined
  /** A name for statistics and logs (never the token). */
  readonly name?: string | undefined
}

/**
 * Finds the token a client presented. Every configured token is compared (in constant time each,
 * none skipped after a match), so the time taken does not tell which one matched or how far.
 *
 * @since 0.1.0
 * @category auth
 */
export const matchToken = (
  tokens: ReadonlyArray<ClientToken>,
  presented: string
): ClientToken | undefined => {
  let match: ClientToken | undefined
  for (const candidate of tokens) {
    const equal = constantTimeEqual(presented, reveal(candidate.token))
    if (equal && match === undefined) match = candidate
  }
  return match
}

/**
 * The role a matched token grants.
 *
 * @since 0.1.0
 * @category auth
 */
export const roleOf = (token: ClientToken, defaultAllow: ReadonlyArray<string>): Role =>
  token.role === "readOnly" ? { _tag: "readOnly", allow: new Set(token.allow ?? defaultAllow) } : { _tag: "full" }

/**
 * Whether `role` may call `method` (the bridge's own `bridge/*` methods are always allowed).
 *
 * @since 0.1.0
 * @category auth
 */
export const mayCall = (role: Role, method: string): boolean =>
  role._tag === "full" || method.startsWith("bridge/") || role.allow.has(method)

/**
 * The thread a message belongs to: `params.threadId`, else `params.thread.id` (codex's
 * `thread/started`), else none (a global event every client receives).
 *
 * @since 0.1.0
 * @category filters
 */
export const defaultThreadIdOf = (_method: string, params: unknown): string | undefined => {
  if (typeof params !== "object" || params === null) return undefined
  const p = params as { readonly threadId?: unknown; readonly thread?: unknown }
  if (typeof p.threadId === "string") return p.threadId
  if (typeof p.thread === "object" && p.thread !== null) {
    const id = (p.thread as { readonly id?: unknown }).id
    if (typeof id === "string") return id
  }
  return undefined
}

/**
 * What one client follows: every thread (`threads` undefined) or only some; global events (no
 * thread) always pass. `optOut` holds notification methods the client does not want (codex's
 * `capabilities.optOutNotificationMethods`).
 *
 * @since 0.1.0
 * @category filters
 */
export interface Filter {
  readonly threads: ReadonlySet<string> | undefined
  readonly optOut: ReadonlySet<string>
}

/**
 * Follows everything.
 *
 * @since 0.1.0
 * @category filters
 */
export const followAll: Filter = { threads: undefined, optOut: new Set() }

/**
 * Whether a notification (or server request) of `method` on `threadId` passes the filter.
 *
 * @since 0.1.0
 * @category filters
 */
export const passes = (filter: Filter, method: string, threadId: string | undefined): boolean =>
  !filter.optOut.has(method) && (filter.threads === undefined || threadId === undefined || filter.threads.has(threadId))

/**
 * A bounded ring of recent notifications for late joiners: the newest `capacity` are kept, each
 * with a sequence number.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ring {
  /** Keeps `notification`, dropping the oldest beyond the capacity; returns its sequence number (from 1). */
  readonly push: (notification: Notification) => number
  /** The kept notifications, oldest first. */
  readonly snapshot: () => ReadonlyArray<Notification>
  /** Forgets every kept notification. */
  readonly clear: () => void
  /** How many notifications are kept. */
  readonly size: () => number
}

/**
 * Creates a ring holding at most `capacity` notifications (0: nothing is kept).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRing = (capacity: number): Ring => {
  const items: Array<Notification | undefined> = Array.from({ length: Math.max(0, capacity) })
  let start = 0
  let count = 0
  let seq = 0
  return {
    push: (notification) => {
      seq++
      if (capacity <= 0) return seq
      if (count < capacity) {
        items[(start + count) % capacity] = notification
        count++
      } else {
        items[start] = notification
        start = (start + 1) % capacity
      }
      return seq
    },
    snapshot: () => {
      const out: Array<Notification> = []
      for (let i = 0; i < count; i++) out.push(items[(start + i) % capacity]!)
      return out
    },
    clear: () => {
      items.fill(undefined)
      start = 0
      count = 0
    },
    size: () => count
  }
}
