/**
 * `RpcBridge`: one upstream JSON-RPC session (a backend's stdio, a URL, any `Socket`) shared by
 * many downstream clients (browsers, phones, desktop windows), each on its own connection.
 *
 * - **Routing**: each client's request is sent upstream under the upstream peer's own id and the
 *   reply goes back to that client under the client's id. A client's cancel (its dialect's, or
 *   LSP's `$/cancelRequest`) is answered with the cancellation error and passed upstream in the
 *   upstream's dialect under the upstream's id; a client that disconnects cancels its pending
 *   calls the same way (their replies are discarded).
 * - **Notifications** from upstream go to every client through its own bounded outbound queue
 *   (a slow client is disconnected, or loses notifications under `whenFull: "drop"`; the others are
 *   never slowed), filtered per client (`bridge/follow` by thread, codex's
 *   `optOutNotificationMethods`), with their extra top-level fields. A notification is encoded once
 *   for every client, and those of one upstream read leave in one write per client.
 * - **Server-to-client requests** (approvals) are routed by policy: to every full client, first
 *   answer wins, the others are told it is settled; or to one chosen client; held (bounded, with a
 *   timeout answered upstream as an error) while no client can take them; offered to late joiners.
 * - **One session handshake**: the bridge runs `initialize` upstream once per upstream connection
 *   and answers each client's own `initialize` from it (a second one on a connection gets
 *   "Already initialized", as codex does); clients' `initialized` notifications stay here.
 * - **Late joiners** get a bounded replay of recent notifications, optionally the result of a state
 *   request (e.g. `thread/list`), the server requests still open, then the live stream.
 * - **Upstream restarts** are survived: the next connection is handshaken again, calls in flight
 *   fail with the typed "upstream restarted" error, open server requests are settled, and clients
 *   get a `bridge/upstream` status notification; they keep their connection and session.
 * - **Auth**: tokens with roles (full, read-only with an allow-list), compared in constant time.
 * - **Shapes**: one shared upstream connection (default), or one per client (`shape: "perClient"`,
 *   for upstreams that accept several, like codex's WebSocket listener) with the same auth, roles,
 *   filters, catch-up and restart handling.
 * - **Dialects**: clients and upstream may speak different dialects (e.g. strict JSON-RPC 2.0
 *   clients in front of codex's lite dialect); error objects keep their code and message.
 *
 * The bridge is an `RpcServer` as far as transports go: serve it with `serveWebSocket` or
 * `serveTcp` from `@isthmus/rpc-protocol/node`, or call `handle` with any `Socket`.
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Latch, Option, Scope, Stream } from "effect"
import type * as Socket from "effect/socket/Socket"
import { tokenFromParams } from "./Auth.ts"
import { cancelRequest, type Dialect } from "./Dialect.ts"
import type { Framing } from "./Framing.ts"
import * as Handshake from "./Handshake.ts"
import { type EncodedSend, getEncodedSend } from "./internal/encodedSend.ts"
import { publishBridgeClient, publishBridgeUpstream, publishServer } from "./internal/publishMetrics.ts"
import * as Message from "./Message.ts"
import {
  type ClientToken,
  defaultThreadIdOf,
  type Filter,
  followAll,
  forbidden,
  makeRing,
  matchToken,
  mayCall,
  noClientAnswered,
  passes,
  type Role,
  roleOf,
  upstreamRestarted,
  upstreamTimeout,
  upstreamUnavailable
} from "./RpcBridgePolicy.ts"
import { type CallError, PeerDisconnectedError, RpcError, RpcTimeoutError } from "./RpcError.ts"
import type { MetricsOptions } from "./RpcMetrics.ts"
import * as RpcPeer from "./RpcPeer.ts"
import type { RpcServer } from "./RpcServer.ts"

export {
  BridgeErrorCode,
  type BridgeErrorReason,
  type ClientToken,
  isUpstreamRestarted,
  type Role
} from "./RpcBridgePolicy.ts"

/**
 * Where the upstream is and how to talk to it.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpstreamOptions {
  /**
   * Upstream connections. An effect is run again for every connection (a URL: each run dials); a
   * stream yields one socket per backend run (a pool instance's stdio) and is pulled when the
   * current connection has ended. When the stream ends, the upstream is gone for good.
   */
  readonly connect: Effect.Effect<Socket.Socket, unknown> | Stream.Stream<Socket.Socket, unknown>
  /** The upstream's dialect (`Dialect.lite` for codex app-server). */
  readonly dialect: Dialect
  /** The upstream's framing (`Framing.ndjson()` for stdio). */
  readonly framing: Framing
  /** Run on every upstream connection before `initialize` (e.g. `Handshake.tokenAuth` for a daemon). */
  readonly handshake?: Handshake.Handshake | undefined
  /** The upstream peer's outbound queue (default: capacity 512, `suspend`). */
  readonly outbound?: RpcPeer.OutboundOptions | undefined
  /** Delay after a connection that failed before it was ready, doubling up to `maxDelay`. Default 200 ms. */
  readonly initialDelay?: Duration.Input | undefined
  /** Cap of that delay. Default 10 s. */
  readonly maxDelay?: Duration.Input | undefined
}

/**
 * What the bridge routes to while it uses an {@link AttachedUpstream}.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpstreamHandlers {
  /** Requests the upstream sends (approvals); the answer goes back to it. */
  readonly onRequest: (request: Message.Request) => Effect.Effect<unknown, RpcError>
  /** Notifications the upstream sends. */
  readonly onNotification: (notification: Message.Notification) => Effect.Effect<void>
}

/**
 * An upstream connection someone else opened and handshook: a pool instance's stdio channel for
 * one run (`BackendInstance.channels` in `@isthmus/backend-pool`). The bridge does not run
 * `initialize` on it; it answers clients from `handshake`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttachedUpstream {
  /** The connection; ready once its handshake succeeded, closed when the run ends. */
  readonly peer: RpcPeer.RpcPeer
  /** The handshake's answer (codex: the `initialize` result), or `undefined` when there was none. */
  readonly handshake: unknown
  /** Routes the upstream's requests and notifications to `handlers` while the scope is open. */
  readonly serve: (handlers: UpstreamHandlers) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * Upstream connections that are already open and handshaken, one per backend run: the bridge
 * takes the next when the current one has closed. When the stream ends, the upstream is gone.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttachedUpstreamOptions {
  readonly attach: Stream.Stream<AttachedUpstream, unknown>
}

