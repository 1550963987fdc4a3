export const placeholder = "backend-pool/child" as const
