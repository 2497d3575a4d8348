// The Node stack sessionboard replaces, set up as connect-redis documents it: express-session
// with a RedisStore on a node-redis client. Same two routes as the plain Rust baseline:
// POST /increment (read-modify-write of a counter in the session), GET /read.
// Listens on 127.0.0.1:$PORT, talks to Redis at 127.0.0.1:$REDIS_PORT. For scripts/bench only.
import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import { createClient } from "redis";

const client = createClient({ url: `redis://127.0.0.1:${process.env.REDIS_PORT}` });
await client.connect();

const app = express();
app.use(
  session({
    store: new RedisStore({ client, prefix: "node-bench:" }),
    secret: "benchmark-secret-0123456789abcdef",
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: "lax", secure: false, maxAge: 7 * 24 * 3600 * 1000 },
  }),
);
app.post("/increment", (req, res) => {
  req.session.counter = (req.session.counter ?? 0) + 1;
  res.json(req.session.counter);
});
app.get("/read", (req, res) => {
  res.json({ counter: req.session.counter ?? 0 });
});
app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("ready"));
