/**
 * `@isthmus/rpc-protocol/node`: Node transports and the backend-side bootstrap reader.
 *
 * @since 0.1.0
 */

export {
  BootstrapReadError,
  fdPath,
  rawFdFallbackCodes,
  readBootstrap,
  readBootstrapLine,
  type ReadBootstrapOptions,
  readDesktopBootstrap
} from "./readBootstrap.ts"

/** @since 0.1.0 */
export * as RpcTransport from "./Transports.ts"
export {
  type BoundAddress,
  checkUpgrade,
  childStdio,
  connectTcp,
  connectWebSocket,
  fromStreams,
  InsecureBindError,
  isLoopback,
  type ListenOptions,
  processStdio,
  serveTcp,
  serveWebSocket,
  type TcpClientOptions,
  type TcpServerOptions,
  type UpgradeDecision,
  type WebSocketClientOptions,
  type WebSocketServerOptions
} from "./Transports.ts"
/** @since 0.1.0 */
export * as Tls from "./Tls.ts"
/** @since 0.1.0 */
export * as WsSocket from "./WsSocket.ts"
/** @since 0.1.0 */
export * as NetSocket from "./NetSocket.ts"
