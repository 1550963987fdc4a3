/**
 * An optional synchronous read path a transport can attach to the `Reader` its socket gives (the
 * Node TCP adapter does). `RpcPeer` reads through it so that a read whose messages are all dealt
 * with at once (a reply that completes a call, a request answered at once) is handled in the
 * transport's own event callback, without resuming the reader fiber and parking it again: two
 * fiber hops per message saved. Work that needs a fiber (a handler to run, a reply waiting for
 * room) still resumes it, and the next read waits until that work is done, as with `pull`.
 *
 * @internal
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as Effect from "effect/Effect"
import type * as Socket from "effect/socket/Socket"

/** @internal */
export const FastReadKey = Symbol.for("@isthmus/rpc-protocol/FastRead")

/** @internal */
export interface FastRead {
  /**
   * Like `pull`, but every read that arrives while it waits is first given to `handle`, in the
   * transport's event callback. `handle` returning `undefined` means the read was dealt with: the
   * pull goes on waiting for the next one. Any other value completes the pull with it; a throw
   * completes it with that defect. Reads that arrive while `handle` runs are given to it after it
   * returns, in order; an interrupted pull is not given any more.
   */
  readonly pullWith: <A>(
    handle: (chunks: NonEmptyReadonlyArray<Uint8Array>) => A | undefined
  ) => Effect.Effect<A, Socket.SocketError>
}

/** @internal */
export const getFastRead = (reader: Socket.Reader<Uint8Array | string>): FastRead | undefined =>
  (reader as unknown as { readonly [FastReadKey]?: FastRead })[FastReadKey]
