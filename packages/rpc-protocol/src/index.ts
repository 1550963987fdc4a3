/**
 * `@isthmus/rpc-protocol`: framings, JSON-RPC dialects, peers, auth and the bootstrap envelope.
 * This entry has no Node built-ins; it runs in browsers and Tauri webviews.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as BootstrapEnvelope from "./BootstrapEnvelope.ts"

/**
 * Kept for the repository's packaging smoke test (`scripts/consumer`); not part of the API.
 *
 * @since 0.1.0
 * @internal
 */
export const placeholder = "rpc-protocol" as const
