export const placeholder = "backend-pool/testing" as const
