/**
 * `BackendPool`: the registry of supervised backends, and `reconcile`, which moves it to a
 * desired state: level-triggered, idempotent and serialized.
 *
 * @module
 */
import {
  Cause,
  Context,
  Deferred,
  Effect,
  Exit,
  Layer,
  PubSub,
  Queue,
  Schema,
  Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import * as BackendInstance from "./BackendInstance.ts"
import {
  type BackendSpec,
  BackendSpec as BackendSpecSchema,
  launchHash,
  policyHash,
  specProblems
} from "./BackendSpec.ts"
import { Launchers, type StopOutcome } from "./Launcher.ts"
import * as ReconcilePlan from "./ReconcilePlan.ts"

/** `register` was given an id that is already registered. */
export class DuplicateBackendError extends Schema.TaggedError<DuplicateBackendError>()("DuplicateBackendError", {
  id: Schema.String,
  message: Schema.String
}) {}

/** No instance with this id is registered. */
export class UnknownBackendError extends Schema.TaggedError<UnknownBackendError>()("UnknownBackendError", {
  id: Schema.String,
  message: Schema.String
}) {}

/** A desired state that cannot be applied (duplicate ids, an invalid spec). Nothing was changed. */
export class InvalidDesiredStateError extends Schema.TaggedError<InvalidDesiredStateError>()(
  "InvalidDesiredStateError",
  { message: Schema.String }
) {}

/** Events of the pool: one per instance transition, plus registration changes. */
export type PoolEvent =
  | BackendInstance.TransitionEvent
  | { readonly _tag: "Registered"; readonly id: string; readonly at: number }
  | { readonly _tag: "Unregistered"; readonly id: string; readonly at: number; readonly stop: StopOutcome }

const validateSpec = Schema.decodeUnknownExit(Schema.toType(BackendSpecSchema), { errors: "all" })

/**
 * Why `spec` cannot be applied (the schema's messages name the field and what it expects, never
 * the value: secrets are `Redacted`, so a wrong secret reads "Expected Redacted"), or `undefined`.
 * `where` says where it came from (`desired[2]`, `register`).
 */
const invalidSpec = (spec: unknown, where: string): InvalidDesiredStateError | undefined => {
  const id = typeof spec === "object" && spec !== null ? (spec as { id?: unknown }).id : undefined
  const named = `${where}${typeof id === "string" ? ` (id ${JSON.stringify(id)})` : ""}`
  const checked = validateSpec(spec)
  if (Exit.isFailure(checked)) {
    const issues = Cause.squash(checked.cause)
    return new InvalidDesiredStateError({
      message: `${named} is not a valid BackendSpec; fix these fields (nothing was changed):\n${
        issues instanceof Error ? issues.message : String(issues)
      }`
    })
  }
  const problems = specProblems(checked.value)
  if (problems.length === 0) return undefined
  return new InvalidDesiredStateError({
    message: `${named} cannot run as written; fix ${problems.length === 1 ? "this field" : "these fields"} ` +
      `(nothing was changed):\n${problems.map((p) => `- ${p.field} ${p.message}`).join("\n")}`
  })
}

type Entry =
  | {
    readonly _tag: "Active"
    readonly instance: BackendInstance.BackendInstance
    readonly scope: Scope.Closeable
    readonly launchHash: string
    readonly policyHash: string
  }
  /** Being unregistered; `done` completes with the stop's outcome once the entry is gone. */
  | { readonly _tag: "Closing"; readonly done: Deferred.Deferred<StopOutcome> }

/** The pool service. */
export class BackendPool extends Context.Service<BackendPool, {
  /**
   * Registers an instance, unstarted. Waits if an instance with the same id is still closing. A
   * spec that is not valid or cannot work as written (see `BackendSpec.specProblems`) is refused
   * with `InvalidDesiredStateError` naming the field.
   */
  register(
    spec: BackendSpec
  ): Effect.Effect<BackendInstance.BackendInstance, DuplicateBackendError | InvalidDesiredStateError>
  /**
   * Stops the instance, closes its scope and removes it, with how the stop went. When the id is
   * already being unregistered, waits for that and returns the same outcome.
   */
  unregister(id: string): Effect.Effect<StopOutcome, UnknownBackendError>
  /** The registered instance with this id (closing ones are not found). */
  get(id: string): Effect.Effect<BackendInstance.BackendInstance, UnknownBackendError>
  /** Registered instances (closing ones are hidden), sorted by id. */
  readonly list: Effect.Effect<ReadonlyArray<BackendInstance.BackendInstance>>
  /** A snapshot of every registered instance, sorted by id. */
  readonly status: Effect.Effect<ReadonlyArray<BackendInstance.Snapshot>>
  /**
   * Every event from now on: one per instance transition. Buffered per subscriber (4096 events,
   * the oldest are dropped when a subscriber falls further behind).
   */
  readonly events: Stream.Stream<PoolEvent>
  /**
   * Moves the pool to `desired` (level-triggered, idempotent, serialized): starts what is new,
   * replaces instances whose launch-relevant fields changed, applies policy-only changes in
   * place, keeps unchanged ones untouched, and stops ids that are no longer desired.
   */
  reconcile(desired: ReadonlyArray<BackendSpec>): Effect.Effect<ReconcilePlan.Plan, InvalidDesiredStateError>
  /**
   * Keeps the pool reconciled to `ref` until the scope closes; with `toDesired`, `ref` can hold
   * any value (a settings object) that maps to the desired specs. Bursts of changes are coalesced:
   * while one reconcile runs only the latest value waits, and it is always applied. An invalid
   * desired state is logged and skipped (the pool keeps the last valid one).
   */
  follow: {
    (ref: SubscriptionRef.SubscriptionRef<ReadonlyArray<BackendSpec>>): Effect.Effect<void, never, Scope.Scope>
    <A>(
      ref: SubscriptionRef.SubscriptionRef<A>,
      toDesired: (value: A) => ReadonlyArray<BackendSpec>
    ): Effect.Effect<void, never, Scope.Scope>
  }
}>()("@isthmus/backend-pool/BackendPool") {
  /** The pool; needs `Launchers`. Closing the layer stops every instance concurrently. */
  static readonly layer: Layer.Layer<BackendPool, never, Launchers> = Layer.effect(
    BackendPool,
    Effect.gen(function*() {
      const launchers = yield* Launchers
      // Instance scopes hang off a parallel scope, so however the pool's scope is closed, the
      // instances stop concurrently.
      const layerScope = yield* Scope.fork(yield* Scope.Scope, "parallel")
      const entries = new Map<string, Entry>()
      const registryLock = yield* Semaphore.make(1)
      const ports: BackendInstance.PortReservations = { reserved: new Set() }
      const reconcileLock = yield* Semaphore.make(1)
      const events = yield* PubSub.sliding<PoolEvent>(4096)
      const publish = (event: PoolEvent) => PubSub.publish(events, event).pipe(Effect.asVoid)
      const nowMs = Effect.clockWith((clock) => clock.currentTimeMillis)
      const unknownId = (id: string) => {
        const known = active().map((a) => JSON.stringify(a.id))
        return new UnknownBackendError({
          id,
          message: `no backend with id ${JSON.stringify(id)} is registered (registered: ${
            known.length === 0 ? "none" : known.join(", ")
          }); register it first or use reconcile`
        })
      }

      const register = Effect.fn("BackendPool.register")(function*(spec: BackendSpec) {
        const invalid = invalidSpec(spec, "register")
        if (invalid !== undefined) return yield* invalid
        while (true) {
          const outcome = yield* registryLock.withPermit(Effect.gen(function*() {
            const existing = entries.get(spec.id)
            if (existing?._tag === "Active") {
              return yield* new DuplicateBackendError({
                id: spec.id,
                message: `a backend with id ${JSON.stringify(spec.id)} is already registered; unregister it first`
              })
            }
            if (existing?._tag === "Closing") return { _tag: "Wait" as const, done: existing.done }
            const scope = yield* Scope.fork(layerScope, "sequential")
            const instance = yield* BackendInstance.make(spec, { launchers, publish, ports }).pipe(Scope.provide(scope))
            entries.set(spec.id, {
              _tag: "Active",
              instance,
              scope,
              launchHash: launchHash(spec),
              policyHash: policyHash(spec)
            })
            return { _tag: "Done" as const, instance }
          }))
          if (outcome._tag === "Done") {
            yield* publish({ _tag: "Registered", id: spec.id, at: yield* nowMs })
            return outcome.instance
          }
          yield* Deferred.await(outcome.done)
        }
      })

      const unregister = Effect.fn("BackendPool.unregister")(function*(id: string) {
        const claimed = yield* registryLock.withPermit(Effect.gen(function*() {
          const existing = entries.get(id)
          if (existing === undefined) return yield* unknownId(id)
          if (existing._tag === "Closing") return { _tag: "Wait" as const, done: existing.done }
          const done = yield* Deferred.make<StopOutcome>()
          entries.set(id, { _tag: "Closing", done })
          return { _tag: "Close" as const, entry: existing, done }
        }))
        if (claimed._tag === "Wait") return yield* Deferred.await(claimed.done)
        const outcome = yield* claimed.entry.instance.stop.pipe(
          Effect.onExit((exit) =>
            Scope.close(claimed.entry.scope, Exit.void).pipe(
              Effect.andThen(registryLock.withPermit(Effect.sync(() => entries.delete(id)))),
              Effect.andThen(Deferred.done(claimed.done, exit))
            )
          ),
          Effect.uninterruptible
        )
        yield* publish({ _tag: "Unregistered", id, at: yield* nowMs, stop: outcome })
        return outcome
      })

      const active = () =>
        [...entries.entries()]
          .flatMap(([id, e]) => e._tag === "Active" ? [{ id, entry: e }] : [])
          .toSorted((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

      const get = (id: string) =>
        Effect.suspend(() => {
          const e = entries.get(id)
          return e?._tag === "Active" ? Effect.succeed(e.instance) : Effect.fail(unknownId(id))
        })

      const list = Effect.sync(() => active().map((a) => a.entry.instance))
      const status = Effect.suspend(() => Effect.forEach(active(), (a) => a.entry.instance.snapshot))

      const apply = (action: ReconcilePlan.Action): Effect.Effect<void> => {
        switch (action._tag) {
          case "Start":
            return register(action.spec).pipe(
              Effect.flatMap((i) => i.start),
              // Validated with the whole desired state before any action runs.
              Effect.catchTag(["DuplicateBackendError", "InvalidDesiredStateError"], () => Effect.void)
            )
          case "Replace":
            return unregister(action.id).pipe(
              Effect.ignore,
              Effect.andThen(register(action.spec)),
              Effect.flatMap((i) => i.start),
              // Validated with the whole desired state before any action runs.
              Effect.catchTag(["DuplicateBackendError", "InvalidDesiredStateError"], () => Effect.void)
            )
          case "Update":
            return Effect.gen(function*() {
              const e = entries.get(action.id)
              if (e?._tag !== "Active") return
              entries.set(action.id, { ...e, policyHash: policyHash(action.spec) })
              yield* e.instance.updatePolicy(action.spec)
              if ((yield* e.instance.snapshot).phase === "Idle") yield* e.instance.start
            })
          case "Keep":
            return Effect.gen(function*() {
              const e = entries.get(action.id)
              if (e?._tag === "Active" && (yield* e.instance.snapshot).phase === "Idle") yield* e.instance.start
            })
          case "Stop":
            return Effect.ignore(unregister(action.id))
        }
      }

      const reconcile = Effect.fn("BackendPool.reconcile")(function*(desired: ReadonlyArray<BackendSpec>) {
        if (!Array.isArray(desired)) {
          return yield* new InvalidDesiredStateError({
            message: `the desired state must be an array of BackendSpec, got ${
              desired === null ? "null" : typeof desired
            } (with follow, map a settings value to specs with toDesired)`
          })
        }
        for (const [index, spec] of desired.entries()) {
          const invalid = invalidSpec(spec, `desired[${index}]`)
          if (invalid !== undefined) return yield* invalid
        }
        const dups = ReconcilePlan.duplicateIds(desired)
        if (dups.length > 0) {
          return yield* new InvalidDesiredStateError({
            message: `duplicate ids in the desired state: ${
              dups.map((d) => JSON.stringify(d)).join(", ")
            }; every id may appear once (nothing was changed)`
          })
        }
        return yield* reconcileLock.withPermit(Effect.gen(function*() {
          const current = active().map((a) => ({
            id: a.id,
            launchHash: a.entry.launchHash,
            policyHash: a.entry.policyHash
          }))
          const actions = ReconcilePlan.diff(current, desired)
          yield* Effect.forEach(actions, apply, { concurrency: "unbounded", discard: true })
          return ReconcilePlan.toPlan(actions)
        }))
      })

      const follow = <A>(
        ref: SubscriptionRef.SubscriptionRef<A>,
        toDesired: (value: A) => ReadonlyArray<BackendSpec> = (value) => value as ReadonlyArray<BackendSpec>
      ) =>
        Effect.gen(function*() {
          const latest = yield* Queue.sliding<ReadonlyArray<BackendSpec>>(1)
          yield* SubscriptionRef.changes(ref).pipe(
            Stream.runForEach((value) =>
              Effect.try(() => toDesired(value)).pipe(
                Effect.flatMap((desired) => Queue.offer(latest, desired)),
                Effect.catch(() => Effect.logWarning("follow: toDesired threw; keeping the last desired state"))
              )
            ),
            Effect.forkScoped({ startImmediately: true })
          )
          yield* Queue.take(latest).pipe(
            Effect.flatMap((desired) =>
              reconcile(desired).pipe(
                Effect.catchTag("InvalidDesiredStateError", (e) => Effect.logWarning(`follow: ${e.message}`)),
                Effect.asVoid,
                // Following never stops on a bad turn: log it and wait for the next value.
                Effect.catchCause((cause) =>
                  Cause.hasInterruptsOnly(cause)
                    ? Effect.failCause(cause)
                    : Effect.logError("follow: reconcile failed", cause)
                )
              )
            ),
            Effect.forever,
            Effect.forkScoped({ startImmediately: true })
          )
        }).pipe(Effect.withSpan("BackendPool.follow"))

      // Closing the pool stops every instance concurrently (each within its own grace period).
      yield* Effect.addFinalizer(() =>
        Effect.forEach(active(), (a) => unregister(a.id).pipe(Effect.ignore), {
          concurrency: "unbounded",
          discard: true
        }).pipe(Effect.andThen(PubSub.shutdown(events)))
      )

      return BackendPool.of({
        register,
        unregister,
        get,
        list,
        status,
        events: Stream.fromPubSub(events),
        reconcile,
        follow
      })
    })
  )
}
