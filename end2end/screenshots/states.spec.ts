import { join, resolve } from "node:path";
import { expect, Page, test } from "@playwright/test";
import { openHydrated, signIn, TestApp, useRedisAndApp } from "../tests/support";

const out = resolve(__dirname, "..", "..", "docs", "screenshots");
const env = useRedisAndApp({ DEMO_USERS: "alice:correct horse" });

async function shoot(page: Page, name: string) {
  for (const width of [375, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    // Let the layout and the ticking bars settle at the new width.
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(out, `${name}-${width}.png`), fullPage: true });
  }
}

test("the main states of the page", async ({ page, browser }) => {
  await openHydrated(page, env.app.url);
  await shoot(page, "1-anonymous");

  for (const count of ["1", "2"]) {
    await page.getByTestId("increment").click();
    await expect(page.getByTestId("counter")).toHaveText(count);
  }
  await page.locator("#note").fill("hello from Redis");
  await page.getByTestId("save-note").click();
  await expect(page.getByTestId("note")).toHaveText("hello from Redis");
  await shoot(page, "2-active-session");

  const other = await browser.newContext({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0" });
  const otherPage = await other.newPage();
  await openHydrated(otherPage, env.app.url);
  await signIn(otherPage, "alice", "correct horse");
  await expect(otherPage.getByTestId("user")).toHaveText("alice");
  await signIn(page, "alice", "correct horse");
  await expect(page.getByTestId("session-item")).toHaveCount(2);
  await shoot(page, "3-signed-in");

  await page.getByTestId("theme").selectOption("dark");
  await page.getByTestId("save-theme").click();
  await expect(page.getByTestId("page")).toHaveAttribute("data-theme", "dark");
  await shoot(page, "4-dark-theme");
  await other.close();

  await env.redis.stop();
  await page.reload();
  await expect(page.getByTestId("store-banner")).toBeVisible();
  await shoot(page, "5-outage");
  await env.redis.resume();

  const shortLived = await TestApp.start(env.redis, { SESSION_TTL_SECONDS: "2" });
  const fresh = await browser.newPage();
  await openHydrated(fresh, shortLived.url);
  await fresh.getByTestId("increment").click();
  await expect(fresh.getByTestId("expired-notice").or(fresh.getByTestId("ended-notice"))).toBeVisible({ timeout: 15_000 });
  await shoot(fresh, "6-expired");
  await shortLived.stop();
});
