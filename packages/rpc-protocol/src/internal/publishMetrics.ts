/**
 * The series each kind of source feeds (see `RpcMetrics` for the metrics and attributes), and the
 * one-line seams `RpcPeer`, `RpcServer` and `RpcBridge` call to publish their counts.
 */
import { Cause, Effect, type Scope } from "effect"
import type { CallError } from "../RpcError.ts"
import {
  authFailures,
  bridgeClients,
  bridgeNotificationsFiltered,
  bridgeNotificationsReplayed,
  bridgeNotificationsSent,
  bridgeRequests,
  bridgeRequestsRefused,
  bridgeRestartedCalls,
  bridgeServerRequests,
  bridgeServerRequestsAnswered,
  bridgeServerRequestsOpen,
  bridgeServerRequestsTimedOut,
  bridgeUpstreamFailures,
  bridgeUpstreamNotifications,
  bridgeUpstreamRestarts,
  bridgeUpstreams,
  callErrors,
  calls,
  callsPending,
  connections,
  connectionsRefused,
  connectionsTotal,
  gateTimeouts,
  invalidFrames,
  invalidNotifications,
  type MetricsOptions,
  notificationsBuffered,
  notificationsDropped,
  notificationsReceived,
  notificationSubscribers,
  outboundDropped,
  outboundQueued,
  type PeerMetricsOptions,
  replayed,
  requestErrors,
  requests,
  requestsInFlight,
  requestsOverloaded,
  requestsQueued
} from "../RpcMetrics.ts"
import type { PeerStats } from "../RpcPeer.ts"
import { attach, type Family, type Series } from "./metricSeries.ts"

/** The `error` attribute values of `isthmus_rpc_call_errors_total`: the tags of `CallError`. */
const callErrorTags: ReadonlyArray<CallError["_tag"]> = [
  "RpcError",
  "RpcTimeoutError",
  "PeerDisconnectedError",
  "OutboundQueueFullError",
  "RpcSchemaError",
  "HandshakeError"
]

type PeerCounts = PeerStats

const peerFamily: Family<PeerCounts> = {
  id: "peer",
  series: [
    { metric: connectionsTotal, read: (s) => s.connections },
    { metric: connections, read: (s) => (s.connected ? 1 : 0) },
    { metric: calls, read: (s) => s.calls },
    ...callErrorTags.map((tag): Series<PeerCounts> => ({
      metric: callErrors,
      attributes: { error: tag },
      read: (s) => s.callErrors[tag] ?? 0
    })),
    { metric: callsPending, read: (s) => s.pending },
    { metric: requests, read: (s) => s.requests },
    { metric: requestErrors, read: (s) => s.requestErrors },
    { metric: requestsOverloaded, read: (s) => s.overloaded },
    { metric: requestsInFlight, read: (s) => s.inFlight },
    { metric: requestsQueued, read: (s) => s.queued },
    { metric: notificationsReceived, read: (s) => s.notifications },
    { metric: notificationsDropped, read: (s) => s.droppedNotifications },
    { metric: notificationSubscribers, read: (s) => s.subscribers },
    { metric: notificationsBuffered, read: (s) => s.bufferedNotifications },
    { metric: outboundQueued, read: (s) => s.outboundQueued },
    { metric: outboundDropped, read: (s) => s.droppedOutbound },
    { metric: invalidFrames, read: (s) => s.invalidFrames },
    { metric: invalidNotifications, read: (s) => s.invalidNotifications },
    { metric: replayed, read: (s) => s.replayed }
  ]
}

/**
 * What a server counts besides its connections.
 */
export interface ServerCounts {
  readonly refused: number
  readonly authFailures: number
  readonly gateTimeouts: number
}

const serverFamily: Family<ServerCounts> = {
  id: "server",
  series: [
    { metric: connectionsRefused, read: (s) => s.refused },
    { metric: authFailures, read: (s) => s.authFailures },
    { metric: gateTimeouts, read: (s) => s.gateTimeouts }
  ]
}

const clientPhases = ["auth", "initialize", "joining", "live"] as const

/**
 * What a bridge counts per client.
 */
export interface BridgeClientCounts {
  readonly phase: string
  readonly requests: number
  readonly refused: number
  readonly notifications: number
  readonly filtered: number
  readonly replayed: number
}

