/**
 * Test flow: one task that keeps `mb` megabytes of JavaScript arrays alive at once — more than
 * the small profile's heap (384 MiB), well within medium's (1536 MiB).
 */
import { dag, task } from "dagy";

export const hog = task("hog", ({ mb }: { mb: number }) => {
  const kept: number[][] = [];
  // 1.25 M doubles = 10 MB per array (packed doubles: 8 bytes each).
  for (let i = 0; i < mb / 10; i++) kept.push(new Array<number>(1_250_000).fill(i + 0.5));
  return { arrays: kept.length };
});

export default dag(
  "hog",
  { version: "1.0.0", parameters: { mb: { type: "number", default: 600 } } },
  () => {
    hog({ mb: "{{ parameters.mb }}" });
  },
);
