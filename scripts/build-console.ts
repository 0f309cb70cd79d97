/**
 * `npm run build:console`: writes the console's bundle to `dist/console/` and prints its sizes.
 * Nothing needs this file to run the console (the server builds it in memory on first use); it
 * is for inspecting the bundle and for serving it from elsewhere.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { buildConsoleBundle } from "../lib/console/build";
import { indexHtml } from "../lib/console/server";

async function main(): Promise<void> {
  const outDir = resolve(process.argv[2] ?? join("dist", "console"));
  const bundle = await buildConsoleBundle();
  await mkdir(join(outDir, "assets"), { recursive: true });
  for (const [name, asset] of bundle.assets) {
    await writeFile(join(outDir, "assets", name), asset.body);
    console.log(
      `${name}: ${(asset.body.length / 1024).toFixed(1)} KB, ${(asset.gzip.length / 1024).toFixed(1)} KB gzipped`,
    );
  }
  await writeFile(join(outDir, "index.html"), indexHtml(bundle, undefined));
  console.log(`console ${bundle.version} written to ${outDir}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
