#!/usr/bin/env node
/**
 * The steward executable. No top-level await and no import.meta here: this file is the entry of
 * the single-binary bundle.
 * @module
 */
import { runtimeName } from "../lib/platform/runtime.ts";
import { expandMulticall, invokedName } from "./multicall.ts";
import { run } from "./program.ts";

// A reader that goes away (`steward … | head -1`) is not an error: drop the rest of the output
// and let the command finish with its own status, as a daemon logging to a closed pipe must too.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    stream.write = (() => true) as typeof stream.write;
  });
}

// Through a link named pntadm, realmctl, … steward runs as that tool.
const name = invokedName(process.argv0, process.argv[1], runtimeName() === "binary");
run(expandMulticall(process.argv, name)).then((code) => {
  process.exitCode = code;
  // Let output drain, but do not let a forgotten handle keep a finished command alive.
  setTimeout(() => process.exit(code), 200).unref();
}, (e) => {
  process.stderr.write(`steward: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(70);
});
