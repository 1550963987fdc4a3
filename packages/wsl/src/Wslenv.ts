/** Placeholder: filled in by the @isthmus/wsl issue. */
export const placeholder = "Wslenv" as const
