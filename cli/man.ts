/**
 * Man pages generated from the command tree (at build time, by scripts/build.ts): steward(1)
 * for the whole program, and one page per service — steward-realms(1), steward-dhcp(1),
 * steward-lockd(1) (which also covers `steward lock`).
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { VERSION } from "../lib/platform/version.ts";
import { EXIT } from "./errors.ts";
import { MULTICALL } from "./multicall.ts";
import { allNodes, type CommandNode, commandTree } from "./tree.ts";

/** The service pages: page name, title, and the top-level commands they cover. */
export const SERVICE_PAGES: ReadonlyArray<{ page: string; title: string; commands: string[] }> = [
  { page: "steward-realms", title: "run and control supervised realms", commands: ["realms"] },
  { page: "steward-dhcp", title: "administer the DHCP data store", commands: ["dhcp"] },
  { page: "steward-lockd", title: "the lock manager and its locks", commands: ["lockd", "lock"] },
];

/** Text escaped for roff: backslashes, dashes, non-ASCII characters, a leading dot or quote. */
export function roff(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-")
    .replace(
      /[^ -~\n\t]/gu,
      (c) => `\\[u${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, "0")}]`,
    )
    .split("\n")
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l)).join("\n");
}

function synopsis(n: CommandNode): string {
  const words = ["steward", ...n.path].map(roff).join(" ");
  return `\\fB${words}\\fR ${roff(n.usage)}`;
}

function options(n: CommandNode): string[] {
  if (n.options.length === 0) return [];
  return [
    ".RS",
    ...n.options.flatMap((o) => [
      ".TP",
      `.B ${roff(o.flags.join(", "))}${o.value ? ` ${roff(o.value)}` : ""}`,
      roff(o.description),
    ]),
    ".RE",
  ];
}

function commandSection(nodes: CommandNode[]): string[] {
  return nodes.flatMap((n) => [".TP", synopsis(n), roff(n.description), ...options(n)]);
}

function header(page: string, title: string): string[] {
  return [
    `.\\" Generated from the command tree by scripts/build.ts; do not edit.`,
    `.TH ${page.toUpperCase()} 1 "" "steward ${VERSION}" "User Commands"`,
    ".SH NAME",
    `${roff(page)} \\- ${roff(title)}`,
  ];
}

const EXIT_STATUS = [
  ".SH EXIT STATUS",
  `${EXIT.OK} on success, ${EXIT.FAILURE} on failure, ${EXIT.USAGE} on a usage error.`,
  "Upstream-compatible commands keep their upstream exit codes (see docs/cli.md).",
];

/** Every page: file name (e.g. "steward.1") and its roff text. */
export function manPages(program: Command): Array<{ file: string; text: string }> {
  const root = commandTree(program);
  const pages: Array<{ file: string; text: string }> = [];
  const tools = Object.entries(MULTICALL).map(([tool, sub]) =>
    `${tool} (steward ${sub.join(" ")})`
  );
  pages.push({
    file: "steward.1",
    text: [
      ...header("steward", "supervised realms, a DHCP data store and a lock manager"),
      ".SH SYNOPSIS",
      ".B steward",
      "[\\-h] [\\-V] \\fICOMMAND\\fR [\\fIARGS\\fR...]",
      ".SH DESCRIPTION",
      roff(root.description),
      ".PP",
      roff(
        `Invoked through a link named after an upstream tool, steward behaves as that tool: ${
          tools.join(", ")
        }. 'steward install-links DIR' makes the links.`,
      ),
      ".SH OPTIONS",
      ...options(root),
      ".SH COMMANDS",
      ...commandSection(root.commands),
      ...EXIT_STATUS,
      ".SH SEE ALSO",
      SERVICE_PAGES.map((p) => `.BR ${p.page} (1)`).join(",\n"),
      "",
    ].join("\n"),
  });
  for (const p of SERVICE_PAGES) {
    const tops = root.commands.filter((c) => p.commands.includes(c.name));
    pages.push({
      file: `${p.page}.1`,
      text: [
        ...header(p.page, p.title),
        ".SH SYNOPSIS",
        ...tops.flatMap((t) => [synopsis(t), ".br"]),
        ".SH DESCRIPTION",
        ...tops.flatMap((t) => [roff(t.description), ".PP"]),
        ".SH COMMANDS",
        ...commandSection(tops.flatMap(allNodes)),
        ...EXIT_STATUS,
        ".SH SEE ALSO",
        ".BR steward (1)",
        "",
      ].join("\n"),
    });
  }
  return pages;
}
