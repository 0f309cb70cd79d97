/** Identifier rules moved to lib/identifiers.ts (storage keys need them too); kept for imports. */
export * from "../identifiers";
