// The scratch consumer's program (see scripts/pack-check.ts): it imports every published entry
// point from the packed tarballs, uses a value from each, and prints "consumer ok".
import * as Pool from "@isthmus/backend-pool"
import * as PoolChild from "@isthmus/backend-pool/child"
import * as PoolTesting from "@isthmus/backend-pool/testing"
import * as Rpc from "@isthmus/rpc-protocol"
import * as RpcNode from "@isthmus/rpc-protocol/node"
import * as Wsl from "@isthmus/wsl"
import * as WslTesting from "@isthmus/wsl/testing"
import * as WslPath from "@isthmus/wsl/WslPath"

const seen: Array<string> = [
  Pool.placeholder,
  PoolChild.placeholder,
  PoolTesting.placeholder,
  Rpc.placeholder,
  RpcNode.placeholder,
  WslTesting.placeholder,
  WslPath.placeholder,
  Wsl.WslPath.placeholder
]
if (seen.length !== 8) throw new Error("unexpected exports")
console.log("consumer ok")
