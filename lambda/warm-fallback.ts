/**
 * PLACEHOLDER so the stack can bundle this entry at synth: the runtime helper's
 * lambda/warm-fallback.ts (issue #14) replaces this file when the branches are merged. The real
 * handler reads the delayed run ids a warm dispatch sent to the fallback queue and launches cold
 * every run no warm worker claimed, reporting failed records as `batchItemFailures`.
 */
export const handler = async (event: { Records?: unknown[] }) => {
  void event;
  return { batchItemFailures: [] as { itemIdentifier: string }[] };
};
