// Builds the widget and kiosk bundles into dist/ (one .js and one .css each), served by bot.web.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { copyFileSync, readFileSync } from "node:fs";

const entries = {
  "govbot-widget": ["src/widget.js", "src/widget.css"],
  "govbot-kiosk": ["src/kiosk.js", "src/kiosk.css"],
  "demo-portal": ["src/portal.css"],
};
for (const [name, files] of Object.entries(entries)) {
  for (const file of files) {
    const ext = file.endsWith(".css") ? "css" : "js";
    await build({
      entryPoints: [file],
      outfile: `dist/${name}.${ext}`,
      bundle: true,
      minify: true,
      format: ext === "js" ? "iife" : undefined,
      target: ext === "js" ? ["es2020"] : ["chrome100", "firefox100", "safari15"],
      legalComments: "eof",
      logLevel: "warning",
    });
    const bytes = readFileSync(`dist/${name}.${ext}`);
    console.log(`dist/${name}.${ext}: ${(bytes.length / 1024).toFixed(1)} KB, gzip ${(gzipSync(bytes).length / 1024).toFixed(1)} KB`);
  }
}
// Served as /favicon.ico by bot.web (browsers ask for it on every page).
copyFileSync("src/favicon.ico", "dist/favicon.ico");
