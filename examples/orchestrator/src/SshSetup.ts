/**
 * Where the SSH backend runs. The demo starts a real OpenSSH server for it (`SshTestServer` from
 * `@isthmus/backend-pool/testing`, Debian's openssh-server): in its own network namespace with its
 * own address when the machine allows it (root, `ip netns`), so the daemon really runs on "another
 * host" whose 127.0.0.1 is not ours and is reached through the pool's port forward; otherwise on a
 * loopback port. When no server can be started (no sshd installed), the SSH backend is left out
 * and the orchestrator says why. A settings entry with its own `connection` needs none of this.
 */
import type { SshConnection } from "@isthmus/backend-pool"
import { SshTestServer } from "@isthmus/backend-pool/testing"
import { Effect, type Scope } from "effect"

export interface SshSetup {
  /** The demo server's connection, when one runs. */
  readonly connection: SshConnection.SshConnection | undefined
  readonly description: string
}

/** Starts the demo's SSH server for the scope (only when a backend needs it). */
export const sshLab = (needed: boolean): Effect.Effect<SshSetup, never, Scope.Scope> =>
  !needed
    ? Effect.succeed({ connection: undefined, description: "no ssh backend without a connection in the settings" })
    : SshTestServer.make().pipe(
      Effect.map((lab) => ({
        connection: lab.connection,
        description: lab.isolation === "netns"
          ? `an OpenSSH server started for the demo in its own network namespace at ${lab.host}:${lab.port} (user ${lab.user})`
          : `an OpenSSH server started for the demo on 127.0.0.1:${lab.port} (user ${lab.user}; no network namespace here)`
      })),
      Effect.catch((error) =>
        Effect.succeed({
          connection: undefined,
          description: `no SSH server could be started (${error.message}), so the ssh backend is left out`
        })
      )
    )
