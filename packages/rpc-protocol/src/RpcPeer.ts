/**
 * `RpcPeer`: one JSON-RPC connection over any `Socket` from `effect/socket`, in any dialect and
 * framing. It allocates ids and correlates replies (out of order is normal), times calls out,
 * exposes incoming notifications as a `Stream`, answers server-to-client requests with registered
 * handlers, fails every pending call with a typed error on disconnect, writes through a bounded
 * outbound queue with a chosen policy, and optionally reconnects with capped backoff, replaying
 * only calls to idempotent methods and re-running the handshake first.
 *
 * The same engine serves each connection of `RpcServer`.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Latch,
  Option,
  Schema,
  Scope,
  Stream,
  Tracer
} from "effect"
import * as Socket from "effect/socket/Socket"
import * as ConnectionError from "./ConnectionError.ts"
import type { Cancellation, Decoded, Dialect, Invalid } from "./Dialect.ts"
import * as Fanout from "./Fanout.ts"
import type { Frame, Framing } from "./Framing.ts"
import type { Handshake, HandshakeContext } from "./Handshake.ts"
import { type EncodedSend, EncodedSendKey } from "./internal/encodedSend.ts"
import { getFastRead } from "./internal/fastRead.ts"
import { type FastWrite, getFastWrite } from "./internal/fastWrite.ts"
import { countCallError, publishPeer } from "./internal/publishMetrics.ts"
import { schemaMessage, typedRunner } from "./internal/typedCall.ts"
import * as Message from "./Message.ts"
import type {
  HandlerServices,
  MethodTable,
  NotificationParams,
  NotificationTable,
  Params,
  Result
} from "./MethodTable.ts"
import {
  type CallError,
  HandshakeError,
  OutboundQueueFullError,
  PeerDisconnectedError,
  RpcError,
  RpcSchemaError,
  RpcTimeoutError
} from "./RpcError.ts"
import type { PeerMetricsOptions } from "./RpcMetrics.ts"

/**
 * `connecting` → `connected` → `disconnected` (→ `connecting` again when reconnecting) → `closed`.
 * {@link PeerStatus} says the same with the details (attempt, delay, why).
 *
 * @since 0.1.0
 * @category models
 */
export type PeerState = "connecting" | "connected" | "disconnected" | "closed"

/**
 * Why a peer closed for good.
 *
 * - `closed`: `close` was called or its scope closed.
 * - `ended`: the connection ended (or could not be opened) and `reconnect` is off.
 * - `gaveUp`: `reconnect.maxAttempts` consecutive attempts failed.
 * - `rejected`: the server refused this client for good: a rejected handshake (`HandshakeError`)
 *   or HTTP 401/403 on the WebSocket upgrade (a fatal `ConnectionError`). Never retried.
 *
 * @since 0.1.0
 * @category models
 */
export type ClosedReason = "closed" | "ended" | "gaveUp" | "rejected"

/**
 * The connection state with its details, as `status` reports it and `statusChanges` streams it.
 *
 * - `Connecting`: attempt `attempt` (1 after a connection that was up) is being made.
 * - `Connected`: connected and handshaken; `connection` counts connections from 1.
 * - `BackingOff`: `attempt` consecutive attempts failed (or the connection ended); the next one
 *   starts after `nextDelay`; `lastError` says why.
 * - `Closed`: for good, because of `reason`; `error` says why when it was not `close`.
 *
 * @since 0.1.0
 * @category models
 */
export type PeerStatus =
  | { readonly _tag: "Connecting"; readonly attempt: number }
  | { readonly _tag: "Connected"; readonly connection: number }
  | {
    readonly _tag: "BackingOff"
    readonly attempt: number
    readonly nextDelay: Duration.Duration
    readonly lastError: ConnectionError.ConnectionError
  }
  | {
    readonly _tag: "Closed"
    readonly reason: ClosedReason
    readonly error?: ConnectionError.ConnectionError | HandshakeError | undefined
  }

const stateOf = (status: PeerStatus): PeerState => {
  switch (status._tag) {
    case "Connecting":
      return "connecting"
    case "Connected":
      return "connected"
    case "BackingOff":
      return "disconnected"
    case "Closed":
      return "closed"
  }
}

/**
 * The bounded outbound queue.
 *
 * - `suspend` (default for clients): wait for room, up to `enqueueTimeout` (default 15 s, like
 *   CodexMonitor's proxy), then fail with `OutboundQueueFullError`.
 * - `fail`: fail at once when full.
 * - `drop`: drop notifications that do not fit (a slow consumer misses events); replies and
 *   requests wait as with `suspend`.
 * - `disconnect` (default for server connections): close the connection of a slow consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboundOptions {
  /** Messages the queue holds. Default 512 (CodexMonitor's proxy); 1024 for server connections. */
  readonly capacity?: number | undefined
  /** What happens when the queue is full (see above). Default `suspend`. */
  readonly whenFull?: "suspend" | "fail" | "drop" | "disconnect" | undefined
  /** How long `suspend` (and `drop`, for replies and requests) waits for room. Default 15 s. */
  readonly enqueueTimeout?: Duration.Input | undefined
}

/**
 * Reconnect with capped exponential backoff: `initialDelay * factor^n`, at most `maxDelay`.
 * Defaults: 500 ms, ×2, 20 s, unlimited attempts; an idempotent call is replayed at most `maxReplays`
 * (1) times.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReconnectOptions {
  /** The delay after the first failure. Default 500 ms. */
  readonly initialDelay?: Duration.Input | undefined
  /** The cap on the delay. Default 20 s. */
  readonly maxDelay?: Duration.Input | undefined
  /** The growth per consecutive failure. Default 2. */
  readonly factor?: number | undefined
  /** Consecutive failed connections before the peer closes for good. Default unlimited. */
  readonly maxAttempts?: number | undefined
  /** How many times one idempotent call is sent again. Default 1. */
  readonly maxReplays?: number | undefined
}

/**
 * Application-level keepalive (see `RpcPeerOptions.keepalive`).
 *
 * @since 0.1.0
 * @category models
 */
export interface KeepaliveOptions {
  /** How long the connection may be silent before a ping is sent. Default 30 s. */
  readonly interval?: Duration.Input | undefined
  /** How long to wait for the answer before declaring the connection half-open. Default 10 s. */
  readonly timeout?: Duration.Input | undefined
  /** The method called. Default `"ping"`; an unknown method's error answer counts as alive. */
  readonly method?: string | undefined
  /** The params sent with it. Default none. */
  readonly params?: unknown
}

/**
 * A handler for requests the other side sends us (server-to-client requests on a client), untyped.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestHandler<R = never> = (
  params: unknown,
  peer: RpcPeer,
  request: Message.Request
) => Effect.Effect<unknown, RpcError, R>

/**
 * Handlers for the requests the other side sends, typed by the `incoming` method table: each gets
 * the decoded params, the peer, and the request as it came (id, method); its result is encoded
 * with the method's result schema. A handler may require services `R` (provided from the context
 * `RpcPeer.make` runs in, e.g. a `Layer`). Methods without a handler get "method not found".
 *
 * @since 0.1.0
 * @category models
 */
export type RequestHandlers<In extends MethodTable = MethodTable, R = never> = {
  readonly [K in keyof In & string]?: (
    params: Params<In, K>,
    peer: RpcPeer,
    request: Message.Request
  ) => Effect.Effect<Result<In, K>, RpcError, R>
}

/**
 * Handlers for notifications the other side sends, typed by the `incomingNotifications` table:
 * each gets the decoded params, the notification as it came (its `extra` top-level fields
 * included) and the peer. They run in order on the connection's reader: keep them short (fork
 * longer work). Params that do not match are logged and counted (`invalidNotifications`); the
 * notification still reaches subscribers.
 *
 * @since 0.1.0
 * @category models
 */
export type NotificationHandlers<N extends NotificationTable = NotificationTable, R = never> = {
  readonly [K in keyof N & string]?: (
    params: NotificationParams<N, K>,
    notification: Message.Notification,
    peer: RpcPeer
  ) => Effect.Effect<void, never, R>
}

