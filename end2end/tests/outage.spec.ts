import { expect, test } from "@playwright/test";
import { openHydrated, useRedisAndApp } from "./support";

const env = useRedisAndApp();

test("Redis going away shows a banner; coming back removes it and nothing is lost", async ({ page }) => {
  await openHydrated(page, env.app.url);
  for (const expected of ["1", "2", "3"]) {
    await page.getByTestId("increment").click();
    await expect(page.getByTestId("counter")).toHaveText(expected);
  }

  await env.redis.stop();
  await page.getByTestId("increment").click();
  await expect(page.getByTestId("store-banner")).toContainText("Session store unavailable");
  await expect(page.getByRole("alert").filter({ hasText: "Nothing was changed" })).toBeVisible();

  await expect(page.getByTestId("last-try")).toContainText("UTC");
  await expect(page.getByTestId("counter-error")).toContainText("Nothing was changed");

  await env.redis.resume();
  // The page re-checks every 2 s: the banner and the click's outage message both go within 3 s.
  await expect(page.getByTestId("store-banner")).toHaveCount(0, { timeout: 3_500 });
  await expect(page.getByTestId("counter-error")).toHaveCount(0);
  await expect(page.getByTestId("counter")).toHaveText("3");
});
