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
  processStdio,
  serveTcp,
  serveWebSocket,
  type TcpServerOptions,
  type WebSocketServerOptions
} from "./Transports.ts"
