import { expect, test } from "@playwright/test";
import { openHydrated, TestApp, TestRedis } from "./support";

let redis: TestRedis;
let app: TestApp;

test.beforeAll(async () => {
  redis = await TestRedis.start();
  app = await TestApp.start(redis, { SESSION_TTL_SECONDS: "5", SESSION_ABSOLUTE_TIMEOUT_SECONDS: "60" });
});

test.afterAll(async () => {
  await app?.stop();
  await redis?.dispose();
});

test("the countdown reaches zero and the page shows the session expired, without a reload", async ({ page }) => {
  await openHydrated(page, app.url);
  await page.getByTestId("increment").click();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "true");
  const first = await page.getByTestId("idle-countdown").textContent();
  await expect(page.getByTestId("idle-countdown")).not.toHaveText(first ?? "", { timeout: 3_000 });

  // Staying signed in pushes the idle deadline back.
  await page.waitForTimeout(2_000);
  await page.getByTestId("stay").click();
  await expect(page.getByTestId("idle-countdown")).toHaveText(/^[45]s$/);

  await expect(page.locator("[data-testid=expired-notice], [data-testid=ended-notice]")).toBeVisible({ timeout: 10_000 });
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false", { timeout: 5_000 });

  // The old cookie does not bring the session back.
  await page.reload();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false");
});