/**
 * How the downstream clients talk to the bridge.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /** The clients' dialect; may differ from the upstream's (the bridge translates). */
  readonly dialect: Dialect
  /** The clients' framing (`Framing.webSocket()` behind `serveWebSocket`). */
  readonly framing: Framing
  /**
   * Each client's outbound queue: default capacity 1024 and `disconnect` (a client that does not
   * read is cut off, the others are not slowed); `drop` drops its notifications instead.
   */
  readonly outbound?: { readonly capacity?: number; readonly whenFull?: "drop" | "disconnect" } | undefined
  /** Requests handled at once per client. Default 32. */
  readonly concurrency?: number | undefined
  /** Requests per client waiting for a slot before `overloaded` is answered. Default 1024. */
  readonly maxQueuedRequests?: number | undefined
}

/**
 * The shared session handshake (codex: `initialize` then `initialized`).
 *
 * @since 0.1.0
 * @category models
 */
export interface InitializeOptions {
  /** The request. Default `"initialize"`. */
  readonly method?: string | undefined
  /** The notification after it. Default `"initialized"`. */
  readonly notification?: string | undefined
  /** The params the bridge sends upstream (its own `clientInfo`); unused for attached upstreams. */
  readonly params?: unknown
  /** The answer a client gets, from the upstream's answer and the client's params. Default: the upstream's answer. */
  readonly answer?: ((upstreamResult: unknown, clientParams: unknown) => unknown) | undefined
}

/**
 * Where server-to-client requests go.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerRequestOptions {
  /**
   * `broadcast` (default): every full client that follows the request's thread gets it, the first
   * answer goes upstream, the others get the `settled` notification. `one`: only the client `choose`
   * picks (default: the longest-connected full client); if it leaves unanswered, another is chosen.
   */
  readonly route?: "broadcast" | "one" | undefined
  /** For `one`: picks a client id among the candidates (full clients following the thread). */
  readonly choose?:
    | ((candidates: ReadonlyArray<ClientInfo>, request: Message.Request) => number | undefined)
    | undefined
  /** How long a request waits for an answer (held while no client can take it). Default 5 minutes. */
  readonly timeout?: Duration.Input | undefined
  /** Open server requests at most; more are answered upstream with an error at once. Default 64. */
  readonly maxOpen?: number | undefined
}

/**
 * Catch-up for clients that join a running session.
 *
 * @since 0.1.0
 * @category models
 */
export interface CatchUpOptions {
  /** Recent notifications replayed to a joining client (filtered by its follow). Default 256; 0 turns replay off. */
  readonly replay?: number | undefined
  /** A request sent upstream for each joining client; its result is sent as the `state` notification. */
  readonly state?: { readonly method: string; readonly params?: unknown } | undefined
}

/**
 * Names of the notifications the bridge itself sends to clients.
 *
 * @since 0.1.0
 * @category models
 */
export interface BridgeNotifications {
  /**
   * Tells the clients that saw a server request that it is settled (answered by another client,
   * timed out, or lost in an upstream restart): `{requestId, threadId?, method, outcome}` with the
   * id *that client* saw. Default `"serverRequest/resolved"`, codex's own name, so codex clients
   * close the prompt unchanged.
   */
  readonly settled?: string | undefined
  /**
   * The upstream's own "resolved" notification (codex: `serverRequest/resolved {threadId, requestId}`):
   * its `requestId` is rewritten per client to the id that client saw (and it is not sent to clients
   * that never saw the request or were already told). Default `"serverRequest/resolved"`.
   */
  readonly upstreamResolved?: string | undefined
  /** Upstream state changes: `{state: "ready" | "down", generation, restarts}`. Default `"bridge/upstream"`. */
  readonly upstream?: string | undefined
  /** Sent to a client when its catch-up is done: `{clientId, role, replayed, generation}`. Default `"bridge/joined"`. */
  readonly joined?: string | undefined
  /** The catch-up state request's result: `{method, result}` (or `{method, error}`). Default `"bridge/state"`. */
  readonly state?: string | undefined
}

/**
 * Options for {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcBridgeOptions {
  /** Sockets the bridge connects and handshakes itself, or connections opened by someone else (a pool). */
  readonly upstream: UpstreamOptions | AttachedUpstreamOptions
  readonly clients: ClientOptions
  /** One upstream connection for everyone (default), or one per client. */
  readonly shape?: "shared" | "perClient" | undefined
  /**
   * Client tokens. With it, a client's first call must be `auth` (`{"token":"…"}` or the bare
   * string); until then only `auth` is answered, and nothing is sent to it. Without it every
   * connection is a full client (bind to loopback only).
   */
  readonly auth?: {
    readonly tokens: ReadonlyArray<ClientToken>
    /** The auth method. Default `"auth"`. */
    readonly method?: string | undefined
    /** A connection that has not authenticated within this is closed. Default 10 s. */
    readonly timeout?: Duration.Input | undefined
  } | undefined
  /** Clients connected at once; the transports refuse more (WebSocket 503, TCP closed). Default 1024. */
  readonly maxClients?: number | undefined
  /** Methods read-only clients may call unless their token says otherwise. Default none. */
  readonly readOnlyAllow?: ReadonlyArray<string> | undefined
  /** The shared session handshake; without it clients join right after auth. */
  readonly initialize?: InitializeOptions | undefined
  readonly serverRequests?: ServerRequestOptions | undefined
  readonly catchUp?: CatchUpOptions | undefined
  /** The thread a notification or server request belongs to (for `bridge/follow`). Default: `params.threadId` or `params.thread.id`. */
  readonly threadIdOf?: ((method: string, params: unknown) => string | undefined) | undefined
  /** Timeout of a forwarded call. Default 120 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /** How long a call waits for a ready upstream before failing with "upstream unavailable". Default 30 s. */
  readonly upstreamWait?: Duration.Input | undefined
  readonly notifications?: BridgeNotifications | undefined
  /**
   * The bridge's `RpcMetrics` (on by default) under the attribute `name` (default `"bridge"`):
   * per client and upstream session, its clients' connections (`role: "server"`), its upstream
   * connections (`role: "client"`), and refused connections, auth failures and auth timeouts;
   * `false` for none.
   */
  readonly metrics?: MetricsOptions | false | undefined
}

/**
 * A client as statistics and `choose` see it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientInfo {
  /** Numbers the bridge's clients from 1, in accept order. */
  readonly id: number
  /** `"full"` or `"readOnly"`; `undefined` before auth. */
  readonly role: "full" | "readOnly" | undefined
  /** The token's `name`, when it has one. */
  readonly name: string | undefined
  /** The `clientInfo` the client sent with `initialize`, when it did. */
  readonly clientInfo: unknown
  /** `auth` → `initialize` → `joining` (catch-up) → `live` → `closed`. */
  readonly phase: "auth" | "initialize" | "joining" | "live" | "closed"
  /** When it connected, epoch ms. */
  readonly connectedAt: number
}

