export const placeholder = "rpc-protocol/node" as const
