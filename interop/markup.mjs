// Opens headquarters' pages that show a product named with markup, in headless Chromium as
// an organizer, and reports whether the name shows as text and whether any of it ran.
//
//   node markup.mjs BASE_URL PASSWORD UNIT_CODE
import { chromium } from "playwright-core";

const [base, password, unit] = process.argv.slice(2);
if (!base || !password || !unit) {
  console.error("usage: node markup.mjs BASE_URL PASSWORD UNIT_CODE");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const out = { dialogs: [], requests: [], pages: {} };
try {
  const page = await (await browser.newContext()).newPage();
  page.on("dialog", async (d) => {
    out.dialogs.push(d.message());
    await d.dismiss();
  });
  page.on("request", (r) => out.requests.push(new URL(r.url()).pathname));
  await page.goto(`${base}/login`);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  for (const path of [`/units/${unit}`, "/anomalies", "/"]) {
    const r = await page.goto(`${base}${path}`);
    await page.waitForTimeout(200);
    out.pages[path] = {
      status: r.status(),
      title: await page.title(),
      text: await page.locator("body").innerText(),
      injected: await page.$$eval("main script, main img", (els) => els.length),
    };
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