/**
 * Per-client counters.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientStats extends ClientInfo {
  /** Requests forwarded upstream. */
  readonly requests: number
  /** Requests refused here (unauthorized, not initialized, forbidden). */
  readonly refused: number
  /** Notifications queued to it (live, replayed and the bridge's own). */
  readonly notifications: number
  /** Notifications its follow filter kept from it. */
  readonly filtered: number
  /** Notifications replayed to it when it joined. */
  readonly replayed: number
  /** Server requests sent to it. */
  readonly serverRequests: number
  /** Server requests it answered first (forwarded upstream). */
  readonly answered: number
  /** Outbound messages dropped or refused because its queue was full. */
  readonly droppedOutbound: number
}

/**
 * Counters of one upstream session (one for the shared shape, one per client otherwise).
 *
 * @since 0.1.0
 * @category models
 */
export interface UpstreamStats {
  /** `connecting` → `ready` → `down` (between connections) → `closed` (the upstream is gone for good). */
  readonly state: "connecting" | "ready" | "down" | "closed"
  /** Connections that became ready so far. */
  readonly generation: number
  /** Connections that ended after being ready (backend restarts or reconnects). */
  readonly restarts: number
  /** Connection attempts that failed before being ready. */
  readonly failedConnections: number
  /** Calls forwarded. */
  readonly requests: number
  /** Calls failed with "upstream restarted". */
  readonly restartedCalls: number
  /** Notifications received. */
  readonly notifications: number
  /** Server requests received. */
  readonly serverRequests: number
  /** Server requests answered by a client. */
  readonly serverRequestsAnswered: number
  /** Server requests answered with an error because no client answered in time. */
  readonly serverRequestsTimedOut: number
  /** Server requests open now. */
  readonly openServerRequests: number
  /** Clients attached to this session now. */
  readonly clients: number
}

/**
 * Everything the bridge counts.
 *
 * @since 0.1.0
 * @category models
 */
export interface BridgeStats {
  readonly clients: ReadonlyArray<ClientStats>
  readonly upstreams: ReadonlyArray<UpstreamStats>
}

/**
 * A running bridge. It is an `RpcServer` for the transports (`serveWebSocket(bridge, …)`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcBridge extends RpcServer {
  /** Counters of every client and upstream session. */
  readonly stats: Effect.Effect<BridgeStats>
  /** Waits until the shared upstream is ready (the first time, or again after a restart). */
  readonly awaitUpstream: Effect.Effect<void>
}

interface Delivery {
  id: Message.Id | undefined
  fiber: Fiber.Fiber<void> | undefined
}

interface ServerRequest {
  readonly request: Message.Request
  readonly threadId: string | undefined
  readonly deliveries: Map<Client, Delivery>
  /** Clients the bridge already told it is settled (they get no upstream "resolved" as well). */
  readonly told: Set<Client>
  settled: boolean
  readonly done: Deferred.Deferred<unknown, RpcError>
}

interface Client {
  readonly id: number
  readonly connectedAt: number
  readonly scope: Scope.Scope
  peer: RpcPeer.RpcPeer | undefined
  /** Queues encoded notification bytes on `peer`'s outbound queue. */
  send: EncodedSend | undefined
  /** Cancels of its calls in flight upstream by the client's id, for its `$/cancelRequest` (see `cancellable`). */
  readonly inflight: Map<Message.Id, (error: CallError) => void>
  role: Role | undefined
  name: string | undefined
  clientInfo: unknown
  phase: ClientInfo["phase"]
  filter: Filter
  /** Live notifications held while the client catches up. */
  backlog: Array<Message.Notification>
  session: Session | undefined
  readonly stats: {
    requests: number
    refused: number
    notifications: number
    filtered: number
    replayed: number
    serverRequests: number
    answered: number
  }
}

interface Session {
  state: UpstreamStats["state"]
  /** Consecutive connections that failed before being ready (for the backoff). */
  failures: number
  peer: RpcPeer.RpcPeer | undefined
  generation: number
  initializeResult: unknown
  readonly gate: Latch.Latch
  readonly clients: Set<Client>
  readonly ring: ReturnType<typeof makeRing>
  readonly open: Set<ServerRequest>
  /** Settled requests by upstream id, kept a while to rewrite the upstream's "resolved" notices. */
  readonly recent: Map<Message.Id, ServerRequest>
  readonly stats: {
    restarts: number
    failedConnections: number
    requests: number
    restartedCalls: number
    notifications: number
    serverRequests: number
    serverRequestsAnswered: number
    serverRequestsTimedOut: number
  }
}

const millisOf = (input: Duration.Input) => Duration.toMillis(Duration.fromInputUnsafe(input))
const fail = (error: Message.ErrorObject) => Effect.fail(RpcError.fromObject(error))
const settledParams = (sr: ServerRequest, id: Message.Id, outcome: string) => ({
  requestId: id,
  ...(sr.threadId === undefined ? {} : { threadId: sr.threadId }),
  method: sr.request.method,
  outcome
})
const recentLimit = 256
const runAll = (work: ReadonlyArray<Effect.Effect<void>>): Effect.Effect<void> =>
  work.length === 1 ? work[0]! : Effect.forEach(work, (e) => e, { discard: true })

