// Walks the organizers' dashboard in headless Chromium (Debian's `chromium`) as an organizer
// would, and prints what the pages show as one JSON object, for the Rust test to compare with
// the JSON API.
//
//   node dashboard.mjs BASE_URL PASSWORD UNIT_CODE [SCREENSHOT_DIR]
//
// Figures are read from the `data-fen` / `data-points` attributes the pages carry beside the
// yuan they display, and checked against the displayed text.
import { launch, logIn } from "./browser.mjs";
import { join } from "node:path";

const [base, password, unit, shots] = process.argv.slice(2);
if (!base || !password || !unit) {
  console.error("usage: node dashboard.mjs BASE_URL PASSWORD UNIT_CODE [SCREENSHOT_DIR]");
  process.exit(2);
}

const browser = await launch();
const out = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const shot = async (name) => {
    if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };

  // An anonymous visit is refused.
  const anonymous = await page.goto(`${base}/`);
  out.anonymous_status = anonymous.status();
  out.anonymous_text = await page.locator("main").innerText();

  // A wrong password is refused too; the right one logs in and lands on the overview.
  await page.goto(`${base}/login`);
  await shot("dashboard-login");
  await page.fill("input[name=password]", "not-the-password");
  const wrong = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  out.wrong_password_status = wrong[0].status();
  const landing = await logIn(page, base, password);
  out.login_status = landing.status();
  out.after_login_url = page.url();

  // Overview: totals and each till's completeness.
  const net = page.locator("#net");
  out.overview = {
    title: await page.title(),
    net_fen: Number(await net.getAttribute("data-fen")),
    net_text: await net.innerText(),
    sales: Number(await page.locator("#sales").innerText()),
    tills: await page.$$eval("#tills tr[data-device]", (rows) =>
      rows.map((r) => ({
        device: r.dataset.device,
        held: Number(r.children[3].innerText),
        net_fen: Number(r.children[4].dataset.fen),
        complete: r.children[6].innerText.includes("✓"),
        missing: r.children[7].innerText,
      })),
    ),
  };
  await shot("dashboard-overview");

  // A unit's itemised list.
  await page.goto(`${base}/units/${unit}`);
  out.unit = {
    heading: await page.locator("h2").innerText(),
    total_fen: Number(await page.locator("#unit-total").getAttribute("data-fen")),
    total_text: await page.locator("#unit-total").innerText(),
    rows: await page.$$eval("#items tr", (rows) =>
      rows
        .filter((r) => r.querySelectorAll("td").length === 8)
        .map((r) => [...r.children].map((c) => c.dataset.fen ?? c.innerText)),
    ),
  };
  await shot("dashboard-unit");

  // The competition.
  await page.goto(`${base}/leaderboard`);
  const standings = (id) =>
    page.$$eval(`#${id} tr[data-key]`, (rows) =>
      rows.map((r) => ({
        key: r.dataset.key,
        net_fen: Number(r.querySelector("[data-fen]").dataset.fen),
        points: r.querySelector("[data-points]").dataset.points,
        points_text: r.querySelector("[data-points]").innerText,
      })),
    );
  out.leaderboard = { teams: await standings("teams"), sellers: await standings("sellers") };
  await shot("dashboard-leaderboard");

  // The remaining pages answer for an organizer (screenshots for the docs).
  out.pages = {};
  for (const path of ["/stalls", "/counties", "/units", "/anomalies"]) {
    const r = await page.goto(`${base}${path}`);
    out.pages[path] = r.status();
    await shot(`dashboard-${path.slice(1)}`);
  }

  // Logging out (the menu's button, a POST from this site) ends the session.
  await Promise.all([page.waitForNavigation(), page.click('nav form[action="/logout"] button')]);
  const after = await page.goto(`${base}/`);
  out.after_logout_status = after.status();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
