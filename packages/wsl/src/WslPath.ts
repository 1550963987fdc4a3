/** Placeholder: filled in by the @isthmus/wsl issue. */
export const placeholder = "WslPath" as const
import { placeholder as dn } from "./DistroName.ts"
export const both = [dn, placeholder] as const
