import AxeBuilder from "@axe-core/playwright";
import { Browser, expect, Page, test } from "@playwright/test";
import { openHydrated, signIn, TestApp, useRedisAndApp } from "./support";

// An automated WCAG scan of every state the page can be in, hydrated and as served without
// JavaScript, and the whole demo driven by the keyboard alone.
const env = useRedisAndApp();

/** Serious and critical axe violations on the page as it is now, summarised for the message. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21aa"]).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

/**
 * Every console error and page error of `page` from now on (a blocked inline style or script is
 * one: Chromium reports Content-Security-Policy violations as console errors).
 */
function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/** Chromium logs every fetch a server answered with an error status; during an outage that is
 * the page's retry of the session read (503), which is the page working as meant. */
const outageRetry = /Failed to load resource: the server responded with a status of 503/;

/** The page as served has its scripts and wasm blocked on purpose (see `openAsServed`). */
const blockedOnPurpose = /Failed to load resource: net::ERR_FAILED|Failed to fetch dynamically imported module/;

/**
 * The page exactly as the server sends it, before any script runs: scripts and wasm are not
 * loaded (the stylesheet is), so axe (which needs script in the page) sees the no-JS page.
 */
async function openAsServed(browser: Browser, url: string, cookie?: string) {
  const context = await browser.newContext();
  if (cookie) await context.addCookies([{ name: "sessionboard", value: cookie, url }]);
  await context.route(/\.(js|wasm)(\?.*)?$/, (route) => route.abort());
  const page = await context.newPage();
  const errors = consoleErrors(page);
  await page.goto(url);
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(0);
  return { page, errors: () => errors.filter((e) => !blockedOnPurpose.test(e)), close: () => context.close() };
}

async function sessionCookie(page: Page): Promise<string | undefined> {
  return (await page.context().cookies()).find((c) => c.name === "sessionboard")?.value;
}

async function expectCleanHydratedAndServed(page: Page, browser: Browser, state: string, errors: string[]) {
  expect(await violations(page), `${state}, hydrated`).toEqual([]);
  expect(errors, `${state}, hydrated: console errors`).toEqual([]);
  const served = await openAsServed(browser, page.url(), await sessionCookie(page));
  try {
    expect(await violations(served.page), `${state}, without JavaScript`).toEqual([]);
    expect(served.errors(), `${state}, without JavaScript: console errors`).toEqual([]);
  } finally {
    await served.close();
  }
}

test("every state of the page passes axe and logs no console error, hydrated and without JavaScript", async ({ page, browser }) => {
  const errors = consoleErrors(page);
  await openHydrated(page, env.app.url);
  await expectCleanHydratedAndServed(page, browser, "anonymous", errors);

  await page.getByRole("link", { name: "How it works" }).click();
  await expect(page.getByTestId("about")).toBeVisible();
  await expect(page).toHaveTitle("How it works — sessionboard");
  await expectCleanHydratedAndServed(page, browser, "the about page", errors);
  await page.getByRole("link", { name: "Your session" }).click();
  await expect(page.getByTestId("page")).toBeVisible();
  await expect(page).toHaveTitle("sessionboard");

  await page.getByTestId("increment").click();
  await expect(page.getByTestId("counter")).toHaveText("1");
  await expectCleanHydratedAndServed(page, browser, "active session", errors);

  await page.request.post(`${env.app.url}/api/register`, {
    form: { username: "ally", password: "accessible pw" },
    headers: { referer: `${env.app.url}/` },
  });
  await signIn(page, "ally", "accessible pw");
  await expect(page.getByTestId("session-list")).toBeVisible();
  await expectCleanHydratedAndServed(page, browser, "signed in with the sessions list", errors);

  await page.getByTestId("theme").selectOption("dark");
  await page.getByTestId("save-theme").click();
  await expect(page.getByTestId("page")).toHaveAttribute("data-theme", "dark");
  await expectCleanHydratedAndServed(page, browser, "signed in, dark theme", errors);

  await env.redis.stop();
  await page.reload();
  await expect(page.getByTestId("store-banner")).toBeVisible();
  expect(await violations(page), "outage, hydrated").toEqual([]);
  expect(errors.filter((e) => !outageRetry.test(e)), "outage, hydrated: console errors").toEqual([]);
  const served = await openAsServed(browser, env.app.url);
  expect(await violations(served.page), "outage, without JavaScript").toEqual([]);
  expect(served.errors().filter((e) => !outageRetry.test(e)), "outage, without JavaScript: console errors").toEqual([]);
  await served.close();
  await env.redis.resume();
  await expect(page.getByTestId("store-banner")).toHaveCount(0, { timeout: 15_000 });
});

test("an expired session's page passes axe", async ({ page, browser }) => {
  const shortLived = await TestApp.start(env.redis, { SESSION_TTL_SECONDS: "2" });
  try {
    const errors = consoleErrors(page);
    await openHydrated(page, shortLived.url);
    await page.getByTestId("increment").click();
    await expect(page.getByTestId("expired-notice").or(page.getByTestId("ended-notice"))).toBeVisible({ timeout: 15_000 });
    await expect(page.getByTestId("announcer")).toContainText("expired");
    await expectCleanHydratedAndServed(page, browser, "expired", errors);
  } finally {
    await shortLived.stop();
  }
});

/** Presses Tab until the element is focused (at most 60 times), and checks focus is visible. */
async function tabTo(page: Page, selector: string) {
  const target = page.locator(selector);
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((el) => el === document.activeElement)) {
      const outline = await target.evaluate((el) => getComputedStyle(el).outlineStyle);
      expect(outline, `focus on ${selector} is visible`).not.toBe("none");
      return;
    }
  }
  throw new Error(`${selector} never got the keyboard focus`);
}

test("the whole demo works with the keyboard alone", async ({ page, browser }) => {
  await openHydrated(page, env.app.url);

  await tabTo(page, "[data-testid=increment]");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("counter")).toHaveText("1");
  await expect(page.getByTestId("announcer")).toHaveText("Counter: 1");

  await tabTo(page, "#note");
  await page.keyboard.type("typed, not clicked");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("note")).toHaveText("typed, not clicked");

  await tabTo(page, "summary");
  await page.keyboard.press("Enter");
  await tabTo(page, "[data-testid=register-form] input[name=username]");
  await page.keyboard.type("keys");
  await page.keyboard.press("Tab");
  await page.keyboard.type("keyboard only");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("registered")).toBeVisible();

  await tabTo(page, "[data-testid=login-form] input[name=username]");
  await page.keyboard.type("keys");
  await page.keyboard.press("Tab");
  await page.keyboard.type("keyboard only");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("user")).toHaveText("keys");

  // A second device, so that there is a session to revoke.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await openHydrated(otherPage, env.app.url);
  await signIn(otherPage, "keys", "keyboard only");
  await expect(otherPage.getByTestId("user")).toHaveText("keys");
  await page.reload();
  await expect(page.getByTestId("session-item")).toHaveCount(2);
  await tabTo(page, "[data-testid=revoke]");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("session-item")).toHaveCount(1);
  await other.close();

  await tabTo(page, "[data-testid=logout]");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("login-form")).toBeVisible();
});
