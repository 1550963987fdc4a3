/**
 * A path for already framed notification bytes into a peer's outbound queue, so a fan-out
 * encodes a notification once for many connections of one dialect and framing (`RpcBridge`)
 * instead of once per connection. The bytes go through the same bounded queue and `whenFull`
 * policy as `notify` (a notification: dropped under `drop`, a slow consumer cut off under
 * `disconnect`).
 *
 * @internal
 */
import type { Effect } from "effect"
import type { CallError } from "../RpcError.ts"

/** @internal */
export const EncodedSendKey = Symbol.for("@isthmus/rpc-protocol/EncodedSend")

/** @internal */
export interface EncodedSend {
  /**
   * Queues `data` (one framed notification, e.g. `framing.encode(dialect.encode(n))`); `method`
   * names it in errors. Returns `undefined` when it was queued at once, else the effect that
   * waits for the connection or applies the queue's full policy. With `hold`, bytes queued at
   * once wait for {@link flush} (or the next write) instead of being written now, so the
   * notifications of one upstream read leave in one write.
   */
  readonly send: (
    data: string | Uint8Array,
    method: string,
    hold: boolean
  ) => Effect.Effect<void, CallError> | undefined
  /** Writes what `send` held (a no-op when nothing is queued or the writer is busy: it drains the queue). */
  readonly flush: () => void
}

/** @internal */
export const getEncodedSend = (peer: object): EncodedSend | undefined =>
  (peer as { readonly [EncodedSendKey]?: EncodedSend })[EncodedSendKey]
