/**
 * The status page end to end in headless Chromium (Debian's `chromium`, driven by
 * playwright-core): the built binary runs the example realms with the display on; the page
 * opened with the URL of `steward realms display url` shows the realms, its Stop button stops
 * one, and the page shows it stopped without a reload. The screenshot goes to .tmp/, or to
 * docs/realms-status-page.png with STEWARD_DOCS_SCREENSHOT=1 (how the one in docs/ was made).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  BINARY,
  collect,
  exited,
  ROOT,
  runSteward,
  spawnSteward,
  tempDir,
  testPermissions,
  TMP_ROOT,
  type Via,
  waitFor,
} from "../../helpers.ts";
import { killLeftovers, send } from "../daemon-helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const IS_DENO = "Deno" in globalThis;

function skipReason(): string | undefined {
  if (IS_DENO) return "playwright-core drives Chromium from Node only; run under npm test";
  if (!fs.existsSync(CHROMIUM)) {
    return `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`;
  }
  return undefined;
}

const skip = skipReason();
if (skip) console.log(`# skipping the status page browser test: ${skip}`);

test("the status page shows the example realms and stops one live in Chromium", {
  skip: skip ?? false,
  timeout: 120_000,
}, async () => {
  const { chromium } = await import("playwright-core");
  using tmp = tempDir("rbrowser");
  const dir = path.join(tmp.path, "realms");
  fs.cpSync(path.join(ROOT, "examples", "realms"), dir, { recursive: true });
  const stateDir = path.join(tmp.path, "state");
  const via: Via = fs.existsSync(BINARY) ? "binary" : "source";
  const socket = path.join(stateDir, "dnssec-tools", "realmmgr.socket");
  const child = spawnSteward([
    "realms",
    "daemon",
    "--foreground",
    "--directory",
    dir,
    "--statedir",
    stateDir,
    "--display",
    "--display-port",
    "0",
    "example.realm",
  ], { via, permissions: testPermissions(tmp.path) });
  const output = collect(child);
  const profile = path.join(tmp.path, "chromium-profile");
  let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  try {
    const url = await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`daemon exited: ${output.stderr()}`);
        const r = await runSteward(["realms", "display", "url", "--statedir", stateDir], { via });
        return r.code === 0 ? r.stdout.trim() : undefined;
      },
      20_000,
      "the display URL",
    );
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1100, height: 640 },
      colorScheme: "light",
    });
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(url);
    const card = (name: string) => page.locator(`article[data-realm="${name}"]`);
    await card("beta").and(page.locator('[data-state="running"]')).waitFor({ timeout: 20_000 });
    await card("alpha").and(page.locator('[data-state="running"]')).waitFor({ timeout: 20_000 });
    assert.equal(await card("gamma").getAttribute("data-state"), "inactive");
    assert.ok(!page.url().includes("token"), "the token is taken out of the address bar");
    assert.equal(await page.locator("#conn").textContent(), "live");
    // A mark on the window survives only if the page is never reloaded.
    await page.evaluate(() => ((globalThis as unknown as { mark: number }).mark = 42));
    await card("beta").locator('button[data-action="stop"]').click();
    await card("beta").and(page.locator('[data-state="inactive"]')).waitFor({ timeout: 20_000 });
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { mark?: number }).mark),
      42,
      "the page was updated live, not reloaded",
    );
    assert.match(await page.locator("#message").textContent() ?? "", /realm "beta" stopped/);
    assert.match(await send(socket, "realmcmd_realmstatus"), /beta\tinactive/);
    // alpha has rollerd counts once the background refresh has run.
    await card("alpha").locator('dd[data-field="counts"]').filter({ hasText: "normal" })
      .waitFor({ timeout: 20_000 });
    await card("alpha").locator("summary").click();
    await card("alpha").locator("pre").filter({ hasText: "rollerd(alpha)" }).waitFor();
    // Without the token (a new tab, the URL without its fragment) the page is read-only.
    const ro = await context.newPage();
    await ro.goto(url.replace(/#.*$/, ""));
    const roAlpha = ro.locator('article[data-realm="alpha"]');
    await roAlpha.and(ro.locator('[data-state="running"]')).waitFor({ timeout: 20_000 });
    assert.equal(await ro.locator("#readonly").isVisible(), true, "the read-only notice");
    assert.equal(await roAlpha.locator('button[data-action="stop"]').isDisabled(), true);
    assert.equal(await roAlpha.locator("details").isVisible(), false, "no log without the token");
    await ro.close();
    const docs = process.env.STEWARD_DOCS_SCREENSHOT === "1";
    const shot = docs
      ? path.join(ROOT, "docs", "realms-status-page.png")
      : path.join(TMP_ROOT, "realms-status-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000, "a real screenshot");
    // On a phone the cards stack in one column without sideways scrolling; dark mode follows
    // the browser.
    await page.setViewportSize({ width: 390, height: 844 });
    // The page's own globals (document…) are not in this file's types: evaluate text.
    const overflow = Number(
      await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth",
      ),
    );
    assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow}px)`);
    const light = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    await page.emulateMedia({ colorScheme: "dark" });
    const dark = await page.evaluate("getComputedStyle(document.body).backgroundColor");
    assert.notEqual(light, dark, "dark theme when the browser prefers it");
  } finally {
    await context?.close();
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited(child, 15_000);
    await killLeftovers(dir);
  }
});
