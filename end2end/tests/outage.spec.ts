import { expect, test } from "@playwright/test";
import { openHydrated, TestApp, TestRedis } from "./support";

let redis: TestRedis;
let app: TestApp;

test.beforeAll(async () => {
  redis = await TestRedis.start();
  app = await TestApp.start(redis);
});

test.afterAll(async () => {
  await app?.stop();
  await redis?.dispose();
});

test("Redis going away shows a banner; coming back removes it and nothing is lost", async ({ page }) => {
  await openHydrated(page, app.url);
  for (const expected of ["1", "2", "3"]) {
    await page.getByTestId("increment").click();
    await expect(page.getByTestId("counter")).toHaveText(expected);
  }

  await redis.stop();
  await page.getByTestId("increment").click();
  await expect(page.getByTestId("store-banner")).toContainText("Session store unavailable");
  await expect(page.getByRole("alert").filter({ hasText: "Nothing was changed" })).toBeVisible();

  await redis.resume();
  await expect(page.getByTestId("store-banner")).toHaveCount(0, { timeout: 10_000 });
  await expect(page.getByTestId("counter")).toHaveText("3");
});
