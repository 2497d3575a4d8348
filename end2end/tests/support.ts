// Processes the end-to-end tests own: a redis-server and the sessionboard binary, each on a free
// loopback port, started and stopped by pid. Never the machine's Redis on 6379.
// Not crates/test-redis, the Rust tests' launcher: Playwright cannot call a Rust library, and a
// binary of it would need a control channel (stop, resume) longer than `TestRedis` below, which
// starts one server the same way (loopback, AOF fsynced always, polled until it answers PING).
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect, Page, test } from "@playwright/test";

const repoRoot = resolve(__dirname, "..", "..");
const appBinary = process.env.SESSIONBOARD_BIN ?? join(repoRoot, "target", "debug", "sessionboard");
const siteRoot = process.env.SESSIONBOARD_SITE_ROOT ?? join(repoRoot, "target", "site");
const secret = "end-to-end-tests-secret-0123456789abcdef";

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

function sleep(ms: number) {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** Resolves true when a RESP PING on the port answers PONG. */
function redisAnswers(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = new Socket();
    const done = (answer: boolean) => {
      socket.destroy();
      ok(answer);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")));
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once("exit", ok));
  child.kill(signal);
  await Promise.race([exited, sleep(5_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

export class TestRedis {
  child?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), "sessionboard-e2e-redis-"));
  constructor(readonly port: number) {}

  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort());
    await redis.resume();
    return redis;
  }

  async resume() {
    this.child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--save", "",
       "--appendonly", "yes", "--appendfsync", "always"],
      { stdio: "ignore" },
    );
    await waitFor(`redis-server on ${this.port}`, () => redisAnswers(this.port));
  }

  /** Session keys currently in this Redis. */
  sessionKeys(): string[] {
    const out = execFileSync("redis-cli", ["-h", "127.0.0.1", "-p", String(this.port), "--scan", "--pattern", "sessionboard:session:*"]);
    return out.toString().split("\n").filter((line) => line.length > 0);
  }

  /** An outage: SIGKILL, no clean shutdown. The AOF keeps what was written. */
  async stop() {
    await stopProcess(this.child, "SIGKILL");
    this.child = undefined;
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class TestApp {
  child?: ChildProcess;
  output = "";
  constructor(readonly port: number, readonly redis: TestRedis, readonly env: Record<string, string>) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(redis: TestRedis, env: Record<string, string> = {}): Promise<TestApp> {
    const app = new TestApp(await freePort(), redis, env);
    await app.resume();
    return app;
  }

  async resume() {
    this.child = spawn(appBinary, [], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        LEPTOS_ENV: "DEV",
        LEPTOS_OUTPUT_NAME: "sessionboard",
        LEPTOS_SITE_ROOT: siteRoot,
        LEPTOS_SITE_PKG_DIR: "pkg",
        LEPTOS_SITE_ADDR: `127.0.0.1:${this.port}`,
        REDIS_HOST: "127.0.0.1",
        REDIS_PORT: String(this.redis.port),
        REDIS_COMMAND_TIMEOUT_MS: "1000",
        SESSION_SECRET: secret,
        RUST_LOG: "warn",
        ...this.env,
      },
    });
    this.child.stdout?.on("data", (d) => (this.output += d));
    this.child.stderr?.on("data", (d) => (this.output += d));
    await waitFor(`sessionboard on ${this.port}`, async () => {
      if (this.child?.exitCode !== null) throw new Error(`sessionboard exited: ${this.output}`);
      try {
        return (await fetch(`${this.url}/healthz`)).ok;
      } catch {
        return false;
      }
    });
  }

  /** SIGTERM: the graceful shutdown a deploy does. */
  async stop() {
    await stopProcess(this.child, "SIGTERM");
    this.child = undefined;
  }
}

/** Opens the page and waits until the wasm app has hydrated (the body carries the marker). */
export async function openHydrated(page: Page, url: string) {
  await page.goto(url);
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1, { timeout: 30_000 });
}

/** Signs in through the form on the page. */
export async function signIn(page: Page, username: string, password: string) {
  const form = page.getByTestId("login-form");
  await form.locator("input[name=username]").fill(username);
  await form.locator("input[name=password]").fill(password);
  await page.getByTestId("login").click();
}

/**
 * A redis-server and an app of this test file's own, started before its tests and stopped after.
 * The getters are valid inside tests.
 */
export function useRedisAndApp(env: Record<string, string> = {}) {
  let redis: TestRedis | undefined;
  let app: TestApp | undefined;
  test.beforeAll(async () => {
    redis = await TestRedis.start();
    app = await TestApp.start(redis, env);
  });
  test.afterAll(async () => {
    await app?.stop();
    await redis?.dispose();
  });
  return {
    get redis(): TestRedis {
      if (!redis) throw new Error("redis is not started yet");
      return redis;
    },
    get app(): TestApp {
      if (!app) throw new Error("the app is not started yet");
      return app;
    },
  };
}
