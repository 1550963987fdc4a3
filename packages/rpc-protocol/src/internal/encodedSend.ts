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

/**
 * Queues `data` (one framed notification, e.g. `framing.encode(dialect.encode(n))`); `method`
 * names it in errors. Returns `undefined` when it was queued (or written) at once, else the
 * effect that waits for the connection or applies the queue's full policy.
 *
 * @internal
 */
export type EncodedSend = (data: string | Uint8Array, method: string) => Effect.Effect<void, CallError> | undefined

/** @internal */
export const getEncodedSend = (peer: object): EncodedSend | undefined =>
  (peer as { readonly [EncodedSendKey]?: EncodedSend })[EncodedSendKey]
