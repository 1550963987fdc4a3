export const placeholder = "backend-pool" as const