/**
 * Options for {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcPeerOptions<
  M extends MethodTable = MethodTable,
  In extends MethodTable = MethodTable,
  N extends NotificationTable = NotificationTable,
  H extends RequestHandlers<In, unknown> = RequestHandlers<In>,
  NH extends NotificationHandlers<N, unknown> = NotificationHandlers<N>
> {
  /** The socket, or an effect producing one. Each connection (and reconnection) acquires its reader. */
  readonly connect: Socket.Socket | Effect.Effect<Socket.Socket, Socket.SocketError>
  /**
   * What `connect` reaches, for error messages when the transport does not say (the Node
   * transports do: `host:port` or the URL). Default `"the other side"`.
   */
  readonly address?: string | undefined
  /** The JSON-RPC dialect both sides speak (`Dialect.strict`, `lite`, `daemon`, or your own). */
  readonly dialect: Dialect
  /** How messages are cut on the wire (`Framing.ndjson()`, `contentLength()`, `webSocket()`). */
  readonly framing: Framing
  /** Typed methods for {@link RpcPeer.call}; methods marked `idempotent` are replayed on reconnect. */
  readonly methods?: M | undefined
  /** More idempotent method names (for untyped `request`). */
  readonly idempotent?: Iterable<string> | undefined
  /**
   * The requests the other side sends (server-to-client requests such as codex approvals), with
   * params and result schemas: `handlers` are typed by it, params are decoded before the handler
   * runs (a mismatch is answered with the dialect's "invalid params") and results encoded.
   */
  readonly incoming?: In | undefined
  /** Handlers for incoming requests by method. Unknown methods get the dialect's "method not found". */
  readonly handlers?: H | undefined
  /** The notifications the other side sends, with params schemas, for `notificationHandlers`. */
  readonly incomingNotifications?: N | undefined
  /** Typed handlers for incoming notifications (see {@link NotificationHandlers}). */
  readonly notificationHandlers?: NH | undefined
  /** Replaces `handlers` entirely (used by `RpcServer`). */
  readonly dispatch?: ((request: Message.Request, peer: RpcPeer) => Effect.Effect<unknown, RpcError>) | undefined
  /** Called for each incoming notification (they are also published on `notifications`). */
  readonly onNotification?: ((notification: Message.Notification, peer: RpcPeer) => Effect.Effect<void>) | undefined
  /** Default per-call timeout. Default 60 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /** The bounded outbound queue and what to do when it is full. */
  readonly outbound?: OutboundOptions | undefined
  /**
   * How calls are cancelled, instead of the dialect's (`$/cancelRequest` for `Dialect.strict`, none
   * for `lite` and `daemon`); `false` for none. Interrupting a call's fiber, or its timing out,
   * sends the cancel notification; a received one interrupts the handler of that request, which
   * is answered with the cancellation's error.
   */
  readonly cancellation?: Cancellation | false | undefined
  /** Off by default: the first disconnect closes the peer. */
  readonly reconnect?: boolean | ReconnectOptions | undefined
  /**
   * Application-level keepalive, for transports without one of their own (NDJSON or
   * Content-Length over TCP, stdio): when nothing arrived during a whole `interval` (so after one
   * to two intervals of silence), a request (`method`, default `"ping"`) is sent, and any answer,
   * even an error, proves the connection alive. No
   * answer within `timeout` means the connection is half-open (a NAT or a mobile network dropped
   * it silently): it is closed with a `HalfOpen` `ConnectionError`, and a reconnecting peer
   * reconnects. Off by default; `true` means 30 s / 10 s / `"ping"`. WebSocket connections have
   * ping/pong frames for this (`keepalive` of `connectWebSocket`).
   */
  readonly keepalive?: boolean | KeepaliveOptions | undefined
  /**
   * Closes a connection on which no message went either way for this long (`ClosedLocally`); it is
   * checked once per period, so the connection goes after one to two periods of silence. Off by
   * default for peers; `RpcServer` connections default to 30 minutes.
   */
  readonly idleTimeout?: Duration.Input | undefined
  /** Run after every (re)connect before any other message is sent; a rejection is fatal. */
  readonly handshake?: Handshake | undefined
  /**
   * Incoming requests in flight at once. Default 32 (CodexMonitor's per-connection limit). A request
   * holds its slot until its reply is in the outbound queue, so replies waiting for a slow reader
   * count against this bound.
   */
  readonly concurrency?: number | undefined
  /**
   * Incoming requests allowed to wait for a free slot beyond `concurrency`. Default 1024. A request
   * past this bound is answered with the dialect's `overloaded` error (`-32001` in the strict and
   * lite dialects, as the codex app-server does). That answer is queued by the connection's reader
   * itself: when the other side does not read its replies, the reader waits, so the connection
   * stops being read instead of growing memory. At most `concurrency + maxQueuedRequests` incoming
   * requests and `outbound.capacity` outgoing messages are held per connection.
   */
  readonly maxQueuedRequests?: number | undefined
  /**
   * Whether calls, notifications and handled requests run in spans (`RpcPeer.request`, …).
   * Default: only when a tracer other than Effect's native in-memory one is installed.
   */
  readonly tracing?: boolean | undefined
  /**
   * Each subscriber's notification buffer: `capacity` (default 1024) and what happens when it is
   * full (`whenFull`: `dropOldest`, the default, or `end`). A subscriber never blocks the
   * connection: one that falls behind loses its oldest notifications or is ended, with a counter
   * (`dropped` on the subscription, `droppedNotifications` in `stats`) and a log line.
   */
  readonly notificationBuffer?: Fanout.SubscriberOptions | undefined
  /**
   * The peer's `RpcMetrics` (on by default) under the attributes `name` (default `"peer"`) and
   * `role` (default `"client"`); `false` for none.
   */
  readonly metrics?: PeerMetricsOptions | false | undefined
}

/**
 * Per-call options.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  /** This call's timeout, instead of the peer's `requestTimeout`. */
  readonly timeout?: Duration.Input | undefined
  /** Overrides whether this call may be replayed after a reconnect. */
  readonly idempotent?: boolean | undefined
  /**
   * Told the id this call was sent with, when it is allocated (for a proxy that must name the
   * request to the other side later, e.g. `RpcBridge`'s "settled" notices), and a function that
   * cancels the call: it fails with `error` and the other side gets the cancel message, if the
   * call is still waiting (for a proxy passing on its own client's cancel).
   */
  readonly onId?: ((id: Message.Id, cancel: (error: CallError) => void) => void) | undefined
}

/**
 * Counters for observability and tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface PeerStats {
  /** Connections opened so far (1 + reconnects). */
  readonly connections: number
  /** Whether a connection is open and handshaken now. */
  readonly connected: boolean
  /** Calls made (`call` and `request`). */
  readonly calls: number
  /** Calls that failed, by the error's `_tag` (`RpcError`, `RpcTimeoutError`, …). */
  readonly callErrors: Readonly<Record<string, number>>
  /** Calls waiting for a reply. */
  readonly pending: number
  /** Incoming requests handed to a handler (or `dispatch`). */
  readonly requests: number
  /** Incoming requests answered with an error (a handler's `RpcError`, a defect, an unknown method). */
  readonly requestErrors: number
  /** Incoming requests refused with the dialect's `overloaded` error. */
  readonly overloaded: number
  /** Incoming requests holding a slot (running, or their reply waiting for room). */
  readonly inFlight: number
  /** Incoming requests waiting for a slot. */
  readonly queued: number
  /** Notifications received (cancel notifications excepted). */
  readonly notifications: number
  /** Notification subscribers now. */
  readonly subscribers: number
  /** Notifications buffered for subscribers, not yet read. */
  readonly bufferedNotifications: number
  /** Messages waiting in the outbound queue. */
  readonly outboundQueued: number
  /** Incoming frames or texts dropped as invalid (oversized, bad header, not a message). */
  readonly invalidFrames: number
  /** Notifications whose params did not match their `incomingNotifications` schema. */
  readonly invalidNotifications: number
  /** Outbound messages dropped or refused because the queue was full. */
  readonly droppedOutbound: number
  /** Notifications lost by subscribers that fell behind (summed over subscribers). */
  readonly droppedNotifications: number
  /** Idempotent calls sent again after a reconnect. */
  readonly replayed: number
}

