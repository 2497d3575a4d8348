import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// scripts/screenshots: pictures of the page's main states for README, from the running app.
export default defineConfig({ ...base, testDir: "./screenshots" });
