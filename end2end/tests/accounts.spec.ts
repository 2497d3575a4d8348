import { expect, test } from "@playwright/test";
import { openHydrated, signIn, useRedisAndApp } from "./support";

const env = useRedisAndApp();

test("register, sign in, stay signed in across a restart, sign out", async ({ page }) => {
  await openHydrated(page, env.app.url);
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
  await env.app.stop();
  await env.app.resume();
  await openHydrated(page, env.app.url);
  await expect(page.getByTestId("user")).toHaveText("playwright");
  expect(env.redis.sessionKeys()).toHaveLength(1);

  await page.getByTestId("logout").click();
  await expect(page.getByTestId("login-form")).toBeVisible();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false");
  expect(env.redis.sessionKeys()).toHaveLength(0);
});

test("a wrong password shows an error", async ({ page }) => {
  await openHydrated(page, env.app.url);
  await signIn(page, "playwright", "not the password");
  await expect(page.getByTestId("login-error")).toHaveText("Wrong username or password.");
});
