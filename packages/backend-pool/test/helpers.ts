import { NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher } from "@isthmus/backend-pool"
import { Layer } from "effect"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"

export const fixture = (name: string): string =>
  NodePath.join(fileURLToPath(new URL("./fixtures/", import.meta.url)), name)

/** The pool with the real `Local` launcher. */
export const livePool = BackendPool.layer.pipe(Layer.provide(LocalLauncher.layer), Layer.provide(NodeServices.layer))
