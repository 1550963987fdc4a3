export const placeholder = "testing" as const
