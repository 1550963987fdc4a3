/**
 * Connection handshakes as values: run by `RpcPeer` after every (re)connect, before any queued or
 * replayed call is sent.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { reveal, type Token } from "./Auth.ts"
import { type CallError, HandshakeError, RpcError } from "./RpcError.ts"

/**
 * What a handshake can do on the fresh connection: calls and notifications that bypass the
 * "connected" gate.
 *
 * @since 0.1.0
 * @category models
 */
export interface HandshakeContext {
  /** A request on the fresh connection, with the peer's default timeout. */
  readonly request: (method: string, params?: unknown) => Effect.Effect<unknown, CallError>
  /** A notification on the fresh connection. */
  readonly notify: (method: string, params?: unknown) => Effect.Effect<void, CallError>
}

/**
 * A handshake. An `RpcError` answer (the server said no) should become a `HandshakeError`, which
 * is fatal; a disconnect during the handshake is retried by the reconnect policy.
 *
 * @since 0.1.0
 * @category models
 */
export type Handshake = (context: HandshakeContext) => Effect.Effect<void, CallError>

/**
 * No handshake.
 *
 * @since 0.1.0
 * @category handshakes
 */
export const none: Handshake = () => Effect.void

const fatal = (step: string) => <A, E>(effect: Effect.Effect<A, E | RpcError>) =>
  Effect.catchIf(
    effect,
    (e): e is RpcError => e instanceof RpcError,
    (e) => Effect.fail(HandshakeError.rejected(step, e.message))
  )

/**
 * CodexMonitor's token handshake: `auth` with `{"token":"…"}` (or the bare string) must answer
 * before anything else is sent. A rejection (`"invalid token"`) is a fatal `HandshakeError`.
 *
 * @since 0.1.0
 * @category handshakes
 */
export const tokenAuth = (
  token: Token,
  options?: { readonly method?: string | undefined; readonly shape?: "object" | "string" | undefined }
): Handshake =>
(context) => {
  const method = options?.method ?? "auth"
  const params = options?.shape === "string" ? reveal(token) : { token: reveal(token) }
  return context.request(method, params).pipe(Effect.asVoid, fatal(method))
}

/**
 * The codex app-server handshake: the `initialize` request, then the `initialized` notification.
 * `onResult` sees the server's answer (`{userAgent, codexHome, …}`).
 *
 * @since 0.1.0
 * @category handshakes
 */
export const initialize = (
  params: unknown,
  options?: {
    readonly method?: string | undefined
    readonly notification?: string | undefined
    readonly onResult?: ((result: unknown) => Effect.Effect<void>) | undefined
  }
): Handshake =>
(context) =>
  Effect.gen(function*() {
    const result = yield* context.request(options?.method ?? "initialize", params).pipe(fatal("initialize"))
    if (options?.onResult) yield* options.onResult(result)
    yield* context.notify(options?.notification ?? "initialized")
  })

/**
 * Runs handshakes one after another.
 *
 * @since 0.1.0
 * @category handshakes
 */
export const sequence = (...steps: ReadonlyArray<Handshake>): Handshake => (context) =>
  Effect.forEach(steps, (step) => step(context), { discard: true })
