import { expect, test } from "@playwright/test";
import { openHydrated, useRedisAndApp } from "./support";

// The theme is stored with the plain tower-sessions `Session::insert`, not the typed AppSession.
const env = useRedisAndApp();

test("a theme preference is kept in the session and applied to the page", async ({ page }) => {
  await openHydrated(page, env.app.url);
  await expect(page.getByTestId("page")).toHaveAttribute("data-theme", "default");
  await page.getByTestId("theme").selectOption("dark");
  await page.getByTestId("save-theme").click();
  await expect(page.getByTestId("page")).toHaveAttribute("data-theme", "dark");
  await page.reload();
  await expect(page.getByTestId("page")).toHaveAttribute("data-theme", "dark");
  await expect(page.getByTestId("theme")).toHaveValue("dark");

  await page.getByTestId("theme").selectOption("default");
  await page.getByTestId("save-theme").click();
  await expect(page.getByTestId("page")).toHaveAttribute("data-theme", "default");
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the theme form posts and the page comes back themed", async ({ page }) => {
    await page.goto(env.app.url);
    await page.getByTestId("theme").selectOption("light");
    await page.getByTestId("save-theme").click();
    await expect(page).toHaveURL(new RegExp(`^${env.app.url}/\\??$`));
    await expect(page.getByTestId("page")).toHaveAttribute("data-theme", "light");
  });
});
