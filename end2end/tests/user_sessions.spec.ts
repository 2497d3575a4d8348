import { expect, test } from "@playwright/test";
import { openHydrated, signIn, useRedisAndApp } from "./support";

const env = useRedisAndApp({ DEMO_USERS: "june:junes password" });

test("one device signs the other out", async ({ browser }) => {
  const first = await browser.newContext();
  const second = await browser.newContext();
  const one = await first.newPage();
  const two = await second.newPage();

  await openHydrated(two, env.app.url);
  await signIn(two, "june", "junes password");
  await expect(two.getByTestId("user")).toHaveText("june");

  await openHydrated(one, env.app.url);
  await signIn(one, "june", "junes password");
  await expect(one.getByTestId("session-item")).toHaveCount(2);
  await expect(one.locator("[data-testid=session-item][data-this-device=true]")).toHaveCount(1);

  await one.locator("[data-testid=session-item][data-this-device=false]").getByTestId("revoke").click();
  await expect(one.getByTestId("session-item")).toHaveCount(1);

  await two.reload();
  await expect(two.getByTestId("login-form")).toBeVisible();
  await expect(two.getByTestId("session-panel")).toHaveAttribute("data-active", "false");
  await first.close();
  await second.close();
});
