/**
 * An optional synchronous write path a transport can attach to its `Socket` (the Node TCP adapter
 * does). `RpcPeer` uses it while its writer is idle, saving a fiber hop per message; when `write`
 * reports backpressure the writer fiber takes over and waits for `drained`.
 *
 * @internal
 */
import type { Effect } from "effect"
import type * as Socket from "effect/socket/Socket"

/** @internal */
export const FastWriteKey = Symbol.for("@isthmus/rpc-protocol/FastWrite")

/** @internal */
export interface FastWrite {
  /** Writes now. `true`: accepted without backpressure; `false`: buffered or refused, wait for `drained`. */
  readonly write: (chunk: string | Uint8Array) => boolean
  readonly drained: Effect.Effect<void, Socket.SocketError>
}

/** @internal */
export const getFastWrite = (socket: Socket.Socket): FastWrite | undefined => {
  const fast = (socket as unknown as { readonly [FastWriteKey]?: FastWrite })[FastWriteKey]
  return fast
}
