/**
 * The pure diff between what runs and what is desired.
 *
 * @module
 */
import { type BackendSpec, launchHash, policyHash } from "./BackendSpec.ts"

/** What the pool knows about a registered instance, for planning. */
export interface Current {
  readonly id: string
  readonly launchHash: string
  readonly policyHash: string
}

/** One decision per id. */
export type Action =
  | { readonly _tag: "Start"; readonly id: string; readonly spec: BackendSpec }
  | { readonly _tag: "Replace"; readonly id: string; readonly spec: BackendSpec }
  | { readonly _tag: "Update"; readonly id: string; readonly spec: BackendSpec }
  | { readonly _tag: "Keep"; readonly id: string }
  | { readonly _tag: "Stop"; readonly id: string }

/** The plan a `reconcile` returns: ids started, replaced, updated in place, kept and stopped. */
export interface Plan {
  readonly started: ReadonlyArray<string>
  readonly replaced: ReadonlyArray<string>
  readonly updated: ReadonlyArray<string>
  readonly kept: ReadonlyArray<string>
  readonly stopped: ReadonlyArray<string>
}

/** A plan that does nothing. */
export const emptyPlan: Plan = { started: [], replaced: [], updated: [], kept: [], stopped: [] }

/** Ids that appear more than once in `desired`. */
export const duplicateIds = (desired: ReadonlyArray<BackendSpec>): ReadonlyArray<string> => {
  const seen = new Set<string>()
  const dups = new Set<string>()
  for (const spec of desired) {
    if (seen.has(spec.id)) dups.add(spec.id)
    seen.add(spec.id)
  }
  return [...dups]
}

/**
 * Decide, for every id in `current` or `desired`, what to do. Unchanged specs (same launch and
 * policy hashes) are kept; a changed launch hash replaces the process; a policy-only change is
 * applied in place; ids no longer desired are stopped. `desired` must not contain duplicate ids
 * (check with {@link duplicateIds}); the last one wins otherwise.
 */
export const diff = (current: ReadonlyArray<Current>, desired: ReadonlyArray<BackendSpec>): ReadonlyArray<Action> => {
  const want = new Map<string, BackendSpec>()
  for (const spec of desired) want.set(spec.id, spec)
  const have = new Map(current.map((c) => [c.id, c]))
  const actions: Array<Action> = []
  for (const c of current) {
    if (!want.has(c.id)) actions.push({ _tag: "Stop", id: c.id })
  }
  for (const [id, spec] of want) {
    const c = have.get(id)
    if (c === undefined) actions.push({ _tag: "Start", id, spec })
    else if (c.launchHash !== launchHash(spec)) actions.push({ _tag: "Replace", id, spec })
    else if (c.policyHash !== policyHash(spec)) actions.push({ _tag: "Update", id, spec })
    else actions.push({ _tag: "Keep", id })
  }
  return actions
}

/** Summarize actions as a {@link Plan}. */
export const toPlan = (actions: ReadonlyArray<Action>): Plan => ({
  started: actions.filter((a) => a._tag === "Start").map((a) => a.id),
  replaced: actions.filter((a) => a._tag === "Replace").map((a) => a.id),
  updated: actions.filter((a) => a._tag === "Update").map((a) => a.id),
  kept: actions.filter((a) => a._tag === "Keep").map((a) => a.id),
  stopped: actions.filter((a) => a._tag === "Stop").map((a) => a.id)
})
