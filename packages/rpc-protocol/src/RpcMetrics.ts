/**
 * Effect `Metric`s of peers, servers and bridges, next to the spans they already emit. Every
 * `RpcPeer`, `RpcServer` and `RpcBridge` publishes them unless made with `metrics: false`; export
 * them with any metrics exporter (`OtlpMetrics` or `PrometheusMetrics` from `effect/observability`).
 *
 * Nothing runs per message for metrics: peers count in plain fields and the series are read when
 * metrics are exported (or `Metric.snapshot` is taken). Sources with the same attributes add up
 * (every connection of a server, every peer named alike); a counter keeps what a closed source
 * counted, so it never goes down.
 *
 * Attributes: `name` (the `metrics.name` option: default `"peer"`, `"server"` or `"bridge"`) and,
 * for connection series, `role`: `client` for connections this side opened, `server` for those it
 * accepted (an `RpcServer`'s or a bridge's clients). Merged over `Metric.CurrentMetricAttributes`
 * of the context the peer, server or bridge was made in. Keep names few: each is a series.
 *
 * The package README's "Metrics" section has the table of every metric.
 *
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * Whether and under which attributes a peer, server or bridge publishes metrics.
 *
 * @since 0.1.0
 * @category models
 */
export interface MetricsOptions {
  /** The `name` attribute. Default `"peer"`, `"server"` or `"bridge"`. */
  readonly name?: string | undefined
}

/**
 * A peer's `metrics` option: also the `role` attribute, set by `RpcServer` and `RpcBridge` for the
 * connections they accept.
 *
 * @since 0.1.0
 * @category models
 */
export interface PeerMetricsOptions extends MetricsOptions {
  /** `client` (default): this side opened the connection; `server`: it accepted it. */
  readonly role?: "client" | "server" | undefined
}

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })
const gauge = (name: string, description: string) => Metric.gauge(name, { description })

// ---- connections (RpcPeer; a server's and a bridge's connections are peers too) ---------------

/**
 * Connections opened (1 + reconnects per peer).
 *
 * @since 0.1.0
 * @category connections
 */
export const connectionsTotal = counter("isthmus_rpc_connections_total", "Connections opened (1 + reconnects per peer)")
/**
 * Connections open and handshaken now.
 *
 * @since 0.1.0
 * @category connections
 */
export const connections = gauge("isthmus_rpc_connections", "Connections open and handshaken now")
/**
 * Calls made (call and request).
 *
 * @since 0.1.0
 * @category connections
 */
export const calls = counter("isthmus_rpc_calls_total", "Calls made (call and request)")
/**
 * Calls that failed, by error tag.
 *
 * @since 0.1.0
 * @category connections
 */
export const callErrors = counter("isthmus_rpc_call_errors_total", "Calls that failed, by error tag")
/**
 * Calls sent and waiting for their reply.
 *
 * @since 0.1.0
 * @category connections
 */
export const callsPending = gauge("isthmus_rpc_calls_pending", "Calls sent and waiting for their reply")
/**
 * Incoming requests handed to a handler.
 *
 * @since 0.1.0
 * @category connections
 */
export const requests = counter("isthmus_rpc_requests_total", "Incoming requests handed to a handler")
/**
 * Incoming requests answered with an error.
 *
 * @since 0.1.0
 * @category connections
 */
export const requestErrors = counter("isthmus_rpc_request_errors_total", "Incoming requests answered with an error")
/**
 * Incoming requests refused as overloaded (past concurrency + maxQueuedRequests).
 *
 * @since 0.1.0
 * @category connections
 */
export const requestsOverloaded = counter(
  "isthmus_rpc_requests_overloaded_total",
  "Incoming requests refused as overloaded (past concurrency + maxQueuedRequests)"
)
/**
 * Incoming requests holding a slot.
 *
 * @since 0.1.0
 * @category connections
 */
export const requestsInFlight = gauge("isthmus_rpc_requests_in_flight", "Incoming requests holding a slot")
/**
 * Incoming requests waiting for a slot.
 *
 * @since 0.1.0
 * @category connections
 */
export const requestsQueued = gauge("isthmus_rpc_requests_queued", "Incoming requests waiting for a slot")
/**
 * Notifications received.
 *
 * @since 0.1.0
 * @category connections
 */
export const notificationsReceived = counter("isthmus_rpc_notifications_received_total", "Notifications received")
/**
 * Notifications lost by subscribers that fell behind.
 *
 * @since 0.1.0
 * @category connections
 */
export const notificationsDropped = counter(
  "isthmus_rpc_notifications_dropped_total",
  "Notifications lost by subscribers that fell behind"
)
/**
 * Notification subscribers.
 *
 * @since 0.1.0
 * @category connections
 */
export const notificationSubscribers = gauge("isthmus_rpc_notification_subscribers", "Notification subscribers")
/**
 * Notifications buffered for subscribers, not yet read.
 *
 * @since 0.1.0
 * @category connections
 */