const bridgeClientFamily: Family<BridgeClientCounts> = {
  id: "bridgeClient",
  series: [
    ...clientPhases.map((phase): Series<BridgeClientCounts> => ({
      metric: bridgeClients,
      attributes: { phase },
      read: (s) => (s.phase === phase ? 1 : 0)
    })),
    { metric: bridgeRequests, read: (s) => s.requests },
    { metric: bridgeRequestsRefused, read: (s) => s.refused },
    { metric: bridgeNotificationsSent, read: (s) => s.notifications },
    { metric: bridgeNotificationsFiltered, read: (s) => s.filtered },
    { metric: bridgeNotificationsReplayed, read: (s) => s.replayed }
  ]
}

const upstreamStates = ["connecting", "ready", "down"] as const

/**
 * What a bridge counts per upstream session.
 */
export interface BridgeUpstreamCounts {
  readonly state: string
  readonly restarts: number
  readonly failedConnections: number
  readonly restartedCalls: number
  readonly notifications: number
  readonly serverRequests: number
  readonly serverRequestsAnswered: number
  readonly serverRequestsTimedOut: number
  readonly openServerRequests: number
}

const bridgeUpstreamFamily: Family<BridgeUpstreamCounts> = {
  id: "bridgeUpstream",
  series: [
    ...upstreamStates.map((state): Series<BridgeUpstreamCounts> => ({
      metric: bridgeUpstreams,
      attributes: { state },
      read: (s) => (s.state === state ? 1 : 0)
    })),
    { metric: bridgeUpstreamRestarts, read: (s) => s.restarts },
    { metric: bridgeUpstreamFailures, read: (s) => s.failedConnections },
    { metric: bridgeRestartedCalls, read: (s) => s.restartedCalls },
    { metric: bridgeUpstreamNotifications, read: (s) => s.notifications },
    { metric: bridgeServerRequests, read: (s) => s.serverRequests },
    { metric: bridgeServerRequestsAnswered, read: (s) => s.serverRequestsAnswered },
    { metric: bridgeServerRequestsTimedOut, read: (s) => s.serverRequestsTimedOut },
    { metric: bridgeServerRequestsOpen, read: (s) => s.openServerRequests }
  ]
}

// ---- publishing (used by RpcPeer, RpcServer, RpcBridge) --------------------------------------

const publish = <S>(family: Family<S>, attributes: Readonly<Record<string, string>>, read: () => S) =>
  Effect.flatMap(Effect.context<never>(), (context) => {
    const release = attach(family, context, attributes, read)
    return Effect.addFinalizer(() => Effect.sync(release))
  })

/**
 * Publishes a peer's counts until the scope closes (nothing when `options` is `false`).
 */
export const publishPeer = (
  options: PeerMetricsOptions | false | undefined,
  read: () => PeerCounts
): Effect.Effect<void, never, Scope.Scope> =>
  options === false
    ? Effect.void
    : publish(peerFamily, { name: options?.name ?? "peer", role: options?.role ?? "client" }, read)

/**
 * Publishes a server's (or a bridge's) own counts until the scope closes.
 */
export const publishServer = (
  options: MetricsOptions | false | undefined,
  read: () => ServerCounts,
  defaultName = "server"
): Effect.Effect<void, never, Scope.Scope> =>
  options === false ? Effect.void : publish(serverFamily, { name: options?.name ?? defaultName }, read)

/**
 * Publishes one bridge client's counts until the scope closes.
 */
export const publishBridgeClient = (
  options: MetricsOptions | false | undefined,
  read: () => BridgeClientCounts
): Effect.Effect<void, never, Scope.Scope> =>
  options === false ? Effect.void : publish(bridgeClientFamily, { name: options?.name ?? "bridge" }, read)

/**
 * Publishes one bridge upstream session's counts until the scope closes.
 */
export const publishBridgeUpstream = (
  options: MetricsOptions | false | undefined,
  read: () => BridgeUpstreamCounts
): Effect.Effect<void, never, Scope.Scope> =>
  options === false ? Effect.void : publish(bridgeUpstreamFamily, { name: options?.name ?? "bridge" }, read)

/**
 * Counts a failed call in `errors` by its error's tag (interruptions and defects are not counted).
 */
export const countCallError = (errors: Record<string, number>, cause: Cause.Cause<CallError>): void => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") errors[error.value._tag] = (errors[error.value._tag] ?? 0) + 1
}
