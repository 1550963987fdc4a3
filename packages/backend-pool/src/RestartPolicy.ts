/**
 * Restart decisions, backoff delays and the crash-loop breaker, as pure functions.
 *
 * Backoff applies to every unplanned exit, including exits after Ready (the supervisord/PM2
 * crash-after-start storm), and resets only after the backend stayed Ready for
 * `resetAfterReadyMs`, never on spawn (t3code #2353).
 *
 * @module
 */
import type { ResolvedRestart } from "./BackendSpec.ts"

/** How a run ended, as the supervisor saw it. */
export interface ExitInfo {
  /** Exit code, or `null` when a signal ended the process. */
  readonly code: number | null
  readonly signal: string | null
}

/** Whether an exit (not requested by the host) leads to a restart. */
export const shouldRestart = (policy: ResolvedRestart, exit: ExitInfo): boolean => {
  if (policy.mode === "never") return false
  if (exit.code !== null && policy.preventExitCodes.includes(exit.code)) return false
  if (policy.mode === "on-failure" && exit.code === 0 && exit.signal === null) return false
  return true
}

/**
 * The delay before restart attempt `attempt` (0-based): `initial × factor^attempt`, capped at
 * `maxMs`, then jittered by ±`jitter` using `random` in [0, 1). The jittered value never exceeds
 * `maxMs × (1 + jitter)` and is never negative.
 */
export const backoffDelay = (policy: ResolvedRestart, attempt: number, random: number): number => {
  const base = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, Math.max(0, attempt)))
  const spread = base * policy.jitter
  return Math.max(0, Math.round(base - spread + 2 * spread * random))
}

/** The un-jittered delay for `attempt`, for displays and tests. */
export const nominalDelay = (policy: ResolvedRestart, attempt: number): number =>
  Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, Math.max(0, attempt)))

/** Failure history for the crash-loop breaker: timestamps (ms) of recent failures. */
export interface BreakerState {
  readonly failures: ReadonlyArray<number>
}

/** No failures recorded. */
export const emptyBreaker: BreakerState = { failures: [] }

/** Record a failure at `now`; drops failures older than the window. */
export const recordFailure = (policy: ResolvedRestart, state: BreakerState, now: number): BreakerState => ({
  failures: [...state.failures.filter((t) => now - t < policy.crashLoopWindowMs), now]
})

/** Whether the breaker is open: `crashLoopFailures` failures within `crashLoopWindowMs`. */
export const isTripped = (policy: ResolvedRestart, state: BreakerState, now: number): boolean =>
  state.failures.filter((t) => now - t < policy.crashLoopWindowMs).length >= policy.crashLoopFailures

/** Whether a run that was Ready for `readyForMs` was stable enough to reset the backoff. */
export const isStable = (policy: ResolvedRestart, readyForMs: number | undefined): boolean =>
  readyForMs !== undefined && readyForMs >= policy.resetAfterReadyMs