/**
 * A connected (or connecting) JSON-RPC peer.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcPeer<M extends MethodTable = MethodTable> {
  /** A typed call of a method in the peer's method table. */
  readonly call: <K extends keyof M & string>(
    method: K,
    params: Params<M, K>,
    options?: CallOptions
  ) => Effect.Effect<Result<M, K>, CallError>
  /** An untyped call. */
  readonly request: (method: string, params?: unknown, options?: CallOptions) => Effect.Effect<unknown, CallError>
  /** Sends a notification. */
  readonly notify: (method: string, params?: unknown) => Effect.Effect<void, CallError>
  /**
   * Incoming notifications, from the moment the stream starts, through a bounded buffer of its
   * own (`notificationBuffer`); it never blocks the connection. Ending the stream unsubscribes.
   */
  readonly notifications: Stream.Stream<Message.Notification, Fanout.SubscriberOverflowError>
  /**
   * Subscribes now (so nothing is missed) and returns the stream, buffered per `notificationBuffer`.
   * The subscription ends when the stream ends (e.g. `Stream.take(1)`) or the scope closes; until
   * then an unread subscription holds at most its capacity and never stalls the connection.
   */
  readonly subscribe: Effect.Effect<
    Stream.Stream<Message.Notification, Fanout.SubscriberOverflowError>,
    never,
    Scope.Scope
  >
  /** Like `subscribe`, with this subscriber's own buffer options and its drop counter. */
  readonly subscribeWith: (
    options?: Fanout.SubscriberOptions
  ) => Effect.Effect<Fanout.Subscription<Message.Notification>, never, Scope.Scope>
  /** The connection state now. */
  readonly state: Effect.Effect<PeerState>
  /** The connection state now, with its details (attempt, next delay, last error, close reason). */
  readonly status: Effect.Effect<PeerStatus>
  /**
   * The current status, then every change, for as long as the stream runs (a bounded buffer of 64
   * that drops the oldest changes for a reader that falls behind). Ends when the peer closes.
   */
  readonly statusChanges: Stream.Stream<PeerStatus>
  /** The counters now. */
  readonly stats: Effect.Effect<PeerStats>
  /**
   * Waits until connected and handshaken; fails if the peer closed (`PeerDisconnectedError`, whose
   * `cause` says why) or the handshake was rejected (`HandshakeError`).
   */
  readonly awaitReady: Effect.Effect<void, PeerDisconnectedError | HandshakeError>
  /** Waits until the peer is closed for good. */
  readonly closed: Effect.Effect<void>
  /** Drops the current connection (a reconnecting peer reconnects). */
  readonly disconnect: Effect.Effect<void>
  /** Closes the peer: every pending call fails with `PeerDisconnectedError`. */
  readonly close: Effect.Effect<void>
}

interface Pending {
  readonly method: string
  readonly data: string | Uint8Array
  /** Completes the call (first completion wins). */
  readonly settle: (exit: Exit.Exit<unknown, CallError>) => void
  readonly idempotent: boolean
  replays: number
  replay: boolean
  readonly deadline: number
  readonly timeoutMillis: number
}

interface Item {
  readonly data: string | Uint8Array
  readonly id: Message.Id | undefined
}

const callLabel = (method: string) => method === "" ? "the call" : `"${method}"`

const because = (cause: ConnectionError.ConnectionError | undefined) => cause === undefined ? "" : ` (${cause.message})`

const disconnectedError = (
  method: string,
  why: "disconnected" | "closed" | "notConnected" | "rejected",
  cause: ConnectionError.ConnectionError | undefined,
  timeoutMillis = 0
) =>
  new PeerDisconnectedError({
    method,
    cause,
    message: why === "disconnected"
      ? `${callLabel(method)} failed: the connection ended before the answer${because(cause)}; ` +
        "mark the method idempotent and enable `reconnect` to have it replayed, or call it again"
      : why === "notConnected"
      ? `${callLabel(method)} was not sent: no connection within its ${
        Duration.format(Duration.millis(timeoutMillis))
      } timeout; the last attempt failed${because(cause)}`
      : why === "rejected"
      ? `${callLabel(method)} failed: the server refused this client for good${because(cause)}; ` +
        "fix the credentials or the Origin, then start a new RpcPeer"
      : `${callLabel(method)} failed: the peer is closed${
        cause === undefined ? " (`close` was called, or reconnect is off or gave up)" : because(cause)
      }; start a new RpcPeer to call again`
  })

const slowConsumerError = (method: string, capacity: number) =>
  new PeerDisconnectedError({
    method,
    message: `${callLabel(method)} failed: the outbound queue (capacity ${capacity}) was full, so this slow ` +
      "consumer was disconnected; raise `outbound.capacity` or use `whenFull: \"drop\"` for events"
  })

const timeoutError = (method: string, millis: number) =>
  new RpcTimeoutError({
    method,
    timeoutMillis: millis,
    message: `no reply to ${callLabel(method)} within ${Duration.format(Duration.millis(millis))}; ` +
      "pass a longer `timeout` to the call (or `requestTimeout` to the peer) if the method is slow, " +
      "or check that the other side answers it"
  })

const schemaError = (method: string, side: "params" | "result", exit: Exit.Exit<unknown, Schema.SchemaError>) => {
  const error = Option.getOrUndefined(Exit.findErrorOption(exit))
  const detail = error === undefined ? "schema mismatch" : error.message
  return new RpcSchemaError({
    method,
    side,
    message: side === "params"
      ? `the params of "${method}" do not match its params schema: ${detail}; fix the call's arguments`
      : `the result of "${method}" does not match its result schema: ${detail}; ` +
        "fix the method table's result schema or the server's answer"
  })
}

