/**
 * `npm run bench`: every benchmark the issues ask for, in one run. Each prints its figures next
 * to the baseline or target it is compared against. Run one alone with
 * `npx tsx bench/<name>.ts`, or pass names: `npm run bench -- executor launch`.
 */
const BENCHMARKS = [
  "executor",
  "map",
  "isolated",
  "launch",
  "worker",
  "warm-aws-model",
  "platform",
  "warm",
  "handlers",
  "synth",
  "console",
] as const;

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const selected = wanted.length > 0 ? BENCHMARKS.filter((b) => wanted.includes(b)) : BENCHMARKS;
  console.log(`dagy bench — node ${process.version}, ${process.platform}/${process.arch}`);
  for (const name of selected) {
    console.log(`\n=== ${name} ===`);
    const started = Date.now();
    const mod = (await import(`./${name}`)) as { main: () => Promise<void> };
    await mod.main();
    console.log(`(${name}: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
