/**
 * `Fanout`: one producer, many subscribers, each behind its own bounded buffer. Publishing never
 * waits: a subscriber that falls behind loses its oldest items (`dropOldest`) or is ended with a
 * `SubscriberOverflowError` (`end`), each time with a counter and a log line, so one slow or
 * abandoned subscriber can neither block the producer nor grow memory.
 *
 * `RpcPeer` delivers incoming notifications through one (its `subscribe` and `notifications`); a
 * bridge can use it for its own streams.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Queue, Schema, type Scope, Stream } from "effect"

/**
 * What a subscriber's buffer does when it is full.
 *
 * - `dropOldest` (default): the oldest buffered item makes room for the new one; the subscriber
 *   keeps going and `dropped` counts what it missed.
 * - `end`: the subscriber receives what is buffered, then its stream fails with
 *   {@link SubscriberOverflowError}; use it when missing an item is worse than stopping.
 *
 * @since 0.1.0
 * @category models
 */
export type WhenFull = "dropOldest" | "end"

/**
 * Per-subscriber buffer options.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriberOptions {
  /** Items buffered for this subscriber. Default 1024. */
  readonly capacity?: number | undefined
  /** What happens when the buffer is full. Default `dropOldest`. */
  readonly whenFull?: WhenFull | undefined
}

/**
 * The default per-subscriber capacity: 1024 items.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultCapacity = 1024

/**
 * A subscriber with the `end` policy fell `capacity` items behind and was ended.
 *
 * @since 0.1.0
 * @category errors
 */
export class SubscriberOverflowError extends Schema.TaggedError<SubscriberOverflowError>()("SubscriberOverflowError", {
  name: Schema.String,
  capacity: Schema.Number,
  message: Schema.String
}) {}

/**
 * One subscription: its stream and how many items it missed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subscription<A> {
  /**
   * The items published from the moment of subscribing. Ending the stream (e.g. `Stream.take`)
   * unsubscribes; so does closing the scope the subscription was made in.
   */
  readonly stream: Stream.Stream<A, SubscriberOverflowError>
  /** Items this subscriber lost to `dropOldest` (or the one that ended it under `end`). */
  readonly dropped: Effect.Effect<number>
}

/**
 * A fan-out point.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fanout<A> {
  /**
   * Hands `item` to every subscriber without waiting. Returns `Effect.void` when every buffer had
   * room, otherwise the effect that logs the overflow (run it; it never fails).
   */
  readonly publish: (item: A) => Effect.Effect<void>
  /** Subscribes now (nothing published after this is missed), with per-subscriber options. */
  readonly subscribe: (options?: SubscriberOptions) => Effect.Effect<Subscription<A>, never, Scope.Scope>
  /** Subscribers now. */
  readonly size: () => number
  /** Items dropped across all subscribers so far. */
  readonly dropped: () => number
  /** Items buffered across all subscribers now (published, not yet read). */
  readonly buffered: () => number
  /** Ends every subscriber's stream (after what it has buffered) and refuses new items. */
  readonly shutdown: Effect.Effect<void>
}

interface Subscriber<A> {
  readonly queue: Queue.Queue<A, SubscriberOverflowError | Cause.Done>
  readonly capacity: number
  readonly whenFull: WhenFull
  dropped: number
  /** Set while the buffer is overflowing, so one episode logs once. */
  overflowing: boolean
}

/**
 * Creates a fan-out point. `name` appears in log lines and errors (e.g. `"notifications"`);
 * `defaults` apply to subscribers that pass no options.
 *
 * @example
 * ```ts
 * const fanout = Fanout.make<string>({ name: "events" })
 * const { stream } = yield* fanout.subscribe({ capacity: 16, whenFull: "end" })
 * yield* fanout.publish("hello")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(options: { readonly name: string; readonly defaults?: SubscriberOptions | undefined }): Fanout<
  A
> => {
  const subscribers = new Set<Subscriber<A>>()
  let totalDropped = 0
  let closed = false

  const overflowLog = (subscriber: Subscriber<A>, ended: boolean): Effect.Effect<void> =>
    Effect.logWarning(
      ended
        ? `rpc: a ${options.name} subscriber fell ${subscriber.capacity} items behind and was ended ` +
          "(whenFull: \"end\"); read faster, raise its capacity, or use whenFull: \"dropOldest\""
        : `rpc: a ${options.name} subscriber fell ${subscriber.capacity} items behind; dropping its oldest ` +
          `items (${subscriber.dropped} so far); read faster or raise its capacity`
    )

  const publish = (item: A): Effect.Effect<void> => {
    let log: Array<Effect.Effect<void>> | undefined
    for (const subscriber of subscribers) {
      const { queue } = subscriber
      if (Queue.sizeUnsafe(queue) < subscriber.capacity) {
        subscriber.overflowing = false
        Queue.offerUnsafe(queue, item)
        continue
      }
      subscriber.dropped++
      totalDropped++
      if (subscriber.whenFull === "end") {
        subscribers.delete(subscriber)
        Queue.failCauseUnsafe(
          queue,
          Cause.fail(
            new SubscriberOverflowError({
              name: options.name,
              capacity: subscriber.capacity,
              message: `this ${options.name} subscriber fell ${subscriber.capacity} items behind and was ended; ` +
                "read faster, raise its capacity, or subscribe with whenFull: \"dropOldest\""
            })
          )
        )
        ;(log ??= []).push(overflowLog(subscriber, true))
        continue
      }
      // Sliding queue: the offer drops the oldest item.
      Queue.offerUnsafe(queue, item)
      if (!subscriber.overflowing) {
        subscriber.overflowing = true
        ;(log ??= []).push(overflowLog(subscriber, false))
      }
    }
    return log === undefined ? Effect.void : Effect.forEach(log, (e) => e, { discard: true })
  }

  const remove = (subscriber: Subscriber<A>) =>
    Effect.sync(() => {
      subscribers.delete(subscriber)
      Queue.endUnsafe(subscriber.queue)
    })

  const subscribe = (subscriberOptions?: SubscriberOptions): Effect.Effect<Subscription<A>, never, Scope.Scope> =>
    Effect.gen(function*() {
      const capacity = Math.max(1, subscriberOptions?.capacity ?? options.defaults?.capacity ?? defaultCapacity)
      const whenFull = subscriberOptions?.whenFull ?? options.defaults?.whenFull ?? "dropOldest"
      const queue = yield* Queue.make<A, SubscriberOverflowError | Cause.Done>({
        capacity,
        strategy: whenFull === "dropOldest" ? "sliding" : "dropping"
      })
      const subscriber: Subscriber<A> = { queue, capacity, whenFull, dropped: 0, overflowing: false }
      if (closed) Queue.endUnsafe(queue)
      else subscribers.add(subscriber)
      yield* Effect.addFinalizer(() => remove(subscriber))
      return {
        stream: Stream.fromQueue(queue).pipe(Stream.ensuring(remove(subscriber))),
        dropped: Effect.sync(() => subscriber.dropped)
      }
    })

  return {
    publish,
    subscribe,
    size: () => subscribers.size,
    dropped: () => totalDropped,
    buffered: () => {
      let total = 0
      for (const subscriber of subscribers) total += Queue.sizeUnsafe(subscriber.queue)
      return total
    },
    shutdown: Effect.sync(() => {
      closed = true
      for (const subscriber of subscribers) Queue.endUnsafe(subscriber.queue)
      subscribers.clear()
    })
  }
}
