// What every browser walk shares: Debian's headless Chromium (playwright gives it a fresh
// profile of its own and removes it afterwards), and an organizer's login.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

// Logs in through the login form; returns the response the form's post led to.
export async function logIn(page, base, password) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=password]", password);
  const [landing] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  return landing;
}
