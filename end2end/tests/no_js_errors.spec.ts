import { expect, test } from "@playwright/test";
import { useRedisAndApp } from "./support";

// Without JavaScript a refused form post is redirected back to its page, which shows the message
// where the hydrated page would — never the error's JSON.
const env = useRedisAndApp({
  DEMO_USERS: "nojs:the right password",
  LOGIN_MAX_FAILURES_PER_USER: "2",
});

test.use({ javaScriptEnabled: false });

test("a refused note comes back as the page with its message", async ({ page }) => {
  await page.goto(env.app.url);
  await page.locator("#note").fill("x".repeat(250));
  const answer = page.waitForResponse((res) => res.url().endsWith("/api/note"));
  await page.getByTestId("save-note").click();
  expect((await answer).status()).toBe(303);
  await expect(page.getByTestId("note-error")).toContainText("at most 200");
  await expect(page.locator("body")).not.toContainText('"code"');
});

test("a wrong password comes back as the page with its message", async ({ page }) => {
  await page.goto(env.app.url);
  const form = page.getByTestId("login-form");
  await form.locator("input[name=username]").fill("nojs");
  await form.locator("input[name=password]").fill("a wrong password");
  await page.getByTestId("login").click();
  await expect(page.getByTestId("login-error")).toHaveText("Wrong username or password.");
});

test("a limit comes back as the page with its message", async ({ page }) => {
  await page.goto(env.app.url);
  const form = page.getByTestId("login-form");
  for (let attempt = 0; attempt < 3; attempt++) {
    await form.locator("input[name=username]").fill("nojs");
    await form.locator("input[name=password]").fill("another wrong password");
    await page.getByTestId("login").click();
    await expect(page.getByTestId("login-error")).toBeVisible();
  }
  await expect(page.getByTestId("login-error")).toContainText("Try again in");
  await expect(page.locator("body")).not.toContainText('"code"');
});
