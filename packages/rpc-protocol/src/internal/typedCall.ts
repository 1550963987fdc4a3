/**
 * Runs a handler for a request of a method table: params decoded with the method's schema (a
 * mismatch is the dialect's "invalid params"), the result encoded with its result schema (a
 * mismatch is the dialect's internal error). Shared by `RpcServer` and typed incoming requests of
 * `RpcPeer`.
 *
 * @internal
 */
import { Effect, Exit, Option, Schema } from "effect"
import type { Dialect } from "../Dialect.ts"
import type { MethodTable } from "../MethodTable.ts"
import { RpcError } from "../RpcError.ts"

type Codec = (u: unknown) => Exit.Exit<unknown, Schema.SchemaError>

/** @internal */
export const schemaMessage = (exit: Exit.Exit<unknown, Schema.SchemaError>): string => {
  const error = Option.getOrUndefined(Exit.findErrorOption(exit))
  return error ? error.message : "does not match the schema"
}

/**
 * A runner for `table`: `run(method, params, handler)` decodes, calls and encodes, or returns
 * `undefined` when `method` is not in the table.
 *
 * @internal
 */
export const typedRunner = (dialect: Dialect, table: MethodTable) => {
  const decoders = new Map<string, Codec>()
  // No encoder for `Unknown`/`Any` results: the handler's value goes out as it is.
  const encoders = new Map<string, Codec | undefined>()
  for (const [name, spec] of Object.entries(table)) {
    decoders.set(name, Schema.decodeUnknownExit(spec.params))
    const passThrough = spec.result.ast._tag === "Unknown" || spec.result.ast._tag === "Any"
    encoders.set(name, passThrough ? undefined : Schema.encodeUnknownExit(spec.result))
  }
  return <R>(
    method: string,
    params: unknown,
    handler: (decoded: unknown) => Effect.Effect<unknown, RpcError, R>
  ): Effect.Effect<unknown, RpcError, R> | undefined => {
    const decode = decoders.get(method)
    if (decode === undefined) return undefined
    const decoded = decode(params)
    if (Exit.isFailure(decoded)) {
      return Effect.fail(RpcError.fromObject(dialect.errors.invalidParams(method, schemaMessage(decoded))))
    }
    const encode = encoders.get(method)
    if (encode === undefined) return handler(decoded.value)
    return Effect.flatMap(handler(decoded.value), (result) => {
      const encoded = encode(result)
      return Exit.isSuccess(encoded)
        ? Effect.succeed(encoded.value)
        : Effect.fail(RpcError.fromObject(dialect.errors.internal(`result of ${method} does not match its schema`)))
    })
  }
}
