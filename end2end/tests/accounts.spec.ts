import { expect, test } from "@playwright/test";
import { openHydrated, signIn, TestApp, TestRedis } from "./support";

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

test("register, sign in, stay signed in across a restart, sign out", async ({ page }) => {
  await openHydrated(page, app.url);
  await page.getByText("New here? Create an account").click();
  const form = page.getByTestId("register-form");
  await form.locator("input[name=username]").fill("playwright");
  await form.locator("input[name=password]").fill("a long password");
  await page.getByTestId("register").click();
  await expect(page.getByTestId("registered")).toContainText("playwright");

  await signIn(page, "playwright", "a long password");
  await expect(page.getByTestId("user")).toHaveText("playwright");

  await page.reload();
  await expect(page.getByTestId("user")).toHaveText("playwright");
  await app.stop();
  await app.resume();
  await openHydrated(page, app.url);
  await expect(page.getByTestId("user")).toHaveText("playwright");
  expect(redis.sessionKeys()).toHaveLength(1);

  await page.getByTestId("logout").click();
  await expect(page.getByTestId("login-form")).toBeVisible();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false");
  expect(redis.sessionKeys()).toHaveLength(0);
});

test("a wrong password shows an error", async ({ page }) => {
  await openHydrated(page, app.url);
  await signIn(page, "playwright", "not the password");
  await expect(page.getByTestId("login-error")).toHaveText("Wrong username or password.");
});
