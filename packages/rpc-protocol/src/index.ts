export const placeholder = "rpc-protocol" as const
