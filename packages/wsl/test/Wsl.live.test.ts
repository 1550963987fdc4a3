// The contract on a real Windows machine's wsl.exe (see liveContract in Wsl.contract.ts and the
// README's "Real Windows" section). Elsewhere there is no wsl.exe to run it against.
import { it } from "@effect/vitest"
import { Wsl } from "@isthmus/wsl/node"
import { liveContract } from "./Wsl.contract.ts"

const distro = process.env["ISTHMUS_WSL_DISTRO"] ?? ""

const skip = process.platform !== "win32"
  ? `skipped: this is ${process.platform}, and the live contract needs Windows with WSL (the fakes run the model-bound contract here)`
  : distro.length === 0
  ? "skipped: set ISTHMUS_WSL_DISTRO to a WSL 2 distribution to run it"
  : undefined

liveContract(distro, Wsl.layer(), it, skip)
