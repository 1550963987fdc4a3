/**
 * @isthmus/backend-pool — a reconcile-driven pool of supervised backends with per-instance
 * scopes, logs and a WSL launcher.
 *
 * Node only: every entry of this package spawns or talks to OS processes (the root, `/child` for
 * the backend's side, `/testing`); a browser gets the pool's state from its host as plain data.
 *
 * @module
 */
export * as AttachLauncher from "./AttachLauncher.ts"
export * as BackendInstance from "./BackendInstance.ts"
export * from "./BackendPool.ts"
export * as BackendSpec from "./BackendSpec.ts"
export * as CommandCheck from "./CommandCheck.ts"
export * as InstanceChannel from "./InstanceChannel.ts"
export * as InstanceLog from "./InstanceLog.ts"
export * from "./Launcher.ts"
export * as Ledger from "./Ledger.ts"
export * as LocalLauncher from "./LocalLauncher.ts"
export * as PoolMetrics from "./PoolMetrics.ts"
export * as ProcessControl from "./ProcessControl.ts"
export * as ProcTable from "./ProcTable.ts"
export * as Protocol from "./Protocol.ts"
export * as Readiness from "./Readiness.ts"
export * as ReconcilePlan from "./ReconcilePlan.ts"
export * as ResourceUsage from "./ResourceUsage.ts"
export * as RestartPolicy from "./RestartPolicy.ts"
export * as SshConnection from "./SshConnection.ts"
export * as SshFailure from "./SshFailure.ts"
export * as SshForward from "./SshForward.ts"
export * as SshLauncher from "./SshLauncher.ts"
export * as SshMaster from "./SshMaster.ts"
export * as SshPreflight from "./SshPreflight.ts"
export * as SshRemote from "./SshRemote.ts"
export * as Watchdog from "./Watchdog.ts"
export * as WslLauncher from "./WslLauncher.ts"