/**
 * Starts a peer in the current scope. It connects in the background; calls wait (within their
 * timeout) until it is connected and the handshake is done. Closing the scope closes the peer.
 *
 * @example
 * ```ts
 * const peer = yield* RpcPeer.make({
 *   connect: NodeSocket.makeNet({ host: "127.0.0.1", port: 4732 }),
 *   dialect: Dialect.daemon,
 *   framing: Framing.ndjson(),
 *   handshake: Handshake.tokenAuth(Redacted.make("s3cret")),
 *   reconnect: true,
 *   idempotent: ["list_workspaces"]
 * })
 * const workspaces = yield* peer.request("list_workspaces", {})
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  M extends MethodTable,
  In extends MethodTable,
  N extends NotificationTable,
  H extends RequestHandlers<In, unknown>,
  NH extends NotificationHandlers<N, unknown>
>(
  options: RpcPeerOptions<M, In, N, H, NH>
): Effect.Effect<RpcPeer<M>, never, Scope.Scope | HandlerServices<H> | HandlerServices<NH>> =>
  Effect.gen(function*() {
    const { dialect, framing } = options
    const methods: MethodTable = options.methods ?? {}
    const idempotent = new Set<string>(options.idempotent ?? [])
    for (const [name, spec] of Object.entries(methods)) if (spec.idempotent) idempotent.add(name)
    const requestTimeoutMillis = Duration.toMillis(Duration.fromInputUnsafe(options.requestTimeout ?? "60 seconds"))
    const clock = yield* Clock.Clock
    // Spans cost microseconds per call; create them only when someone collects them (a tracer other
    // than Effect's in-memory native one is installed), unless told otherwise.
    const tracing = options.tracing ?? (yield* Tracer.Tracer) !== Tracer.nativeTracer
    const traced = <A, E, Env>(
      name: string,
      method: string,
      effect: Effect.Effect<A, E, Env>
    ): Effect.Effect<A, E, Env> =>
      tracing
        ? Effect.withSpan(effect, name, { attributes: { "rpc.method": method }, captureStackTrace: false })
        : effect
    const capacity = options.outbound?.capacity ?? 512
    const whenFull = options.outbound?.whenFull ?? "suspend"
    const enqueueTimeout = options.outbound?.enqueueTimeout ?? "15 seconds"
    const reconnect: ReconnectOptions | undefined = options.reconnect === true
      ? {}
      : options.reconnect === false || options.reconnect === undefined
      ? undefined
      : options.reconnect
    const maxReplays = reconnect?.maxReplays ?? 1
    const handshake = options.handshake
    const byteFraming = framing.kind === "bytes"

    const scope = yield* Effect.scope
    // The bounded outbound queue: a plain array drained by the writer fiber. The writer waits on a
    // Deferred, which resumes it synchronously when something is queued (no scheduler hop).
    const outbox: Array<Item> = []
    let wakeWriter: ((effect: Effect.Effect<void>) => void) | undefined
    let spaceWaiters: Array<Deferred.Deferred<void>> = []
    // Set per connection when the transport offers a synchronous write path (see internal/fastWrite).
    let fast: FastWrite | undefined
    let congested = false
    // Messages queued and reads done so far: the idle timeout and the keepalive compare them between
    // checks (a counter costs less per message than reading the clock).
    let sentCount = 0
    let receivedCount = 0
    const offerUnsafe = (item: Item): boolean => {
      if (outbox.length >= capacity) return false
      sentCount++
      if (fast !== undefined && wakeWriter !== undefined && outbox.length === 0 && !congested) {
        // The writer is idle and nothing is queued: write in this fiber's turn, in order.
        if (!fast.write(item.data)) {
          congested = true
          const wake = wakeWriter
          wakeWriter = undefined
          wake(Effect.void)
        }
        return true
      }
      outbox.push(item)
      if (wakeWriter !== undefined) {
        const wake = wakeWriter
        wakeWriter = undefined
        wake(Effect.void)
      }
      return true
    }
    const releaseSpace = () => {
      if (spaceWaiters.length === 0) return
      const waiters = spaceWaiters
      spaceWaiters = []
      for (const waiter of waiters) Deferred.doneUnsafe(waiter, Exit.void)
    }
    const offerWaiting = (item: Item): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (offerUnsafe(item)) return Effect.void
        const waiter = Deferred.makeUnsafe<void>()
        spaceWaiters.push(waiter)
        return Effect.andThen(Deferred.await(waiter), offerWaiting(item))
      })
    const notifications = Fanout.make<Message.Notification>({
      name: "notifications",
      defaults: options.notificationBuffer
    })
    yield* Scope.addFinalizer(scope, notifications.shutdown)
    const ready = yield* Latch.make(false)
    const closedSignal = yield* Deferred.make<void>()
    // Incoming requests holding a slot (running, or their reply waiting for room), bounded by
    // `concurrency`; up to `maxQueuedRequests` more wait in arrival order (`queued` counts them from
    // the moment they are accepted). A request interrupted with its connection gives both back.
    const concurrency = options.concurrency ?? 32
    const maxQueuedRequests = options.maxQueuedRequests ?? 1024
    let inFlight = 0
    let queued = 0
    let generation = 0
    const slotWaiters: Array<() => void> = []
    const pending = new Map<Message.Id, Pending>()
    let nextId = dialect.firstId
    const address = options.address ?? "the other side"
    let status: PeerStatus = { _tag: "Connecting", attempt: 1 }
    const statusFanout = Fanout.make<PeerStatus>({ name: "peer status", defaults: { capacity: 64 } })
    yield* Scope.addFinalizer(scope, statusFanout.shutdown)
    const setStatus = (next: PeerStatus): Effect.Effect<void> =>
      Effect.suspend(() => {
        status = next
        return statusFanout.publish(next)
      })
    // A rejected handshake or a fatal connection error (401/403): no more attempts, every call fails.
    let fatal: HandshakeError | ConnectionError.ConnectionError | undefined
    // Why the last attempt failed or the last connection ended.
    let lastError: ConnectionError.ConnectionError | undefined
    // Why the current connection is ending, when this side knows first (disconnect, keepalive).
    let endReason: ConnectionError.ConnectionError | undefined
    let currentEnded: Deferred.Deferred<void> | undefined
    const stats = {
      connections: 0,
      invalidFrames: 0,
      invalidNotifications: 0,
      droppedOutbound: 0,
      replayed: 0,
      calls: 0,
      requests: 0,
      requestErrors: 0,
      overloaded: 0,
      notifications: 0
    }
    const callErrors: Record<string, number> = {}

    const endConnectionBecause = (reason: ConnectionError.ConnectionError) =>
      Effect.suspend(() => {
        if (currentEnded === undefined) return Effect.void
        endReason ??= reason
        return Deferred.succeed(currentEnded, void 0)
      })
    const endConnection = Effect.suspend(() =>
      endConnectionBecause(ConnectionError.make("ClosedLocally", address, undefined, "disconnect was called"))
    )
    const failureOf = (method: string): CallError =>
      fatal instanceof HandshakeError ? fatal : disconnectedError(method, "disconnected", lastError)

    // Puts one wire chunk on the outbound queue according to the policy.
    const enqueue = (item: Item, method: string, notification = false): Effect.Effect<void, CallError> => {
      if (whenFull === "suspend" || (whenFull === "drop" && !notification)) {
        if (offerUnsafe(item)) return Effect.void
        return offerWaiting(item).pipe(
          Effect.timeoutOption(enqueueTimeout),
          Effect.flatMap((done) =>
            Option.isSome(done)
              ? Effect.void
              : Effect.fail(
                new OutboundQueueFullError({
                  method,
                  capacity,
                  message: `${callLabel(method)} could not be sent: the outbound queue (capacity ${capacity}) ` +
                    `stayed full for ${Duration.format(Duration.fromInputUnsafe(enqueueTimeout))} because the ` +
                    "other side reads too slowly; raise `outbound.capacity` or `outbound.enqueueTimeout`, or send less"
                })
              )
          )
        )
      }
      if (offerUnsafe(item)) return Effect.void
      stats.droppedOutbound++
      switch (whenFull) {
        case "drop":
          return Effect.void
        case "fail":
          return Effect.fail(
            new OutboundQueueFullError({
              method,
              capacity,
              message: `${callLabel(method)} could not be sent: the outbound queue (capacity ${capacity}) is ` +
                "full and `whenFull` is \"fail\"; retry later, raise `outbound.capacity`, or use \"suspend\""
            })
          )
        case "disconnect":
          return endConnectionBecause(
            ConnectionError.make("ClosedLocally", address, undefined, `the outbound queue (${capacity}) was full`)
          ).pipe(Effect.andThen(Effect.fail(slowConsumerError(method, capacity))))
      }
    }

    const send = (message: Message.Message, method: string) =>
      enqueue({ data: framing.encode(dialect.encode(message)), id: undefined }, method, message._tag === "Notification")

    // Cancellation: the dialect's (or the option's) cancel notification, sent best-effort when a
    // call is interrupted or times out; on the serving side, requests being handled by id, so a
    // cancel notification interrupts the handler's fiber.
    const cancellation = options.cancellation === false ? undefined : options.cancellation ?? dialect.cancellation
    const cancelRemote = (id: Message.Id) => {
      if (cancellation === undefined) return
      const data = framing.encode(dialect.encode(Message.notification(cancellation.method, cancellation.params(id))))
      if (!offerUnsafe({ data, id: undefined })) stats.droppedOutbound++
    }
    const running = new Map<Message.Id, Fiber.Fiber<unknown, unknown>>()
    const cancelIncoming = (params: unknown, connectionScope: Scope.Scope): Effect.Effect<void> | undefined => {
      const id = cancellation?.idOf(params)
      const fiber = id === undefined ? undefined : running.get(id)
      if (id === undefined || fiber === undefined) return undefined
      running.delete(id)
      fiber.interruptUnsafe()
      const answer = Message.errorResponse(id, cancellation!.error())
      return Effect.asVoid(
        Effect.forkIn(Effect.ignore(send(answer, "(cancelled)")), connectionScope, { startImmediately: true })
      )
    }

    // Call deadlines are enforced by one sweeper fiber per peer rather than a timer per call: it
    // sleeps until the earliest deadline and is woken early only when a call has an earlier one.
    let sweeperWake: Deferred.Deferred<void> | undefined
    let nextSweepAt = Number.POSITIVE_INFINITY
    const registerDeadline = (deadline: number) => {
      if (deadline < nextSweepAt && sweeperWake !== undefined) {
        const wake = sweeperWake
        sweeperWake = undefined
        nextSweepAt = deadline
        Deferred.doneUnsafe(wake, Exit.void)
      }
    }
    const sweeper: Effect.Effect<never> = Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      let earliest = Number.POSITIVE_INFINITY
      for (const [id, entry] of pending) {
        if (entry.deadline <= now) {
          pending.delete(id)
          entry.settle(Exit.fail(timeoutError(entry.method, entry.timeoutMillis)))
          cancelRemote(id)
        } else if (entry.deadline < earliest) {
          earliest = entry.deadline
        }
      }
      const wake = Deferred.makeUnsafe<void>()
      sweeperWake = wake
      nextSweepAt = earliest
      const waitForWork = earliest === Number.POSITIVE_INFINITY
        ? Deferred.await(wake)
        : Effect.raceFirst(Effect.sleep(Duration.millis(earliest - now)), Deferred.await(wake))
      return Effect.andThen(waitForWork, sweeper)
    })

    // The failures of the API's calls, counted by tag: where the call receives them when that is
    // known (a reply, a refused encode), around the call otherwise.
    const countExit = (exit: Exit.Exit<unknown, CallError>) => {
      if (exit._tag === "Failure") countCallError(callErrors, exit.cause)
    }
    const failCounted = (error: CallError): Effect.Effect<never, CallError> => {
      countCallError(callErrors, Cause.fail(error))
      return Effect.fail(error)
    }
    const countingErrors = <A>(effect: Effect.Effect<A, CallError>): Effect.Effect<A, CallError> =>
      Effect.onError(effect, (cause) => Effect.sync(() => countCallError(callErrors, cause)))

    // Sends a request on the current connection now, bypassing the ready gate, and returns the wait
    // for its reply. Call it only inside a suspended effect (`sendRequest` is the lazy form). With
    // `countErrors` (the API's calls) the call's failure is counted by tag (`callErrors`).
    const startRequest = (
      method: string,
      params: unknown,
      replayable: boolean,
      timeoutMillis: number,
      onId?: CallOptions["onId"],
      countErrors = false
    ): Effect.Effect<unknown, CallError> => {
      const id = nextId++
      // A one-shot slot instead of a Deferred: the reply resumes the caller directly, and an
      // interrupted caller (timeout, scope closed) removes its pending entry.
      let outcome: Exit.Exit<unknown, CallError> | undefined
      let resume: ((exit: Exit.Exit<unknown, CallError>) => void) | undefined
      // Whether the reply's failure is counted where the caller receives it (when the request went
      // straight into the queue, the reply is the only way the call can fail).
      let countAtReply = false
      const settle = (exit: Exit.Exit<unknown, CallError>) => {
        if (outcome !== undefined) return
        outcome = exit
        if (resume !== undefined) {
          const r = resume
          resume = undefined
          if (countAtReply) countExit(exit)
          r(exit)
        }
      }
      const data = framing.encode(dialect.encode(Message.request(id, method, params)))
      const deadline = clock.currentTimeMillisUnsafe() + timeoutMillis
      pending.set(id, {
        method,
        data,
        settle,
        idempotent: replayable,
        replays: 0,
        replay: false,
        deadline,
        timeoutMillis
      })
      registerDeadline(deadline)
      onId?.(id, (error) => {
        if (!pending.delete(id)) return
        cancelRemote(id)
        settle(Exit.fail(error))
      })
      const awaitReply = Effect.callback<unknown, CallError>((r) => {
        if (outcome !== undefined) {
          if (countAtReply) countExit(outcome)
          return r(outcome)
        }
        resume = r
        return Effect.sync(() => {
          // The caller was interrupted: forget the call and tell the other side, if it can hear it.
          resume = undefined
          if (pending.delete(id)) cancelRemote(id)
        })
      })
      // Fast path: room in the queue, nothing to wait for but the reply.
      if (offerUnsafe({ data, id })) {
        countAtReply = countErrors
        return awaitReply
      }
      const waited = enqueue({ data, id }, method).pipe(
        Effect.andThen(awaitReply),
        Effect.onError(() => Effect.sync(() => pending.delete(id)))
      )
      return countErrors ? countingErrors(waited) : waited
    }
    const sendRequest = (method: string, params: unknown, replayable: boolean, timeoutMillis: number) =>
      Effect.suspend(() => startRequest(method, params, replayable, timeoutMillis))

    const notifyNow = (method: string, params: unknown) => send(Message.notification(method, params), method)

    const awaitReadyFor = (method: string): Effect.Effect<void, PeerDisconnectedError | HandshakeError> =>
      Effect.suspend(() => {
        if (fatal instanceof HandshakeError) return Effect.fail(fatal)
        if (fatal !== undefined) return Effect.fail(disconnectedError(method, "rejected", fatal))
        if (status._tag === "Closed") return Effect.fail(disconnectedError(method, "closed", lastError))
        if (ready.isOpen()) return Effect.void
        return ready.await.pipe(Effect.andThen(awaitReadyFor(method)))
      })
    // A call that waited its whole timeout for a connection: say why there was none, if known.
    const notReadyError = (method: string, millis: number): CallError =>
      lastError !== undefined && status._tag !== "Connected"
        ? disconnectedError(method, "notConnected", lastError, millis)
        : timeoutError(method, millis)
    const awaitReady = awaitReadyFor("")

    const timeoutMillisOf = (timeout: Duration.Input | undefined) =>
      timeout === undefined ? requestTimeoutMillis : Duration.toMillis(Duration.fromInputUnsafe(timeout))

    // A call of the API (`request`, and `call` through it); `countCall` counts it in `calls` (`call`
    // counts its own). Its failure is counted by tag in `callErrors`.
    const request = (
      method: string,
      params: unknown,
      callOptions: CallOptions | undefined,
      countCall: boolean
    ): Effect.Effect<unknown, CallError> =>
      traced(
        "RpcPeer.request",
        method,
        Effect.suspend(() => {
          if (countCall) stats.calls++
          const millis = timeoutMillisOf(callOptions?.timeout)
          const replayable = callOptions?.idempotent ?? idempotent.has(method)
          if (ready.isOpen() && fatal === undefined && status._tag !== "Closed") {
            return startRequest(method, params, replayable, millis, callOptions?.onId, true)
          }
          // Not connected yet (or reconnecting): wait for the connection within the same time budget.
          const started = clock.currentTimeMillisUnsafe()
          return countingErrors(
            awaitReadyFor(method).pipe(
              Effect.timeoutOrElse({
                duration: Duration.millis(millis),
                orElse: () => Effect.fail(notReadyError(method, millis))
              }),
              Effect.andThen(Effect.suspend(() =>
                startRequest(
                  method,
                  params,
                  replayable,
                  Math.max(0, millis - (clock.currentTimeMillisUnsafe() - started)),
                  callOptions?.onId
                )
              ))
            )
          )
        })
      )

    const notify = (method: string, params?: unknown) =>
      traced("RpcPeer.notify", method, Effect.andThen(awaitReadyFor(method), notifyNow(method, params)))

    // Already framed notification bytes, shared by many peers (see internal/encodedSend).
    const wakeIfQueued = () => {
      if (outbox.length === 0 || wakeWriter === undefined) return
      const wake = wakeWriter
      wakeWriter = undefined
      wake(Effect.void)
    }
    const sendEncoded: EncodedSend = {
      send: (data, method, hold) => {
        const item: Item = { data, id: undefined }
        if (ready.isOpen() && fatal === undefined && status._tag !== "Closed") {
          if (!hold && offerUnsafe(item)) return undefined
          if (hold && outbox.length < capacity) {
            // Queued without waking the writer: `flush` (or the next message) writes it.
            sentCount++
            outbox.push(item)
            return undefined
          }
        }
        return Effect.andThen(awaitReadyFor(method), enqueue(item, method, true))
      },
      flush: wakeIfQueued
    }

    const encoders = new Map<string, (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()
    const decoders = new Map<string, (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()
    const call = (method: string, params: unknown, callOptions?: CallOptions): Effect.Effect<unknown, CallError> =>
      Effect.suspend(() => {
        stats.calls++
        const spec = methods[method]
        if (spec === undefined) {
          return request(method, params, callOptions, false)
        }
        let encode = encoders.get(method)
        if (encode === undefined) {
          encode = Schema.encodeUnknownExit(spec.params)
          encoders.set(method, encode)
        }
        let decode = decoders.get(method)
        if (decode === undefined) {
          decode = Schema.decodeUnknownExit(spec.result)
          decoders.set(method, decode)
        }
        const encoded = encode(params)
        if (Exit.isFailure(encoded)) {
          return failCounted(schemaError(method, "params", encoded))
        }
        const decodeResult = decode
        return request(method, encoded.value, callOptions, false).pipe(
          Effect.flatMap((raw) => {
            const decoded = decodeResult(raw)
            return Exit.isSuccess(decoded)
              ? Effect.succeed(decoded.value)
              : failCounted(schemaError(method, "result", decoded))
          })
        )
      })

    const untypedPeer = () => peer as unknown as RpcPeer

    // Incoming requests: typed by `incoming` where it has the method, passed through otherwise. The
    // services handlers need are in `make`'s requirements, and handlers run in fibers forked from
    // it, which carry its context.
    const handlers = (options.handlers ?? {}) as { readonly [method: string]: RequestHandler | undefined }
    const runTyped = typedRunner(dialect, options.incoming ?? {})
    const dispatch = options.dispatch ?? ((req: Message.Request, self: RpcPeer): Effect.Effect<unknown, RpcError> => {
      const handler = handlers[req.method]
      if (handler === undefined) return Effect.fail(RpcError.fromObject(dialect.errors.methodNotFound(req.method)))
      return runTyped(req.method, req.params, (params) => handler(params, self, req)) ??
        handler(req.params, self, req)
    })
    // Counts requests and error answers; an answer already made (an Exit) stays one, for the
    // reader's immediate path.
    const countRequestError = (cause: Cause.Cause<unknown>) =>
      Effect.sync(() => {
        if (!Cause.hasInterruptsOnly(cause)) stats.requestErrors++
      })
    const countedDispatch = (req: Message.Request, self: RpcPeer): Effect.Effect<unknown, RpcError> => {
      stats.requests++
      let handled: Effect.Effect<unknown, RpcError>
      try {
        handled = dispatch(req, self)
      } catch (defect) {
        stats.requestErrors++
        throw defect
      }
      if (!Exit.isExit(handled)) return Effect.onError(handled, countRequestError)
      if (Exit.isFailure(handled)) stats.requestErrors++
      return handled
    }

    // Incoming notifications with typed handlers.
    const notificationHandlers = (options.notificationHandlers ?? {}) as {
      readonly [method: string]:
        | ((params: unknown, notification: Message.Notification, peer: RpcPeer) => Effect.Effect<void>)
        | undefined
    }
    const notificationDecoders = new Map<string, (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>>()
    for (const [name, spec] of Object.entries(options.incomingNotifications ?? {})) {
      notificationDecoders.set(name, Schema.decodeUnknownExit(spec.params))
    }
    const handleNotification = (message: Message.Notification): Effect.Effect<void> | undefined => {
      const handler = notificationHandlers[message.method]
      if (handler === undefined) return undefined
      const decode = notificationDecoders.get(message.method)
      const params = decode === undefined ? Exit.succeed(message.params) : decode(message.params)
      if (Exit.isFailure(params)) {
        stats.invalidNotifications++
        return Effect.logWarning(
          `rpc: dropped "${message.method}" notification for its handler: ${schemaMessage(params)}`
        )
      }
      return handler(params.value, message, untypedPeer())
    }

    const answerInvalid = (invalid: Invalid) =>
      dialect.replyToInvalid ? send(invalidReply(invalid), "(invalid)").pipe(Effect.ignore) : Effect.void

    // Runs an incoming request through the dispatcher and builds the reply message. A defect is
    // answered as the dialect's internal error; its details go to the log only.
    const answer = (
      incoming: Message.Request,
      handled: Effect.Effect<unknown, RpcError>
    ): Effect.Effect<Message.Message> =>
      Effect.matchCauseEffect(handled, {
        onSuccess: (value) => Effect.succeed(Message.response(incoming.id, value)),
        onFailure: (cause) => {
          const error = Option.getOrUndefined(Cause.findErrorOption(cause))
          return error !== undefined
            ? Effect.succeed(Message.errorResponse(incoming.id, error.toObject()))
            : Effect.as(
              Effect.logWarning(`rpc: handler for ${incoming.method} failed`, cause),
              Message.errorResponse(incoming.id, dialect.errors.internal("internal error"))
            )
        }
      })
    const run = (incoming: Message.Request): Effect.Effect<Message.Message> =>
      traced(
        "RpcPeer.handle",
        incoming.method,
        answer(incoming, Effect.suspend(() => countedDispatch(incoming, untypedPeer())))
      )

    // An incoming request holds a slot from its admission until its reply is in the outbound queue,
    // so replies waiting for a slow reader count against `concurrency`. Up to `maxQueuedRequests`
    // more wait for a slot in arrival order; past that the request is refused with `overloaded`.
    // The counts belong to one connection (`generation`): requests interrupted with their
    // connection need not give their slot back.
    const admit = (): "now" | "wait" | "refused" => {
      if (inFlight < concurrency) {
        inFlight++
        return "now"
      }
      if (queued < maxQueuedRequests) {
        queued++
        return "wait"
      }
      return "refused"
    }
    const acquire: Effect.Effect<void> = Effect.callback<void>((resume) => {
      let taken = false
      const take = () => {
        taken = true
        queued--
        inFlight++
        resume(Effect.void)
      }
      if (inFlight < concurrency) return take()
      slotWaiters.push(take)
      return Effect.sync(() => {
        const i = slotWaiters.indexOf(take)
        if (i !== -1) slotWaiters.splice(i, 1)
        if (!taken) queued--
      })
    })
    const release = (gen: number) => {
      if (gen !== generation) return
      inFlight--
      const next = slotWaiters.shift()
      if (next !== undefined) next()
    }
    const overloadedReply = (incoming: Message.Request) =>
      Message.errorResponse(incoming.id, dialect.errors.overloaded())

    // One request: run it in its own fiber; a refusal is sent by the reader itself, which waits for
    // room in the outbound queue if it must, so a client that does not read its replies stops being
    // read instead of growing memory.
    const handleRequest = (
      incoming: Message.Request,
      connectionScope: Scope.Scope
    ): Effect.Effect<void> | undefined => {
      const admission = admit()
      if (admission === "refused") {
        stats.overloaded++
        return Effect.ignore(send(overloadedReply(incoming), incoming.method))
      }
      const gen = generation
      if (admission === "now" && !tracing) {
        // A handler that answers at once (its effect is already an Exit, as `Effect.succeed` is) is
        // answered in the reader's turn, without a fiber of its own.
        let immediate: Effect.Effect<unknown, RpcError>
        try {
          immediate = countedDispatch(incoming, untypedPeer())
        } catch (defect) {
          immediate = Effect.die(defect)
        }
        const exit = Exit.isExit(immediate) ? (immediate as Exit.Exit<unknown, RpcError>) : undefined
        const error = exit === undefined || Exit.isSuccess(exit)
          ? undefined
          : Option.getOrUndefined(Exit.findErrorOption(exit))
        if (exit !== undefined && (Exit.isSuccess(exit) || error !== undefined)) {
          const out = Exit.isSuccess(exit)
            ? Message.response(incoming.id, exit.value)
            : Message.errorResponse(incoming.id, error!.toObject())
          const sent = send(out, incoming.method)
          if (sent === Effect.void) {
            release(gen)
            return undefined
          }
          return Effect.asVoid(Effect.forkIn(
            Effect.matchCause(sent, { onFailure: () => release(gen), onSuccess: () => release(gen) }),
            connectionScope,
            { startImmediately: true }
          ))
        }
        return forkRequest(incoming, Effect.suspend(() => answer(incoming, immediate)), gen, connectionScope)
      }
      return forkRequest(
        incoming,
        admission === "now" ? run(incoming) : Effect.andThen(acquire, run(incoming)),
        gen,
        connectionScope
      )
    }

    // Runs a request's handling (and the queueing of its reply) in a fiber of its own.
    const forkRequest = (
      incoming: Message.Request,
      handled: Effect.Effect<Message.Message>,
      gen: number,
      connectionScope: Scope.Scope
    ): Effect.Effect<void> => {
      const replied = Effect.flatMap(handled, (out) =>
        Effect.matchCause(send(out, incoming.method), {
          onFailure: () => release(gen),
          onSuccess: () => release(gen)
        }))
      // While it is being handled (not while its reply is queued), a request can be cancelled,
      // which interrupts its fiber: then its slot is given back here.
      const work = cancellation === undefined ? replied : Effect.withFiber((fiber) => {
        running.set(incoming.id, fiber)
        return Effect.onInterrupt(
          Effect.flatMap(
            Effect.ensuring(
              handled,
              Effect.sync(() => {
                if (running.get(incoming.id) === fiber) running.delete(incoming.id)
              })
            ),
            (out) =>
              Effect.matchCause(send(out, incoming.method), {
                onFailure: () => release(gen),
                onSuccess: () => release(gen)
              })
          ),
          () => Effect.sync(() => release(gen))
        )
      })
      return Effect.asVoid(Effect.forkIn(work, connectionScope, { startImmediately: true }))
    }

    const invalidReply = (invalid: Invalid): Message.Message =>
      Message.errorResponse(
        invalid.id,
        invalid.reason === "ParseError" ? dialect.errors.parseError() : dialect.errors.invalidRequest(invalid.detail)
      )

    // Returns an effect only when there is asynchronous work; responses resolve synchronously.
    const handleMessage = (
      message: Message.Message,
      connectionScope: Scope.Scope
    ): Effect.Effect<void> | undefined => {
      switch (message._tag) {
        case "Response":
        case "ErrorResponse": {
          if (message.id === null) return undefined
          const entry = pending.get(message.id)
          if (entry === undefined) return undefined
          pending.delete(message.id)
          entry.settle(
            message._tag === "Response"
              ? Exit.succeed(message.result)
              : Exit.fail(RpcError.fromObject(message.error))
          )
          return undefined
        }
        case "Notification": {
          if (cancellation !== undefined && message.method === cancellation.method) {
            return cancelIncoming(message.params, connectionScope)
          }
          stats.notifications++
          const handled = handleNotification(message)
          const before = options.onNotification === undefined
            ? handled
            : handled === undefined
            ? options.onNotification(message, untypedPeer())
            : Effect.andThen(handled, options.onNotification(message, untypedPeer()))
          if (before !== undefined) return Effect.andThen(before, Effect.suspend(() => notifications.publish(message)))
          const published = notifications.publish(message)
          return published === Effect.void ? undefined : published
        }
        case "Request":
          return handleRequest(message, connectionScope)
      }
    }

    const handleDecoded = (decoded: Decoded, connectionScope: Scope.Scope): Effect.Effect<void> | undefined => {
      switch (decoded._tag) {
        case "Message":
          return handleMessage(decoded.message, connectionScope)
        case "Invalid":
          stats.invalidFrames++
          // Only the reason is logged: a bad line may carry secrets.
          return Effect.andThen(
            Effect.logDebug(`rpc: dropped invalid message (${decoded.reason}: ${decoded.detail})`),
            answerInvalid(decoded)
          )
        case "Batch": {
          // Requests in a batch are answered together, as one batch (JSON-RPC 2.0 §6); their slots
          // are held until the batch reply is queued.
          const replies: Array<Effect.Effect<Message.Message | undefined>> = []
          const others: Array<Effect.Effect<void>> = []
          const gen = generation
          let held = 0
          for (const item of decoded.items) {
            if (item._tag === "Invalid") {
              stats.invalidFrames++
              if (dialect.replyToInvalid) replies.push(Effect.succeed(invalidReply(item)))
            } else if (item._tag === "Request") {
              const admission = admit()
              if (admission === "refused") {
                stats.overloaded++
                replies.push(Effect.succeed(overloadedReply(item)))
              } else {
                replies.push(
                  admission === "now"
                    ? run(item)
                    : Effect.andThen(acquire, Effect.andThen(Effect.sync(() => held++), run(item)))
                )
                if (admission === "now") held++
              }
            } else {
              const effect = handleMessage(item, connectionScope)
              if (effect) others.push(effect)
            }
          }
          const batch = replies.length === 0 ? Effect.void : Effect.all(replies, { concurrency: "unbounded" }).pipe(
            Effect.flatMap((out) => {
              const messages = out.filter((m): m is Message.Message => m !== undefined)
              return messages.length === 0
                ? Effect.void
                : enqueue({ data: framing.encode(dialect.encodeBatch(messages)), id: undefined }, "(batch)")
            }),
            Effect.ignore,
            Effect.ensuring(Effect.sync(() => {
              for (; held > 0; held--) release(gen)
            })),
            (effect) => Effect.asVoid(Effect.forkIn(effect, connectionScope, { startImmediately: true }))
          )
          return Effect.andThen(Effect.forEach(others, (e) => e, { discard: true }), batch)
        }
      }
    }

    const handleFrames = (
      frames: ReadonlyArray<Frame>,
      connectionScope: Scope.Scope
    ): Effect.Effect<void> | undefined => {
      let work: Array<Effect.Effect<void>> | undefined
      for (const frame of frames) {
        if (frame._tag !== "Text") {
          stats.invalidFrames++
          const reason = frame._tag === "Oversized"
            ? `a ${frame.bytes}-byte message exceeds the ${frame.limit}-byte limit`
            : frame._tag === "BadHeader"
            ? frame.detail
            : `binary frame of ${frame.bytes} bytes`
          ;(work ??= []).push(Effect.logDebug(`rpc: dropped frame (${reason})`))
          continue
        }
        const effect = handleDecoded(dialect.decode(frame.text), connectionScope)
        if (effect) (work ??= []).push(effect)
      }
      return work === undefined
        ? undefined
        : work.length === 1
        ? work[0]
        : Effect.forEach(work, (e) => e, { discard: true })
    }

    // Why a connection ended, from what its reader failed with.
    const endedBy = (error: Socket.SocketError): ConnectionError.ConnectionError => {
      const known = ConnectionError.find(error)
      if (known !== undefined) return known
      const reason = error.reason
      return reason._tag === "SocketCloseError"
        ? ConnectionError.make("ClosedByPeer", address, undefined, `close code ${reason.code}`)
        : ConnectionError.classify(address, "cause" in reason ? reason.cause : error)
    }
    // Why an attempt failed, from the failure of `connectOnce`.
    const attemptFailure = (cause: Cause.Cause<unknown>): ConnectionError.ConnectionError => {
      const error = Option.getOrUndefined(Cause.findErrorOption(cause))
      if (error === undefined) return endReason ?? ConnectionError.make("Unknown", address, Cause.squash(cause))
      if (Socket.isSocketError(error)) {
        const known = ConnectionError.find(error)
        if (known !== undefined) return known
        const reason = error.reason
        if (reason._tag === "SocketOpenError" && reason.kind === "Timeout") {
          return ConnectionError.make("Timeout", address, reason.cause)
        }
        return "cause" in reason ? ConnectionError.classify(address, reason.cause) : endedBy(error)
      }
      // The connection ended during the handshake.
      return endReason ?? ConnectionError.classify(address, error)
    }

    const readerLoop = (reader: Socket.Reader, connectionScope: Scope.Scope): Effect.Effect<void> => {
      const decoder = framing.makeDecoder()
      // One read: the work it needs a fiber for, if any.
      const handleRead = (chunks: ReadonlyArray<Uint8Array | string>): Effect.Effect<void> | undefined => {
        receivedCount++
        let work: Array<Effect.Effect<void>> | undefined
        for (const chunk of chunks) {
          const effect = handleFrames(decoder.push(chunk), connectionScope)
          if (effect) (work ??= []).push(effect)
        }
        if (work === undefined) return undefined
        return work.length === 1 ? work[0]! : Effect.forEach(work, (e) => e, { discard: true })
      }
      // With the transport's synchronous read path, reads dealt with at once never resume this fiber.
      const fastRead = getFastRead(reader)
      const loop: Effect.Effect<void, Socket.SocketError> = fastRead !== undefined
        ? Effect.flatMap(fastRead.pullWith(handleRead), (work) => Effect.andThen(work, loop))
        : Effect.flatMap(reader.pull, (chunks) => {
          const work = handleRead(chunks)
          return work === undefined ? loop : Effect.andThen(work, loop)
        })
      return loop.pipe(
        Effect.catch((error) =>
          Effect.suspend(() => {
            endReason ??= endedBy(error)
            return handleFrames(decoder.end(), connectionScope) ?? Effect.void
          })
        )
      )
    }

    // Parks the writer until `offerUnsafe` resumes it (synchronously, in the offering fiber's turn).
    const writerIdle = Effect.callback<void>((resume) => {
      if (outbox.length > 0) return resume(Effect.void)
      wakeWriter = resume
      return Effect.sync(() => {
        if (wakeWriter === resume) wakeWriter = undefined
      })
    })

    const writerLoop = (writer: Socket.Writer): Effect.Effect<void, Socket.SocketError> => {
      const loop: Effect.Effect<void, Socket.SocketError> = Effect.suspend(() => {
        if (congested && fast !== undefined) {
          return Effect.andThen(fast.drained, () => {
            congested = false
            return loop
          })
        }
        if (outbox.length === 0) return Effect.andThen(writerIdle, loop)
        const items = outbox.splice(0, outbox.length)
        releaseSpace()
        const chunks: Array<string | Uint8Array> = []
        for (const item of items) {
          if (item.id === undefined || pending.has(item.id)) chunks.push(item.data)
        }
        if (chunks.length === 0) return loop
        if (byteFraming && chunks.length > 1 && chunks.every((c) => typeof c === "string")) {
          return Effect.andThen(writer.write(chunks.join("")), loop)
        }
        return Effect.andThen(
          chunks.length === 1 ? writer.write(chunks[0]!) : writer.writeAll(chunks as [string | Uint8Array]),
          loop
        )
      })
      return loop
    }

    const handshakeContext: HandshakeContext = {
      request: (method, params) => sendRequest(method, params, false, requestTimeoutMillis),
      notify: notifyNow
    }

    // After a connection ends: idempotent calls wait for a replay, the rest fail.
    const afterDisconnect = (willReconnect: boolean) =>
      Effect.sync(() => {
        outbox.length = 0
        releaseSpace()
        for (const [id, entry] of pending) {
          if (willReconnect && entry.idempotent && entry.replays < maxReplays) {
            entry.replay = true
            continue
          }
          pending.delete(id)
          entry.settle(Exit.fail(failureOf(entry.method)))
        }
      })

    // One connection: acquire, handshake, replay, serve until it ends. Returns whether it got ready.
    const connectOnce: Effect.Effect<boolean, Socket.SocketError | CallError> = Effect.gen(function*() {
      const connect = options.connect
      const socket = Socket.isSocket(connect) ? connect : yield* connect
      const connectionScope = yield* Effect.scope
      generation++
      inFlight = 0
      queued = 0
      slotWaiters.length = 0
      const reader = yield* socket.reader
      const writer = yield* socket.writer
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          fast = undefined
          congested = false
        })
      )
      fast = getFastWrite(socket)
      const ended = yield* Deferred.make<void>()
      currentEnded = ended
      stats.connections++
      yield* Effect.forkIn(
        Effect.ensuring(Effect.ignore(writerLoop(writer)), Deferred.succeed(ended, void 0)),
        connectionScope,
        { startImmediately: true }
      )
      yield* Effect.forkIn(
        Effect.ensuring(readerLoop(reader, connectionScope), Deferred.succeed(ended, void 0)),
        connectionScope,
        { startImmediately: true }
      )
      if (handshake) {
        const outcome = yield* Effect.raceFirst(
          Effect.exit(handshake(handshakeContext)),
          Effect.as(
            Deferred.await(ended),
            Exit.fail(disconnectedError("(handshake)", "disconnected", endReason))
          )
        )
        if (Exit.isFailure(outcome)) {
          const error = Option.getOrUndefined(Exit.findErrorOption(outcome))
          if (error instanceof HandshakeError || error instanceof RpcError) {
            fatal = error instanceof HandshakeError
              ? error
              : HandshakeError.rejected("handshake", error.message)
          }
          return yield* Effect.failCause(outcome.cause)
        }
      }
      // Replay idempotent calls from the previous connection, in id order.
      // More replays than the queue holds wait for room rather than being lost.
      for (const [id, entry] of pending) {
        if (!entry.replay) continue
        entry.replay = false
        entry.replays++
        stats.replayed++
        yield* offerWaiting({ data: entry.data, id })
      }
      if (keepalive !== undefined) {
        yield* Effect.forkIn(keepaliveLoop(keepalive), connectionScope, { startImmediately: true })
      }
      if (idleMillis !== undefined) {
        yield* Effect.forkIn(idleLoop(idleMillis), connectionScope, { startImmediately: true })
      }
      yield* setStatus({ _tag: "Connected", connection: stats.connections })
      yield* ready.open
      yield* Deferred.await(ended)
      return true
    }).pipe(Effect.scoped, Effect.ensuring(Effect.andThen(ready.close, Effect.sync(() => (currentEnded = undefined)))))

    // Pings when nothing arrived during a whole `interval`; a ping unanswered within `timeout` ends
    // the connection.
    const keepaliveLoop = (settings: {
      readonly method: string
      readonly intervalMillis: number
      readonly timeoutMillis: number
      readonly params: unknown
    }): Effect.Effect<void> => {
      const interval = Duration.millis(settings.intervalMillis)
      const loop: Effect.Effect<void> = Effect.suspend(() => {
        const before = receivedCount
        return Effect.andThen(Effect.sleep(interval), Effect.suspend(() => receivedCount === before ? ping : loop))
      })
      const ping: Effect.Effect<void> = Effect.exit(
        startRequest(settings.method, settings.params, false, settings.timeoutMillis)
      ).pipe(
        Effect.flatMap((exit) => {
          const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
          if (!(error instanceof RpcTimeoutError)) return error instanceof PeerDisconnectedError ? Effect.void : loop
          return endConnectionBecause(ConnectionError.make(
            "HalfOpen",
            address,
            undefined,
            `no answer to the keepalive "${settings.method}" within ${
              Duration.format(Duration.millis(settings.timeoutMillis))
            }`
          ))
        })
      )
      return loop
    }
    const keepalive = options.keepalive === undefined || options.keepalive === false
      ? undefined
      : (() => {
        const settings: KeepaliveOptions = options.keepalive === true ? {} : options.keepalive
        return {
          method: settings.method ?? "ping",
          params: settings.params,
          intervalMillis: Duration.toMillis(Duration.fromInputUnsafe(settings.interval ?? "30 seconds")),
          timeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(settings.timeout ?? "10 seconds"))
        }
      })()

    // Ends a connection on which nothing went either way for `idleTimeout`.
    const idleMillis = options.idleTimeout === undefined
      ? undefined
      : Duration.toMillis(Duration.fromInputUnsafe(options.idleTimeout))
    // Checks every `idleTimeout`: a connection with no message either way since the last check is
    // closed (so it goes after between one and two idle timeouts of silence).
    const idleLoop = (millis: number): Effect.Effect<void> => {
      if (!Number.isFinite(millis)) return Effect.void
      const period = Duration.millis(millis)
      const loop: Effect.Effect<void> = Effect.suspend(() => {
        const before = sentCount + receivedCount
        return Effect.andThen(
          Effect.sleep(period),
          Effect.suspend(() =>
            sentCount + receivedCount !== before ? loop : endConnectionBecause(ConnectionError.make(
              "ClosedLocally",
              address,
              undefined,
              `no message either way for ${Duration.format(period)} (idleTimeout)`
            ))
          )
        )
      })
      return loop
    }

    const delayFor = (failures: number): Duration.Duration => {
      const initial = Duration.toMillis(Duration.fromInputUnsafe(reconnect?.initialDelay ?? "500 millis"))
      const max = Duration.toMillis(Duration.fromInputUnsafe(reconnect?.maxDelay ?? "20 seconds"))
      const factor = reconnect?.factor ?? 2
      return Duration.millis(Math.min(max, initial * Math.pow(factor, Math.max(0, failures - 1))))
    }

    let closedReason: ClosedReason = "closed"
    const terminate = Effect.gen(function*() {
      yield* setStatus({
        _tag: "Closed",
        reason: closedReason,
        error: closedReason === "closed" ? undefined : fatal ?? lastError
      })
      for (const [id, entry] of pending) {
        pending.delete(id)
        entry.settle(Exit.fail(failureOf(entry.method)))
      }
      yield* ready.open
      yield* Deferred.succeed(closedSignal, void 0)
      yield* statusFanout.shutdown
    })

    // Logs a failed attempt when its reason differs from the previous one (a refused token or a
    // dead server is said once, not on every retry), at debug level otherwise.
    let lastLogged: string | undefined
    const logAttempt = (error: ConnectionError.ConnectionError, next: string) => {
      const line = `rpc: ${error.message}; ${next}`
      if (error.message === lastLogged) return Effect.logDebug(line)
      lastLogged = error.message
      return Effect.logWarning(line)
    }

    const manager = Effect.gen(function*() {
      let failures = 0
      for (;;) {
        yield* setStatus({ _tag: "Connecting", attempt: failures + 1 })
        endReason = undefined
        const exit = yield* Effect.exit(connectOnce)
        const wasReady = Exit.isSuccess(exit)
        const error = wasReady
          ? endReason ?? ConnectionError.make("ClosedByPeer", address)
          : attemptFailure(exit.cause)
        lastError = error
        if (fatal === undefined && error.fatal) fatal = error
        if (fatal !== undefined) {
          closedReason = "rejected"
          yield* Effect.logWarning(`rpc: ${fatal.message}; not retried`)
          break
        }
        failures = wasReady ? 1 : failures + 1
        const maxAttempts = reconnect?.maxAttempts ?? Number.POSITIVE_INFINITY
        const willReconnect = reconnect !== undefined && failures <= maxAttempts
        yield* afterDisconnect(willReconnect)
        if (!willReconnect) {
          closedReason = reconnect === undefined ? "ended" : "gaveUp"
          if (reconnect !== undefined) yield* logAttempt(error, `giving up after ${failures - 1} attempts`)
          break
        }
        const delay = delayFor(failures)
        yield* logAttempt(error, `reconnecting in ${Duration.format(delay)} (attempt ${failures})`)
        yield* setStatus({ _tag: "BackingOff", attempt: failures, nextDelay: delay, lastError: error })
        yield* Effect.sleep(delay)
      }
    }).pipe(Effect.ensuring(terminate))

    let managerFiber: Fiber.Fiber<void> | undefined

    const close = Effect.suspend(() =>
      status._tag === "Closed" || managerFiber === undefined ? Effect.void : Fiber.interrupt(managerFiber)
    ).pipe(Effect.andThen(Deferred.await(closedSignal)))

    const statusChanges: Stream.Stream<PeerStatus> = Stream.unwrap(
      Effect.map(statusFanout.subscribe(), (subscription) =>
        // The status now, then its changes; a closed peer's stream holds just its final status.
        Stream.concat(
          Stream.succeed(status),
          status._tag === "Closed" ? Stream.empty : Stream.catch(subscription.stream, () => Stream.empty)
        ))
    )

    const readStats = (): PeerStats => ({
      ...stats,
      connected: status._tag === "Connected",
      callErrors: { ...callErrors },
      pending: pending.size,
      inFlight,
      queued,
      subscribers: notifications.size(),
      bufferedNotifications: notifications.buffered(),
      droppedNotifications: notifications.dropped(),
      outboundQueued: outbox.length
    })
    yield* publishPeer(options.metrics, readStats)

    const peer: RpcPeer<M> = {
      call: call as RpcPeer<M>["call"],
      request: (method, params, callOptions) => request(method, params, callOptions, true),
      notify,
      notifications: Stream.unwrap(Effect.map(notifications.subscribe(), (s) => s.stream)),
      subscribe: Effect.map(notifications.subscribe(), (s) => s.stream),
      subscribeWith: notifications.subscribe,
      state: Effect.sync(() => stateOf(status)),
      status: Effect.sync(() => status),
      statusChanges,
      stats: Effect.sync(readStats),
      awaitReady,
      closed: Deferred.await(closedSignal),
      disconnect: endConnection,
      close
    }
    Object.defineProperty(peer, EncodedSendKey, { value: sendEncoded })
    yield* Effect.forkIn(sweeper, scope, { startImmediately: true })
    // Start connecting only once `peer` exists: handlers receive it, and data can arrive at once.
    managerFiber = yield* Effect.forkIn(manager, scope, { startImmediately: true })
    return peer
  })

/**
 * The wire text of a message in a dialect and framing (a helper for tests and custom transports).
 *
 * @since 0.1.0
 * @category utils
 */
export const encodeMessage = (dialect: Dialect, framing: Framing, message: Message.Message): string | Uint8Array =>
  framing.encode(dialect.encode(message))

/**
 * Whether a cause is only an interruption (a closed peer), for callers that treat it as "closed".
 *
 * @since 0.1.0
 * @category utils
 */
export const isInterruptOnly = (cause: Cause.Cause<unknown>): boolean => Cause.hasInterruptsOnly(cause)
