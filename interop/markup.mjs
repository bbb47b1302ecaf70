// Opens headquarters' pages that show a product named with markup, in headless Chromium as
// an organizer, and reports whether the name shows as text and whether any of it ran.
//
//   node markup.mjs BASE_URL PASSWORD UNIT_CODE
import { launch, logIn } from "./browser.mjs";

const [base, password, unit] = process.argv.slice(2);
if (!base || !password || !unit) {
  console.error("usage: node markup.mjs BASE_URL PASSWORD UNIT_CODE");
  process.exit(2);
}
const browser = await launch();
const out = { dialogs: [], requests: [], pages: {} };
try {
  const page = await (await browser.newContext()).newPage();
  page.on("dialog", async (d) => {
    out.dialogs.push(d.message());
    await d.dismiss();
  });
  page.on("request", (r) => out.requests.push(new URL(r.url()).pathname));
  await logIn(page, base, password);
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
