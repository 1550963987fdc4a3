/**
 * `@isthmus/rpc-protocol`: framings, JSON-RPC dialects, peers, auth and the bootstrap envelope.
 * This entry has no Node built-ins; it runs in browsers and Tauri webviews.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Auth from "./Auth.ts"
/** @since 0.1.0 */
export * as BootstrapEnvelope from "./BootstrapEnvelope.ts"
/** @since 0.1.0 */
export * as ConnectionError from "./ConnectionError.ts"
/** @since 0.1.0 */
export * as Dialect from "./Dialect.ts"
/** @since 0.1.0 */
export * as Fanout from "./Fanout.ts"
/** @since 0.1.0 */
export * as Framing from "./Framing.ts"
/** @since 0.1.0 */
export * as Handshake from "./Handshake.ts"
/** @since 0.1.0 */
export * as MemorySocket from "./MemorySocket.ts"
/** @since 0.1.0 */
export * as Message from "./Message.ts"
/** @since 0.1.0 */
export * as MethodTable from "./MethodTable.ts"
/** @since 0.1.0 */
export {
  type CallError,
  HandshakeError,
  OutboundQueueFullError,
  PeerDisconnectedError,
  RpcError,
  RpcSchemaError,
  RpcTimeoutError
} from "./RpcError.ts"
/** @since 0.1.0 */
export * as RpcBridge from "./RpcBridge.ts"
/** @since 0.1.0 */
export * as RpcBridgePolicy from "./RpcBridgePolicy.ts"
/** @since 0.1.0 */
export * as RpcMetrics from "./RpcMetrics.ts"
/** @since 0.1.0 */
export * as RpcPeer from "./RpcPeer.ts"
/** @since 0.1.0 */
export * as RpcServer from "./RpcServer.ts"