export const notificationsBuffered = gauge(
  "isthmus_rpc_notifications_buffered",
  "Notifications buffered for subscribers, not yet read"
)
/**
 * Messages waiting in the outbound queue.
 *
 * @since 0.1.0
 * @category connections
 */
export const outboundQueued = gauge("isthmus_rpc_outbound_queued", "Messages waiting in the outbound queue")
/**
 * Outbound messages dropped or refused because the queue was full.
 *
 * @since 0.1.0
 * @category connections
 */
export const outboundDropped = counter(
  "isthmus_rpc_outbound_dropped_total",
  "Outbound messages dropped or refused because the queue was full"
)
/**
 * Incoming frames dropped as invalid (oversized, bad header, not a message).
 *
 * @since 0.1.0
 * @category connections
 */
export const invalidFrames = counter(
  "isthmus_rpc_invalid_frames_total",
  "Incoming frames dropped as invalid (oversized, bad header, not a message)"
)
/**
 * Notifications whose params did not match their schema.
 *
 * @since 0.1.0
 * @category connections
 */
export const invalidNotifications = counter(
  "isthmus_rpc_invalid_notifications_total",
  "Notifications whose params did not match their schema"
)
/**
 * Idempotent calls sent again after a reconnect.
 *
 * @since 0.1.0
 * @category connections
 */
export const replayed = counter("isthmus_rpc_replayed_total", "Idempotent calls sent again after a reconnect")

// ---- servers ---------------------------------------------------------------------------------

/**
 * Connections refused because maxConnections were open.
 *
 * @since 0.1.0
 * @category servers
 */
export const connectionsRefused = counter(
  "isthmus_rpc_connections_refused_total",
  "Connections refused because maxConnections were open"
)
/**
 * Auth requests with a missing or wrong token.
 *
 * @since 0.1.0
 * @category servers
 */
export const authFailures = counter("isthmus_rpc_auth_failures_total", "Auth requests with a missing or wrong token")
/**
 * Connections closed for not passing the auth or initialize gate within authTimeout.
 *
 * @since 0.1.0
 * @category servers
 */
export const gateTimeouts = counter(
  "isthmus_rpc_gate_timeouts_total",
  "Connections closed for not passing the auth or initialize gate within authTimeout"
)

// ---- bridges ---------------------------------------------------------------------------------

/**
 * Bridge clients now, by phase.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeClients = gauge("isthmus_bridge_clients", "Bridge clients now, by phase")
/**
 * Client requests forwarded upstream.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeRequests = counter("isthmus_bridge_requests_total", "Client requests forwarded upstream")
/**
 * Client requests refused by the bridge (unauthorized, not initialized, forbidden).
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeRequestsRefused = counter(
  "isthmus_bridge_requests_refused_total",
  "Client requests refused by the bridge (unauthorized, not initialized, forbidden)"
)
/**
 * Notifications queued to clients (live, replayed and the bridge's own).
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeNotificationsSent = counter(
  "isthmus_bridge_notifications_sent_total",
  "Notifications queued to clients (live, replayed and the bridge's own)"
)
/**
 * Notifications kept from clients by their follow filter.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeNotificationsFiltered = counter(
  "isthmus_bridge_notifications_filtered_total",
  "Notifications kept from clients by their follow filter"
)
/**
 * Notifications replayed to clients when they joined.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeNotificationsReplayed = counter(
  "isthmus_bridge_notifications_replayed_total",
  "Notifications replayed to clients when they joined"
)
/**
 * Upstream sessions now, by state.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeUpstreams = gauge("isthmus_bridge_upstreams", "Upstream sessions now, by state")
/**
 * Upstream connections that ended after being ready.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeUpstreamRestarts = counter(
  "isthmus_bridge_upstream_restarts_total",
  "Upstream connections that ended after being ready"
)
/**
 * Upstream connection attempts that failed before being ready.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeUpstreamFailures = counter(
  "isthmus_bridge_upstream_failures_total",
  "Upstream connection attempts that failed before being ready"
)
/**
 * Forwarded calls failed with "upstream restarted".
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeRestartedCalls = counter(
  "isthmus_bridge_restarted_calls_total",
  "Forwarded calls failed with \"upstream restarted\""
)
/**
 * Notifications received from upstream.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeUpstreamNotifications = counter(
  "isthmus_bridge_upstream_notifications_total",
  "Notifications received from upstream"
)
/**
 * Server-to-client requests received from upstream.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeServerRequests = counter(
  "isthmus_bridge_server_requests_total",
  "Server-to-client requests received from upstream"
)
/**
 * Server requests a client answered.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeServerRequestsAnswered = counter(
  "isthmus_bridge_server_requests_answered_total",
  "Server requests a client answered"
)
/**
 * Server requests answered with an error because no client answered in time.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeServerRequestsTimedOut = counter(
  "isthmus_bridge_server_requests_timed_out_total",
  "Server requests answered with an error because no client answered in time"
)
/**
 * Server requests open now.
 *
 * @since 0.1.0
 * @category bridges
 */
export const bridgeServerRequestsOpen = gauge("isthmus_bridge_server_requests_open", "Server requests open now")
