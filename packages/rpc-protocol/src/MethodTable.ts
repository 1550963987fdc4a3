/**
 * Method tables: the params and result Schemas of each method, so both sides get typed calls.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Schema } from "effect"

/**
 * A schema usable in a method table: no services needed to decode or encode.
 *
 * @since 0.1.0
 * @category models
 */
export interface AnySchema extends Schema.Top {
  readonly DecodingServices: never
  readonly EncodingServices: never
}

/**
 * One method: params and result schemas, and whether it is safe to replay after a reconnect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Method<P extends AnySchema = AnySchema, R extends AnySchema = AnySchema> {
  /** Decodes the params a server receives; encodes the params a client sends. */
  readonly params: P
  /** Encodes the result a server sends; decodes the result a client receives. */
  readonly result: R
  /** Whether a pending call may be sent again after a reconnect. */
  readonly idempotent: boolean
}

/**
 * A table of methods by name.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodTable = { readonly [method: string]: Method }

/**
 * The decoded params type of method `K`.
 *
 * @since 0.1.0
 * @category models
 */
export type Params<T extends MethodTable, K extends keyof T> = T[K]["params"]["Type"]

/**
 * The decoded result type of method `K`.
 *
 * @since 0.1.0
 * @category models
 */
export type Result<T extends MethodTable, K extends keyof T> = T[K]["result"]["Type"]

/**
 * Declares a method. Params and result default to `Schema.Unknown`; `idempotent` defaults to false.
 *
 * @example
 * ```ts
 * const Methods = MethodTable.make({
 *   ping: MethodTable.method({ result: Schema.Struct({ ok: Schema.Boolean }), idempotent: true }),
 *   add: MethodTable.method({ params: Schema.Struct({ a: Schema.Number, b: Schema.Number }), result: Schema.Number })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const method = <P extends AnySchema = typeof Schema.Unknown, R extends AnySchema = typeof Schema.Unknown>(
  spec: { readonly params?: P; readonly result?: R; readonly idempotent?: boolean }
): Method<P, R> => ({
  params: (spec.params ?? Schema.Unknown) as P,
  result: (spec.result ?? Schema.Unknown) as R,
  idempotent: spec.idempotent ?? false
})

/**
 * Declares a method table (identity, for inference).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const T extends MethodTable>(table: T): T => table

/**
 * The names of the methods marked idempotent.
 *
 * @since 0.1.0
 * @category utils
 */
export const idempotentMethods = (table: MethodTable): ReadonlySet<string> =>
  new Set(Object.entries(table).filter(([, m]) => m.idempotent).map(([name]) => name))

/**
 * One notification the other side sends: its params schema (the handler gets the decoded value).
 *
 * @since 0.1.0
 * @category models
 */
export interface Notification<P extends AnySchema = AnySchema> {
  /** Decodes the params of a received notification. */
  readonly params: P
}

/**
 * A table of notifications by method.
 *
 * @since 0.1.0
 * @category models
 */
export type NotificationTable = { readonly [method: string]: Notification }

/**
 * The decoded params type of notification `K`.
 *
 * @since 0.1.0
 * @category models
 */
export type NotificationParams<T extends NotificationTable, K extends keyof T> = T[K]["params"]["Type"]

/**
 * Declares a notification. Params default to `Schema.Unknown`.
 *
 * @example
 * ```ts
 * const Events = MethodTable.notifications({
 *   "turn/completed": MethodTable.notification({ params: Schema.Struct({ turnId: Schema.String }) })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const notification = <P extends AnySchema = typeof Schema.Unknown>(
  spec?: { readonly params?: P }
): Notification<P> => ({ params: (spec?.params ?? Schema.Unknown) as P })

/**
 * Declares a notification table (identity, for inference).
 *
 * @since 0.1.0
 * @category constructors
 */
export const notifications = <const T extends NotificationTable>(table: T): T => table

type ServicesOfHandlers<H> = {
  readonly [K in keyof H]-?: NonNullable<H[K]> extends (...args: never) => Effect.Effect<infer _A, infer _E, infer R>
    ? R
    : never
}[keyof H]

/**
 * The services a table of handlers requires: the union of the `R` of every handler's `Effect`.
 * `never` when there are no handlers to infer from (the table's bare constraint).
 *
 * @since 0.1.0
 * @category models
 */
export type HandlerServices<H> = unknown extends ServicesOfHandlers<H> ? never : ServicesOfHandlers<H>
