/**
 * An in-memory duplex: two connected `Socket`s, for testing peers and servers without a network
 * (and under `TestClock`). Each side's writes arrive at the other side's reader as frames; closing
 * either reader (or writing a `CloseEvent`) ends both directions, like a TCP connection closing.
 *
 * @since 0.1.0
 */
import { Cause, Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Queue from "effect/Queue"
import * as Socket from "effect/socket/Socket"

/**
 * Both ends of an in-memory connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pair {
  /** The end a client peer connects with. */
  readonly client: Socket.Socket
  /** The end a server handles (`server.handle(pair.server)`). */
  readonly server: Socket.Socket
  /** Ends both directions (both readers see end of stream). */
  readonly close: Effect.Effect<void>
}

const closed = () => new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: 1000 }) })

/**
 * Creates a connected pair. `capacity` bounds each direction (writes wait when it is full, as a
 * real socket's send buffer does). Default 1024 frames.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePair = (options?: { readonly capacity?: number | undefined }): Effect.Effect<Pair> =>
  Effect.gen(function*() {
    const capacity = options?.capacity ?? 1024
    const toServer = yield* Queue.bounded<Uint8Array | string, Cause.Done>(capacity)
    const toClient = yield* Queue.bounded<Uint8Array | string, Cause.Done>(capacity)
    const close = Effect.asVoid(Effect.all([Queue.end(toServer), Queue.end(toClient)]))
    const side = (inbound: typeof toServer, outbound: typeof toServer): Socket.Socket =>
      Socket.make({
        reader: Effect.gen(function*() {
          yield* Effect.addFinalizer(() => close)
          return {
            pull: Queue.takeAll(inbound).pipe(
              Effect.map((items) => items as NonEmptyReadonlyArray<Uint8Array | string>),
              Effect.catchIf(Cause.isDone, () => Effect.fail(closed()))
            ),
            upgrade: Socket.SocketUpgradeError.unsupported
          }
        }),
        writer: Effect.succeed({
          write: (chunk) =>
            Socket.isCloseEvent(chunk)
              ? close
              : Queue.offer(outbound, chunk).pipe(
                Effect.flatMap((ok) => ok ? Effect.void : Effect.fail(closed()))
              ),
          writeAll: (chunks) =>
            Queue.offerAll(outbound, chunks).pipe(
              Effect.flatMap((rest) => rest.length === 0 ? Effect.void : Effect.fail(closed()))
            )
        })
      })
    return { client: side(toClient, toServer), server: side(toServer, toClient), close }
  })
