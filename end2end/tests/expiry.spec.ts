import { expect, test } from "@playwright/test";
import { openHydrated, useRedisAndApp } from "./support";

const env = useRedisAndApp({ SESSION_TTL_SECONDS: "5", SESSION_ABSOLUTE_TIMEOUT_SECONDS: "60" });

test("the countdown reaches zero and the page shows the session expired, without a reload", async ({ page }) => {
  await openHydrated(page, env.app.url);
  await page.getByTestId("increment").click();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "true");
  const first = await page.getByTestId("idle-countdown").textContent();
  await expect(page.getByTestId("idle-countdown")).not.toHaveText(first ?? "", { timeout: 3_000 });

  // The idle bar empties as time passes; staying signed in pushes the deadline back and refills it.
  await page.waitForTimeout(2_000);
  const drained = await page.getByTestId("idle-bar").getAttribute("aria-valuenow");
  expect(Number(drained)).toBeLessThanOrEqual(3);
  await page.getByTestId("stay").click();
  await expect(page.getByTestId("idle-countdown")).toHaveText(/^[45]s$/);
  await expect(page.getByTestId("idle-bar")).toHaveAttribute("aria-valuenow", /^[45]$/);

  await expect(page.locator("[data-testid=expired-notice], [data-testid=ended-notice]")).toBeVisible({ timeout: 10_000 });
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false", { timeout: 5_000 });

  // The old cookie does not bring the session back.
  await page.reload();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false");
});