/**
 * Starts a bridge in the current scope (the shared upstream connects at once). Serve it with a
 * transport, e.g. `serveWebSocket(bridge, { path: "/rpc" })`.
 *
 * @example
 * ```ts
 * const bridge = yield* RpcBridge.make({
 *   upstream: { connect: childStdio(child), dialect: Dialect.lite, framing: Framing.ndjson() },
 *   clients: { dialect: Dialect.lite, framing: Framing.webSocket() },
 *   initialize: { params: { clientInfo: { name: "my_bridge", version: "1.0.0" } } },
 *   auth: { tokens: [{ token: Redacted.make("phone-token") }, { token: "viewer", role: "readOnly", allow: ["thread/list"] }] },
 *   catchUp: { replay: 256, state: { method: "thread/list", params: {} } }
 * })
 * yield* serveWebSocket(bridge, { path: "/rpc" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RpcBridgeOptions): Effect.Effect<RpcBridge, never, Scope.Scope> =>
  Effect.gen(function*() {
    const bridgeScope = yield* Effect.scope
    const upstream = options.upstream
    const clientDialect = options.clients.dialect
    const shape = options.shape ?? "shared"
    const authMethod = options.auth?.method ?? "auth"
    const authTimeout = options.auth?.timeout ?? "10 seconds"
    const readOnlyAllow = options.readOnlyAllow ?? []
    const init = options.initialize
    const initMethod = init?.method ?? "initialize"
    const initNotification = init?.notification ?? "initialized"
    const route = options.serverRequests?.route ?? "broadcast"
    const serverRequestMillis = millisOf(options.serverRequests?.timeout ?? "5 minutes")
    const maxOpen = options.serverRequests?.maxOpen ?? 64
    const replayLimit = options.catchUp?.replay ?? 256
    const stateRequest = options.catchUp?.state
    const threadIdOf = options.threadIdOf ?? defaultThreadIdOf
    const requestMillis = millisOf(options.requestTimeout ?? "120 seconds")
    const waitMillis = millisOf(options.upstreamWait ?? "30 seconds")
    const names = {
      settled: options.notifications?.settled ?? "serverRequest/resolved",
      upstreamResolved: options.notifications?.upstreamResolved ?? "serverRequest/resolved",
      upstream: options.notifications?.upstream ?? "bridge/upstream",
      joined: options.notifications?.joined ?? "bridge/joined",
      state: options.notifications?.state ?? "bridge/state"
    }
    const initialDelay = millisOf(("attach" in upstream ? undefined : upstream.initialDelay) ?? "200 millis")
    const maxDelay = millisOf(("attach" in upstream ? undefined : upstream.maxDelay) ?? "10 seconds")
    const backlogLimit = options.clients.outbound?.capacity ?? 1024
    const clients = new Map<number, Client>()
    const sessions = new Set<Session>()
    let nextClientId = 1
    const metricsName = options.metrics === false ? undefined : options.metrics?.name ?? "bridge"
    const peerMetrics = (role: "client" | "server") =>
      metricsName === undefined ? false as const : { name: metricsName, role }
    const counts = { refused: 0, authFailures: 0, gateTimeouts: 0 }
    yield* publishServer(options.metrics, () => counts, "bridge")

    const info = (c: Client): ClientInfo => ({
      id: c.id,
      role: c.role?._tag,
      name: c.name,
      clientInfo: c.clientInfo,
      phase: c.phase,
      connectedAt: c.connectedAt
    })

    // ---- sending to clients --------------------------------------------------------------------

    const clientFraming = options.clients.framing
    const utf8 = new TextEncoder()
    /**
     * A notification as the clients' wire bytes. Every client speaks the same dialect and framing,
     * so a broadcast is encoded once and the same bytes go to every client's queue; a byte framing
     * gets bytes, which sockets write without a UTF-8 conversion each.
     */
    const encode = (n: Message.Notification): string | Uint8Array => {
      const framed = clientFraming.encode(clientDialect.encode(n))
      return clientFraming.kind === "bytes" && typeof framed === "string" ? utf8.encode(framed) : framed
    }

    // Clients holding fan-out bytes not yet written: the notifications of one upstream read (or
    // one broadcast) leave in one write per client, once the current turn is done.
    const held = new Set<Client>()
    let flushQueued = false
    const flushHeld = () => {
      flushQueued = false
      for (const c of held) c.send?.flush()
      held.clear()
    }

    /**
     * Queues encoded bytes on `c`'s bounded outbound queue; `undefined` when done at once, else what
     * is left to do (wait for the connection, or the slow-consumer policy: drop or disconnect).
     * With `hold`, the write waits for the end of the current turn (a microtask).
     */
    const push = (
      c: Client,
      data: string | Uint8Array,
      method: string,
      hold = false
    ): Effect.Effect<void> | undefined => {
      if (c.send === undefined || c.phase === "closed") return undefined
      c.stats.notifications++
      const rest = c.send.send(data, method, hold)
      if (hold) {
        held.add(c)
        if (!flushQueued) {
          flushQueued = true
          queueMicrotask(flushHeld)
        }
      }
      return rest === undefined ? undefined : Effect.ignore(rest)
    }

    const sendTo = (c: Client, n: Message.Notification): Effect.Effect<void> =>
      Effect.suspend(() => push(c, encode(n), n.method) ?? Effect.void)

    /** Sends `n` to `targets`, encoded once. */
    const sendAll = (targets: Iterable<Client>, n: Message.Notification): Effect.Effect<number> =>
      Effect.suspend(() => {
        let data: string | Uint8Array | undefined
        let sent = 0
        let work: Array<Effect.Effect<void>> | undefined
        for (const c of targets) {
          if (c.phase !== "live") continue
          sent++
          const rest = push(c, data ??= encode(n), n.method, true)
          if (rest !== undefined) (work ??= []).push(rest)
        }
        return work === undefined ? Effect.succeed(sent) : Effect.as(runAll(work), sent)
      })

    const statusToClients = (session: Session, state: "ready" | "down") =>
      Effect.asVoid(sendAll(
        session.clients,
        Message.notification(names.upstream, {
          state,
          generation: session.generation,
          restarts: session.stats.restarts
        })
      ))

    // ---- upstream notifications ----------------------------------------------------------------

    /** The upstream's "resolved" notice as `c` must see it, or `undefined` when `c` must not get it. */
    const rewriteResolved = (session: Session, c: Client, n: Message.Notification): unknown | undefined => {
      const params = n.params as { readonly requestId?: unknown } | undefined
      const upstreamId = params?.requestId
      if (typeof upstreamId !== "number" && typeof upstreamId !== "string") return n.params
      const sr = session.recent.get(upstreamId) ?? [...session.open].find((r) => r.request.id === upstreamId)
      if (sr === undefined || sr.told.has(c)) return undefined
      const delivery = sr.deliveries.get(c)
      if (delivery === undefined || delivery.id === undefined) return undefined
      return { ...params, requestId: delivery.id }
    }

    const onUpstreamNotification = (session: Session) => (n: Message.Notification): Effect.Effect<void> =>
      Effect.suspend(() => {
        session.stats.notifications++
        session.ring.push(n)
        const threadId = threadIdOf(n.method, n.params)
        const isResolved = n.method === names.upstreamResolved
        // Encoded once, when the first client takes it as is (a rewritten notice is per client).
        let data: string | Uint8Array | undefined
        let work: Array<Effect.Effect<void>> | undefined
        for (const c of session.clients) {
          if (c.phase === "joining") {
            if (c.backlog.length >= backlogLimit) {
              // A client that cannot even take its catch-up is a slow consumer.
              ;(work ??= []).push(disconnectClient(c))
            } else c.backlog.push(n)
            continue
          }
          if (c.phase !== "live") continue
          if (!passes(c.filter, n.method, threadId)) {
            c.stats.filtered++
            continue
          }
          let rest: Effect.Effect<void> | undefined
          if (isResolved) {
            const params = rewriteResolved(session, c, n)
            if (params === undefined) continue
            rest = push(c, encode({ ...n, params }), n.method, true)
          } else {
            rest = push(c, data ??= encode(n), n.method, true)
          }
          if (rest !== undefined) (work ??= []).push(rest)
        }
        return work === undefined ? Effect.void : runAll(work)
      })

    // ---- server-to-client requests -------------------------------------------------------------

    const eligible = (c: Client, sr: ServerRequest) =>
      c.phase === "live" && c.role?._tag === "full" && passes(c.filter, sr.request.method, sr.threadId)

    /** Settles `sr` once: the answer goes upstream, every other client that saw it is told. */
    const settle = (
      session: Session,
      sr: ServerRequest,
      winner: Client | undefined,
      exit: Exit.Exit<unknown, RpcError>,
      outcome: string
    ): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (sr.settled) return Effect.void
        sr.settled = true
        session.open.delete(sr)
        session.recent.set(sr.request.id, sr)
        if (session.recent.size > recentLimit) session.recent.delete(session.recent.keys().next().value!)
        Deferred.doneUnsafe(sr.done, exit)
        const work: Array<Effect.Effect<void>> = []
        for (const [c, delivery] of sr.deliveries) {
          if (c === winner) continue
          if (delivery.fiber !== undefined) work.push(Fiber.interrupt(delivery.fiber))
          if (delivery.id !== undefined && c.phase !== "closed") {
            sr.told.add(c)
            work.push(sendTo(c, Message.notification(names.settled, settledParams(sr, delivery.id, outcome))))
          }
        }
        return Effect.forEach(work, (e) => e, { discard: true })
      })

    const chooseOne = (session: Session, sr: ServerRequest): Client | undefined => {
      const candidates = [...session.clients].filter((c) => eligible(c, sr) && !sr.deliveries.has(c))
      if (candidates.length === 0) return undefined
      const choose = options.serverRequests?.choose
      if (choose === undefined) return candidates[0]
      const id = choose(candidates.map(info), sr.request)
      return candidates.find((c) => c.id === id)
    }

    const deliver = (session: Session, sr: ServerRequest, c: Client): Effect.Effect<void> =>
      Effect.suspend(() => {
        const peer = c.peer
        if (peer === undefined || sr.settled || sr.deliveries.has(c)) return Effect.void
        const delivery: Delivery = { id: undefined, fiber: undefined }
        sr.deliveries.set(c, delivery)
        c.stats.serverRequests++
        const ask = peer.request(sr.request.method, sr.request.params, {
          timeout: serverRequestMillis,
          onId: (id) => {
            delivery.id = id
          }
        }).pipe(
          Effect.exit,
          Effect.flatMap((exit): Effect.Effect<void> => {
            if (Exit.isSuccess(exit)) {
              c.stats.answered++
              session.stats.serverRequestsAnswered++
              return settle(session, sr, c, Exit.succeed(exit.value), "answered")
            }
            const error = Option.getOrUndefined(Exit.findErrorOption(exit))
            if (error instanceof RpcError) {
              // The client answered with an error object: that is its answer.
              c.stats.answered++
              session.stats.serverRequestsAnswered++
              return settle(session, sr, c, Exit.fail(error), "answered")
            }
            // The client left or did not answer: the request stays open for the others.
            sr.deliveries.delete(c)
            return route === "one" && !sr.settled ? offer(session, sr) : Effect.void
          }),
          Effect.onInterrupt(() => Effect.sync(() => void (sr.settled || sr.deliveries.delete(c))))
        )
        return Effect.forkIn(ask, c.scope, { startImmediately: true }).pipe(
          Effect.map((fiber) => {
            delivery.fiber = fiber
          })
        )
      })

    /** Sends an open request to whoever should see it now (every eligible client, or one). */
    const offer = (session: Session, sr: ServerRequest): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (sr.settled) return Effect.void
        if (route === "one") {
          if (sr.deliveries.size > 0) return Effect.void
          const chosen = chooseOne(session, sr)
          return chosen === undefined ? Effect.void : deliver(session, sr, chosen)
        }
        return Effect.forEach(
          [...session.clients].filter((c) => eligible(c, sr)),
          (c) => deliver(session, sr, c),
          { discard: true }
        )
      })

    const onServerRequest = (session: Session) => (request: Message.Request): Effect.Effect<unknown, RpcError> =>
      Effect.suspend(() => {
        session.stats.serverRequests++
        if (session.open.size >= maxOpen) {
          return fail({
            code: -32001,
            message: `the bridge already holds ${maxOpen} open server requests; answer or cancel some first`
          })
        }
        const sr: ServerRequest = {
          request,
          threadId: threadIdOf(request.method, request.params),
          deliveries: new Map(),
          told: new Set(),
          settled: false,
          done: Deferred.makeUnsafe<unknown, RpcError>()
        }
        session.open.add(sr)
        return offer(session, sr).pipe(
          Effect.andThen(Deferred.await(sr.done).pipe(Effect.timeoutOption(Duration.millis(serverRequestMillis)))),
          Effect.flatMap((answer) => {
            if (Option.isSome(answer)) return Effect.succeed(answer.value)
            session.stats.serverRequestsTimedOut++
            const error = RpcError.fromObject(noClientAnswered(request.method, serverRequestMillis))
            return Effect.andThen(settle(session, sr, undefined, Exit.fail(error), "timeout"), Effect.fail(error))
          }),
          // The upstream connection ended: nobody can answer it any more.
          Effect.onInterrupt(() =>
            settle(
              session,
              sr,
              undefined,
              Exit.fail(RpcError.fromObject(upstreamRestarted(request.method, session.generation))),
              "upstreamRestarted"
            )
          )
        )
      })

    // ---- forwarding calls ----------------------------------------------------------------------

    const toClientError = (session: Session, method: string, generation: number) => (error: CallError): RpcError => {
      if (error instanceof RpcError) return error
      if (error instanceof PeerDisconnectedError) {
        session.stats.restartedCalls++
        return RpcError.fromObject(upstreamRestarted(method, generation))
      }
      if (error instanceof RpcTimeoutError) return RpcError.fromObject(upstreamTimeout(method, error.timeoutMillis))
      if (error._tag === "OutboundQueueFullError") return RpcError.fromObject(clientDialect.errors.overloaded())
      return RpcError.fromObject(upstreamUnavailable(method, waitMillis))
    }

    /** Waits (bounded) for a ready upstream connection of `session`. */
    const readyPeer = (session: Session, method: string): Effect.Effect<RpcPeer.RpcPeer, RpcError> =>
      Effect.suspend(() => {
        if (session.peer !== undefined && session.state === "ready") return Effect.succeed(session.peer)
        if (session.state === "closed") return fail(upstreamUnavailable(method, 0))
        return session.gate.await.pipe(
          Effect.timeoutOption(Duration.millis(waitMillis)),
          Effect.flatMap((opened) =>
            Option.isNone(opened) ? fail(upstreamUnavailable(method, waitMillis)) : readyPeer(session, method)
          )
        )
      })

    const forward = (
      session: Session,
      method: string,
      params: unknown,
      onId?: RpcPeer.CallOptions["onId"]
    ): Effect.Effect<unknown, RpcError> =>
      Effect.flatMap(readyPeer(session, method), (peer) => {
        session.stats.requests++
        const generation = session.generation
        return peer.request(method, params, { timeout: requestMillis, onId }).pipe(
          Effect.mapError(toClientError(session, method, generation))
        )
      })

    // ---- upstream sessions ---------------------------------------------------------------------

    const makeSession = (): Effect.Effect<Session> =>
      Effect.map(Latch.make(false), (gate) => ({
        state: "connecting" as const,
        failures: 0,
        peer: undefined,
        generation: 0,
        initializeResult: undefined,
        gate,
        clients: new Set<Client>(),
        ring: makeRing(replayLimit),
        open: new Set<ServerRequest>(),
        recent: new Map<Message.Id, ServerRequest>(),
        stats: {
          restarts: 0,
          failedConnections: 0,
          requests: 0,
          restartedCalls: 0,
          notifications: 0,
          serverRequests: 0,
          serverRequestsAnswered: 0,
          serverRequestsTimedOut: 0
        }
      }))

    /** After a connection was not ready: log, count, back off. */
    const notReady = (session: Session, error: { readonly message: string } | undefined) =>
      Effect.gen(function*() {
        session.stats.failedConnections++
        session.failures++
        session.state = "down"
        yield* Effect.logWarning(
          `rpc bridge: upstream connection failed before it was ready: ${error?.message ?? "closed"}`
        )
        const delay = Math.min(maxDelay, initialDelay * Math.pow(2, Math.max(0, session.failures - 1)))
        yield* Effect.sleep(Duration.millis(delay))
      })

    /** A ready upstream connection: open the gate, tell the clients, serve until it closes. */
    const useUpstream = (session: Session, peer: RpcPeer.RpcPeer, initializeResult: unknown) =>
      Effect.gen(function*() {
        session.failures = 0
        session.generation++
        session.initializeResult = initializeResult
        session.peer = peer
        session.state = "ready"
        yield* session.gate.open
        yield* Effect.logDebug(`rpc bridge: upstream connection ${session.generation} ready`)
        yield* statusToClients(session, "ready")
        yield* peer.closed
        session.stats.restarts++
      })

    /** When a connection ends: close the gate, forget its ids, tell the clients. */
    const upstreamEnded = (session: Session) =>
      Effect.gen(function*() {
        const wasReady = session.peer !== undefined
        session.peer = undefined
        if (session.state !== "closed") session.state = "down"
        yield* session.gate.close
        // Requests of the ended connection were interrupted with it (and settled); forget their ids.
        session.recent.clear()
        session.ring.clear()
        if (wasReady) {
          yield* Effect.logDebug(`rpc bridge: upstream connection ${session.generation} ended`)
          yield* statusToClients(session, "down")
        }
      })

    /** One upstream connection: handshake, serve until it ends, then tell the clients. */
    const serveUpstream = (session: Session, socket: Socket.Socket, up: UpstreamOptions): Effect.Effect<void> =>
      Effect.gen(function*() {
        session.state = "connecting"
        let initializeResult: unknown
        const steps: Array<Handshake.Handshake> = []
        if (up.handshake !== undefined) steps.push(up.handshake)
        if (init !== undefined) {
          steps.push(Handshake.initialize(init.params ?? {}, {
            method: initMethod,
            notification: initNotification,
            onResult: (result) =>
              Effect.sync(() => {
                initializeResult = result
              })
          }))
        }
        const peer = yield* RpcPeer.make({
          connect: socket,
          dialect: up.dialect,
          framing: up.framing,
          handshake: Handshake.sequence(...steps),
          dispatch: onServerRequest(session),
          onNotification: onUpstreamNotification(session),
          requestTimeout: Duration.millis(requestMillis),
          outbound: up.outbound,
          // The bridge handles whatever the upstream asks, a few at a time per client anyway.
          concurrency: maxOpen,
          maxQueuedRequests: maxOpen,
          metrics: peerMetrics("client")
        })
        const readyExit = yield* Effect.exit(peer.awaitReady)
        if (Exit.isFailure(readyExit)) {
          yield* peer.close
          return yield* notReady(session, Option.getOrUndefined(Exit.findErrorOption(readyExit)))
        }
        yield* useUpstream(session, peer, initializeResult)
      }).pipe(Effect.scoped, Effect.ensuring(upstreamEnded(session)))

    /** One attached connection (opened and handshaken by its owner). */
    const serveAttached = (session: Session, attached: AttachedUpstream): Effect.Effect<void> =>
      Effect.gen(function*() {
        session.state = "connecting"
        yield* attached.serve({
          onRequest: onServerRequest(session),
          onNotification: onUpstreamNotification(session)
        })
        const readyExit = yield* Effect.exit(attached.peer.awaitReady)
        if (Exit.isFailure(readyExit)) {
          return yield* notReady(session, Option.getOrUndefined(Exit.findErrorOption(readyExit)))
        }
        yield* useUpstream(session, attached.peer, attached.handshake)
      }).pipe(Effect.scoped, Effect.ensuring(upstreamEnded(session)))

    const serveAll = (session: Session): Effect.Effect<void, unknown> => {
      if ("attach" in upstream) return Stream.runForEach(upstream.attach, (u) => serveAttached(session, u))
      const connections: Stream.Stream<Socket.Socket, unknown> = Stream.isStream(upstream.connect)
        ? upstream.connect
        : Stream.fromEffectRepeat(upstream.connect)
      return Stream.runForEach(connections, (socket) => serveUpstream(session, socket, upstream))
    }

    const runSession = (session: Session): Effect.Effect<void> =>
      serveAll(session).pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.void
            : Effect.logWarning("rpc bridge: the upstream connections ended with an error", cause)
        ),
        Effect.ensuring(Effect.gen(function*() {
          session.state = "closed"
          yield* session.gate.open // wake waiters so they see "closed"
        }))
      )

    const startSession = (scope: Scope.Scope): Effect.Effect<Session> =>
      Effect.gen(function*() {
        const session = yield* makeSession()
        sessions.add(session)
        yield* Scope.addFinalizer(scope, Effect.sync(() => sessions.delete(session)))
        yield* publishBridgeUpstream(options.metrics, () => ({
          state: session.state,
          ...session.stats,
          openServerRequests: session.open.size
        })).pipe(Scope.provide(scope))
        yield* Effect.forkIn(runSession(session), scope, { startImmediately: true })
        return session
      })

    const shared = shape === "shared" ? yield* startSession(bridgeScope) : undefined

    // ---- clients -------------------------------------------------------------------------------

    const disconnectClient = (c: Client): Effect.Effect<void> =>
      Effect.suspend(() => (c.peer === undefined ? Effect.void : c.peer.disconnect))

    /** Catch-up, then live: replay, the state request, open server requests, the held backlog. */
    const join = (c: Client, session: Session): Effect.Effect<void> =>
      Effect.gen(function*() {
        yield* Effect.yieldNow // the reply that made the client join goes out first
        c.phase = "joining"
        c.backlog = []
        session.clients.add(c)
        const replay = session.ring.snapshot()
        let replayed = 0
        for (const n of replay) {
          if (n.method === names.upstreamResolved) continue // ids the client never saw
          if (!passes(c.filter, n.method, threadIdOf(n.method, n.params))) continue
          replayed++
          yield* sendTo(c, n)
        }
        c.stats.replayed += replayed
        if (stateRequest !== undefined) {
          const state = yield* Effect.exit(forward(session, stateRequest.method, stateRequest.params ?? {}))
          yield* sendTo(
            c,
            Message.notification(
              names.state,
              Exit.isSuccess(state)
                ? { method: stateRequest.method, result: state.value }
                : {
                  method: stateRequest.method,
                  error: Option.getOrUndefined(Exit.findErrorOption(state))?.toObject() ?? { message: "failed" }
                }
            )
          )
        }
        if (c.phase !== "joining") return
        // Live from here: the backlog first, in order, then fan-out sends directly.
        const backlog = c.backlog
        c.backlog = []
        c.phase = "live"
        for (const n of backlog) {
          if (!passes(c.filter, n.method, threadIdOf(n.method, n.params))) continue
          if (n.method === names.upstreamResolved) {
            const params = rewriteResolved(session, c, n)
            if (params !== undefined) yield* sendTo(c, { ...n, params })
            continue
          }
          yield* sendTo(c, n)
        }
        yield* sendTo(
          c,
          Message.notification(names.joined, {
            clientId: c.id,
            role: c.role?._tag ?? "full",
            replayed,
            generation: session.generation,
            upstream: session.state
          })
        )
        // A copy: settling removes requests from the set while we offer.
        for (const sr of Array.from(session.open)) yield* offer(session, sr)
      })

    const startJoin = (c: Client) =>
      Effect.gen(function*() {
        const session = shared ?? (yield* startSession(c.scope))
        c.session = session
        yield* Effect.forkIn(join(c, session), c.scope)
      })

    const bridgeMethod = (c: Client, request: Message.Request): Effect.Effect<unknown, RpcError> => {
      switch (request.method) {
        case "bridge/follow": {
          const params = request.params as { readonly threadIds?: unknown } | undefined
          const ids = params?.threadIds
          if (ids !== null && ids !== undefined && !(Array.isArray(ids) && ids.every((i) => typeof i === "string"))) {
            return fail(clientDialect.errors.invalidParams(
              request.method,
              "threadIds must be an array of strings, or null to follow every thread"
            ))
          }
          c.filter = { ...c.filter, threads: Array.isArray(ids) ? new Set(ids as Array<string>) : undefined }
          return Effect.succeed({ threadIds: Array.isArray(ids) ? ids : null })
        }
        case "bridge/stats":
          return Effect.map(clientStats(c), (own) => ({
            client: own,
            upstream: c.session === undefined ? null : upstreamStats(c.session)
          }))
        default:
          return fail(clientDialect.errors.methodNotFound(request.method))
      }
    }

    const dispatch = (c: Client) => (request: Message.Request): Effect.Effect<unknown, RpcError> => {
      const auth = options.auth
      if (c.role === undefined) {
        if (auth === undefined) return fail(clientDialect.errors.unauthorized())
        if (request.method !== authMethod) {
          c.stats.refused++
          return fail(clientDialect.errors.unauthorized())
        }
        const presented = tokenFromParams(request.params)
        const token = presented === undefined ? undefined : matchToken(auth.tokens, presented)
        if (token === undefined) {
          c.stats.refused++
          counts.authFailures++
          return fail(clientDialect.errors.invalidToken())
        }
        c.role = roleOf(token, readOnlyAllow)
        c.name = token.name
        c.phase = init === undefined ? "joining" : "initialize"
        return Effect.as(init === undefined ? startJoin(c) : Effect.void, { ok: true, role: c.role._tag })
      }
      if (init !== undefined && request.method === initMethod) {
        if (c.phase !== "initialize") {
          c.stats.refused++
          return fail({ code: -32600, message: "Already initialized" })
        }
        c.phase = "joining" // a second initialize racing this one is "Already initialized"
        const params = request.params as { readonly clientInfo?: unknown; readonly capabilities?: unknown } | undefined
        c.clientInfo = params?.clientInfo
        const optOut = (params?.capabilities as { readonly optOutNotificationMethods?: unknown } | undefined)
          ?.optOutNotificationMethods
        if (Array.isArray(optOut)) {
          c.filter = { ...c.filter, optOut: new Set(optOut.filter((m): m is string => typeof m === "string")) }
        }
        return Effect.gen(function*() {
          const session = shared ?? (yield* startSession(c.scope))
          c.session = session
          yield* readyPeer(session, initMethod).pipe(
            Effect.tapError(() => Effect.sync(() => void (c.phase = "initialize")))
          )
          const result = init.answer === undefined
            ? session.initializeResult
            : init.answer(session.initializeResult, request.params)
          yield* Effect.forkIn(join(c, session), c.scope)
          return result
        })
      }
      if (c.phase === "initialize" && !request.method.startsWith("bridge/")) {
        c.stats.refused++
        return fail({ code: -32600, message: "Not initialized" })
      }
      if (request.method === authMethod && auth !== undefined) {
        c.stats.refused++
        return fail(clientDialect.errors.invalidRequest("already authenticated"))
      }
      if (!mayCall(c.role, request.method)) {
        c.stats.refused++
        return fail(forbidden(request.method, c.role._tag))
      }
      if (request.method.startsWith("bridge/")) return bridgeMethod(c, request)
      const session = c.session
      if (session === undefined) return fail(upstreamUnavailable(request.method, 0))
      c.stats.requests++
      if (clientDialect.cancellation !== undefined) return forward(session, request.method, request.params)
      return cancellable(c, request.id, (onId) => forward(session, request.method, request.params, onId))
    }

    /**
     * A client's call in flight upstream, for a client dialect without a cancel message of its own:
     * LSP's `$/cancelRequest` naming its id cancels the upstream call (the upstream is sent its
     * dialect's cancel, under the upstream id) and the client is answered with the cancellation
     * error. A client dialect with a cancel message (strict: `$/cancelRequest`) gets the same from
     * the client's `RpcPeer`, which interrupts the handler of the request it names.
     */
    const cancellable = (
      c: Client,
      id: Message.Id,
      call: (onId: RpcPeer.CallOptions["onId"]) => Effect.Effect<unknown, RpcError>
    ): Effect.Effect<unknown, RpcError> => {
      let cancel: ((error: CallError) => void) | undefined
      return call((_upstreamId, cancelUpstream) => {
        cancel = cancelUpstream
        c.inflight.set(id, cancelUpstream)
      }).pipe(Effect.ensuring(Effect.sync(() => {
        if (cancel !== undefined && c.inflight.get(id) === cancel) c.inflight.delete(id)
      })))
    }

    const onClientNotification = (c: Client) => (n: Message.Notification): Effect.Effect<void> => {
      // `$/cancelRequest` names the client's own ids, which mean nothing upstream: it cancels that
      // client's call (see `cancellable`), whatever its role, and is never forwarded as is.
      if (n.method === cancelRequest.method) {
        const id = cancelRequest.idOf(n.params)
        const cancel = id === undefined ? undefined : c.inflight.get(id)
        if (cancel !== undefined) cancel(RpcError.fromObject(cancelRequest.error()))
        return Effect.void
      }
      // Before auth nothing passes; `initialized` belongs to the shared handshake; read-only clients
      // only listen.
      if (c.role?._tag !== "full" || c.session === undefined) return Effect.void
      if (init !== undefined && n.method === initNotification) return Effect.void
      const peer = c.session.peer
      return peer === undefined ? Effect.void : Effect.ignore(peer.notify(n.method, n.params))
    }

    const attach = (c: Client, peer: RpcPeer.RpcPeer) => {
      if (c.peer !== undefined) return
      c.peer = peer
      c.send = getEncodedSend(peer)
    }

    const handle = (socket: Socket.Socket): Effect.Effect<void> =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const c: Client = {
          id: nextClientId++,
          connectedAt: Date.now(),
          scope,
          peer: undefined,
          send: undefined,
          inflight: new Map(),
          role: options.auth === undefined ? { _tag: "full" } : undefined,
          name: undefined,
          clientInfo: undefined,
          phase: options.auth === undefined ? (init === undefined ? "joining" : "initialize") : "auth",
          filter: followAll,
          backlog: [],
          session: undefined,
          stats: {
            requests: 0,
            refused: 0,
            notifications: 0,
            filtered: 0,
            replayed: 0,
            serverRequests: 0,
            answered: 0
          }
        }
        clients.set(c.id, c)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            c.phase = "closed"
            clients.delete(c.id)
            c.session?.clients.delete(c)
          })
        )
        yield* publishBridgeClient(options.metrics, () => ({ phase: c.phase, ...c.stats }))
        const peer = yield* RpcPeer.make({
          connect: socket,
          dialect: clientDialect,
          framing: options.clients.framing,
          dispatch: (request, p) => {
            attach(c, p)
            return dispatch(c)(request)
          },
          onNotification: (n, p) => {
            attach(c, p)
            return onClientNotification(c)(n)
          },
          outbound: {
            capacity: options.clients.outbound?.capacity ?? 1024,
            whenFull: options.clients.outbound?.whenFull ?? "disconnect"
          },
          concurrency: options.clients.concurrency,
          maxQueuedRequests: options.clients.maxQueuedRequests,
          requestTimeout: Duration.millis(serverRequestMillis),
          metrics: peerMetrics("server")
        })
        attach(c, peer)
        if (c.phase === "joining") yield* startJoin(c)
        if (c.phase === "auth") {
          yield* Effect.forkIn(
            Effect.sleep(authTimeout).pipe(
              Effect.andThen(Effect.suspend(() =>
                c.role === undefined
                  ? Effect.andThen(Effect.sync(() => counts.gateTimeouts++), peer.close)
                  : Effect.void
              ))
            ),
            scope
          )
        }
        yield* peer.closed
      }).pipe(Effect.scoped, Effect.withSpan("RpcBridge.client"))

    // ---- statistics ----------------------------------------------------------------------------

    const clientStats = (c: Client): Effect.Effect<ClientStats> =>
      Effect.map(c.peer === undefined ? Effect.succeed(undefined) : c.peer.stats, (peerStats) => ({
        ...info(c),
        ...c.stats,
        droppedOutbound: peerStats?.droppedOutbound ?? 0
      }))

    const upstreamStats = (session: Session): UpstreamStats => ({
      state: session.state,
      generation: session.generation,
      ...session.stats,
      openServerRequests: session.open.size,
      clients: session.clients.size
    })

    const awaitReadyState = (session: Session): Effect.Effect<void> =>
      Effect.suspend(() =>
        session.state === "ready" || session.state === "closed"
          ? Effect.void
          : Effect.andThen(session.gate.await, awaitReadyState(session))
      )

    const broadcast = (method: string, params?: unknown): Effect.Effect<number> =>
      sendAll(clients.values(), Message.notification(method, params))

    const bridge: RpcBridge = {
      handle,
      broadcast,
      connections: Effect.sync(() => clients.size),
      isFull: () => {
        const full = clients.size >= (options.maxClients ?? 1024)
        if (full) counts.refused++
        return full
      },
      // With tokens, the transports may bind beyond loopback (behind a tunnel); without, they refuse.
      requiresAuth: options.auth !== undefined,
      authenticated: Effect.sync(() => [...clients.values()].filter((c) => c.role !== undefined).length),
      stats: Effect.gen(function*() {
        const all = yield* Effect.forEach([...clients.values()], clientStats)
        return { clients: all, upstreams: [...sessions].map(upstreamStats) }
      }),
      awaitUpstream: shared === undefined ? Effect.void : awaitReadyState(shared)
    }
    return bridge
  })
