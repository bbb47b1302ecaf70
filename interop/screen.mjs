// Watches the fair's big screen in headless Chromium (Debian's `chromium`) as a TV at the
// venue would, for tests/screen.rs. Prints one JSON line per step on standard output and
// waits for a line on standard input before each change it is told to expect:
//
//   node screen.mjs SCREEN_URL [SCREENSHOT_DIR]
//   → {"step":"ready","net_fen":N,"sales":N}
//   ← "expect WITHIN_MS NET_FEN"   (the test has synced more sales, the net is now NET_FEN)
//   → {"step":"changed","net_fen":N,"sales":N,"after_ms":T} once the screen shows NET_FEN,
//     or when WITHIN_MS is over {"step":"unchanged",...} (nothing moved) or
//     {"step":"partial",...} (it moved, not all the way: a pass the sync took in pieces)
//   ← "done"
//   → {"step":"done","navigations":1,"foreign":[...],"requests":N,"charts":N}
//
// Every request the page makes is recorded; any to another origin is reported as foreign.
import { launch } from "./browser.mjs";
import { createInterface } from "node:readline";
import { join } from "node:path";

const [url, shots] = process.argv.slice(2);
if (!url) {
  console.error("usage: node screen.mjs SCREEN_URL [SCREENSHOT_DIR]");
  process.exit(2);
}
const origin = new URL(url).origin;
const say = (o) => console.log(JSON.stringify(o));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value ?? "done";

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const answer = await page.goto(url);
  if (answer.status() !== 200) throw new Error(`the screen answered ${answer.status()}`);
  // A mark on this document: a reload would drop it.
  await page.evaluate(() => (window.fairposFirstLoad = true));
  const figures = () =>
    page.evaluate(() => ({
      net_fen: Number(document.getElementById("net").dataset.fen),
      sales: Number(document.getElementById("sales").textContent),
      same_document: window.fairposFirstLoad === true,
    }));
  // The stream is open once the first event has arrived (it carries the same figures).
  await page.waitForFunction(() => !document.body.classList.contains("offline"));
  const start = await figures();
  say({ step: "ready", ...start });
  if (shots) await page.screenshot({ path: join(shots, "screen-1920x1080.png") });

  let last = start;
  for (let line = await next(); line.startsWith("expect"); line = await next()) {
    const [, ms, net] = line.split(" ");
    const within = Number(ms || 2000);
    const arrived = (now) => now.net_fen === Number(net);
    const t0 = Date.now();
    let now = await figures();
    while (!arrived(now) && Date.now() - t0 < within) {
      await page.waitForTimeout(25);
      now = await figures();
    }
    const step = arrived(now) ? "changed" : now.net_fen === last.net_fen ? "unchanged" : "partial";
    say({ step, ...now, after_ms: Date.now() - t0 });
    last = now;
  }
  // The count-up animation settles; then the picture at both sizes.
  await page.waitForTimeout(1200);
  if (shots) {
    await page.screenshot({ path: join(shots, "screen-1920x1080.png") });
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(shots, "screen-1280x720.png") });
  }
  const shown = await page.evaluate(() => document.getElementById("net").textContent);
  say({
    step: "done",
    net_text: shown,
    navigations: await page.evaluate(() => performance.getEntriesByType("navigation").length),
    same_document: (await figures()).same_document,
    foreign: requests.filter((r) => new URL(r).origin !== origin),
    requests: requests.length,
    charts: await page.evaluate(() => document.querySelectorAll(".chart-box svg").length),
  });
} finally {
  await browser.close();
}
