import { expect, test } from "@playwright/test";
import { openHydrated, useRedisAndApp } from "./support";

const env = useRedisAndApp();

test("the counter counts without a reload, and survives a server restart", async ({ page }) => {
  await openHydrated(page, env.app.url);
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false");

  await page.getByTestId("increment").click();
  await expect(page.getByTestId("counter")).toHaveText("1");
  await page.getByTestId("increment").click();
  await expect(page.getByTestId("counter")).toHaveText("2");
  const fingerprint = await page.getByTestId("fingerprint").textContent();

  await env.app.stop();
  await env.app.resume();
  await page.reload();
  await expect(page.getByTestId("counter")).toHaveText("2");
  await expect(page.getByTestId("fingerprint")).toHaveText(fingerprint ?? "missing");
});

test("a note is saved, and a too long one is refused with a message", async ({ page }) => {
  await openHydrated(page, env.app.url);
  await page.locator("#note").fill("remember the milk");
  await page.getByTestId("save-note").click();
  await expect(page.getByTestId("note")).toHaveText("remember the milk");

  await page.locator("#note").fill("x".repeat(250));
  await page.getByTestId("save-note").click();
  await expect(page.getByTestId("note-error")).toContainText("at most 200");
  await expect(page.getByTestId("note")).toHaveText("remember the milk");
});

test("forget this session ends it", async ({ page }) => {
  await openHydrated(page, env.app.url);
  await page.getByTestId("increment").click();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "true");
  await page.getByTestId("forget").click();
  await expect(page.getByTestId("session-panel")).toHaveAttribute("data-active", "false");
});

test("an unknown path gets the not-found page, and it hydrates cleanly", async ({ page }) => {
  // The browser picks the page from the path by itself (without the server's router): a
  // mismatch with what the server rendered would show as a page error during hydration.
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => {
    // The browser reports the page's own 404 status as a console error; that one is expected.
    if (msg.type() === "error" && !msg.text().includes("404")) errors.push(msg.text());
  });
  const response = await page.goto(`${env.app.url}/no/such/page`);
  expect(response?.status()).toBe(404);
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1, { timeout: 30_000 });
  await expect(page.locator("main .not-found")).toHaveText("Page not found.");
  await expect(page.getByTestId("session-panel")).toHaveCount(0);

  await openHydrated(page, env.app.url);
  await page.getByTestId("increment").click();
  await expect(page.getByTestId("counter")).toHaveText("1");
  expect(errors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("forms post and redirect back", async ({ page }) => {
    await page.goto(env.app.url);
    await page.getByTestId("increment").click();
    // The server answers the plain form post with a redirect back to the page.
    await expect(page).toHaveURL(new RegExp(`^${env.app.url}/\\??$`));
    await expect(page.getByTestId("counter")).toHaveText("1");
    await page.getByTestId("increment").click();
    await expect(page.getByTestId("counter")).toHaveText("2");
    await page.locator("#note").fill("no js needed");
    await page.getByTestId("save-note").click();
    await expect(page.getByTestId("note")).toHaveText("no js needed");
  });
});
