// Opens the statements page in headless Chromium (Debian's `chromium`) as an organizer would
// and prints what it shows as one JSON object, for the Rust test to compare with
// `fairpos hq statements match --json`.
//
//   node statements.mjs BASE_URL PASSWORD [SCREENSHOT_DIR]
import { launch, logIn } from "./browser.mjs";
import { join } from "node:path";

const [base, password, shots] = process.argv.slice(2);
if (!base || !password) {
  console.error("usage: node statements.mjs BASE_URL PASSWORD [SCREENSHOT_DIR]");
  process.exit(2);
}

const browser = await launch();
const out = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const foreign = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) foreign.push(r.url());
  });

  out.anonymous_status = (await page.goto(`${base}/statements`)).status();
  await logIn(page, base, password);

  const r = await page.goto(`${base}/statements`);
  out.status = r.status();
  out.title = await page.title();
  out.matched = Number(await page.locator("#matched").innerText());
  out.paper_only = Number(await page.locator("#paper-only").innerText());
  out.statement_only = Number(await page.locator("#statement-only").innerText());
  const rows = (id, key) =>
    page.$$eval(`#${id} tr[data-${key}]`, (trs, key) =>
      trs.map((tr) => ({
        key: tr.dataset[key],
        fen: Number(tr.querySelector("[data-fen]").dataset.fen),
        text: tr.innerText,
      })), key);
  out.paper_only_rows = await rows("paper-only-list", "sale");
  out.statement_only_rows = await rows("statement-only-list", "txn");
  out.matched_rows = await rows("matched-list", "sale");
  out.not_covered = await page.$$eval("#not-covered li", (lis) => lis.map((l) => l.innerText));
  out.files = await page.$$eval("#files tr", (trs) => trs.length - 1);
  if (shots) await page.screenshot({ path: join(shots, "dashboard-statements.png"), fullPage: true });

  const csv = await page.request.get(`${base}/statements/export?format=csv`);
  out.csv_status = csv.status();
  out.csv_type = csv.headers()["content-type"];
  out.csv_lines = (await csv.text()).trim().split("\n").length;
  out.foreign_requests = foreign;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
