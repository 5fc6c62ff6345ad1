// An in-memory SCIM 2.0 service provider for idstream's connector tests, built on the
// third-party packages scimmy (resource handling, filters, PATCH) and scimmy-routers (the
// express 4 HTTP endpoints). It is a test target, not part of idstream.
//
// Usage: node server.js [--token TOKEN] [--basic user:pass] [--no-patch] [--port N] [--state FILE]
//   --token     the accepted bearer token (default: env SCIM_TOKEN)
//   --basic     accept HTTP basic authentication with these credentials instead of a token
//   --no-patch  declare PATCH unsupported in /ServiceProviderConfig and refuse it (501)
//   --port      the port to listen on (default 0: any free port)
//   --state     keep the users and groups across restarts: read from FILE at start (when it
//               exists), written to FILE when the process exits on stdin's end, SIGTERM or SIGINT
//               (an outage test stops the server and starts it again with its data)
// The SCIM root is http://127.0.0.1:PORT/scim/v2. The first line on stdout is
// "listening 127.0.0.1:PORT". The process exits when stdin closes (its parent is gone).
//
// Resources live in memory. userName is unique (case-insensitively, 409 uniqueness) and
// indexed, so `userName eq "…"` lookups stay fast in large stores; every other filter goes
// through scimmy's filter matching, made case-insensitive except for id and externalId (RFC
// 7643 caseExact). List answers are paged here before scimmy formats them (scimmy's own paging
// formats every match first). Known limitation of scimmy's filter parser: a quoted value
// cannot contain an escaped quote (\").
//
// Test scaffolding, outside the SCIM root and unauthenticated (loopback only):
//   POST /_test/fault {"status": 429, "count": 2, "retryAfter": "3"}: the next count SCIM
//        requests answer status (with Retry-After when given) instead of being served.
//   GET  /_test/count: {"writes": N}, the number of successful writes (POST, PUT, PATCH, DELETE).
//   POST /_test/reset: forget every resource, fault and count.
import crypto from "node:crypto";
import fs from "node:fs";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

function parseArgs(argv) {
  const opts = {token: process.env.SCIM_TOKEN ?? "", basic: "", patch: true, port: 0, state: ""};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`flag ${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--token": opts.token = next(); break;
      case "--basic": opts.basic = next(); break;
      case "--no-patch": opts.patch = false; break;
      case "--port": opts.port = Number.parseInt(next(), 10); break;
      case "--state": opts.state = next(); break;
      default: throw new Error(`unknown flag ${a}`);
    }
  }
  if (!opts.basic && !opts.token) throw new Error("need --token, SCIM_TOKEN or --basic");
  if (opts.basic && !opts.basic.includes(":")) throw new Error("--basic wants user:pass");
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error("bad --port");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// State: resources by ID, faults, write count.
const users = new Map();
const groups = new Map();
const userNames = new Map(); // lowercased userName -> user ID (uniqueness, fast lookup)
let fault = {status: 0, count: 0, retryAfter: ""};
let writes = 0;

// The state file (--state): loaded once here, saved at exit.
if (opts.state && fs.existsSync(opts.state)) {
  const saved = JSON.parse(fs.readFileSync(opts.state, "utf8"));
  for (const u of saved.users ?? []) {
    users.set(u.id, u);
    userNames.set(String(u.userName ?? "").toLowerCase(), u.id);
  }
  for (const g of saved.groups ?? []) groups.set(g.id, g);
}

function saveState() {
  if (!opts.state) return;
  // Written whole then renamed, so a crash while saving leaves the previous state.
  const tmp = opts.state + ".tmp";
  fs.writeFileSync(tmp, JSON.stringify({users: [...users.values()], groups: [...groups.values()]}));
  fs.renameSync(tmp, opts.state);
}

// Attributes compared case-exactly (RFC 7643: id and externalId are caseExact; meta is left alone).
const exactKeys = new Set(["id", "externalid", "meta", "$ref"]);

// fold returns a copy of v with every string lowercased except under case-exact keys, so that
// scimmy's (case-sensitive) filter matching compares caseExact=false attributes such as userName
// and emails.value case-insensitively, as RFC 7643 requires.
function fold(v) {
  if (typeof v === "string") return v.toLowerCase();
  if (Array.isArray(v)) return v.map(fold);
  if (v && typeof v === "object" && !(v instanceof Date)) {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = exactKeys.has(k.toLowerCase()) ? x : fold(x);
    return out;
  }
  return v;
}

// indexed returns the resources a filter of the single term `<key> eq "value"` selects through
// the index of key (userName), or undefined when the filter is of another form. It keeps large
// stores fast for the lookups a provisioning client makes (find by userName before create).
function indexed(resource, key, index, store) {
  const f = resource.filter;
  if (!f || f.length !== 1) return undefined;
  const entries = Object.entries(f[0]);
  if (entries.length !== 1) return undefined;
  const [attr, expr] = entries[0];
  if (attr.toLowerCase() !== key.toLowerCase() || !Array.isArray(expr) || expr.length !== 2) return undefined;
  if (String(expr[0]).toLowerCase() !== "eq" || typeof expr[1] !== "string") return undefined;
  const id = index.get(expr[1].toLowerCase());
  return id === undefined ? [] : [store.get(id)];
}

// matching returns the stored resources that match resource's filter (all when it has none).
function matching(store, resource, unique, index) {
  if (unique) {
    const hit = indexed(resource, unique, index, store);
    if (hit) return hit;
  }
  const all = [...store.values()];
  if (!resource.filter) return all;
  const folded = all.map(fold);
  const byFolded = new Map(folded.map((f, i) => [f, all[i]]));
  const filter = new SCIMMY.Types.Filter(fold([...resource.filter]));
  return filter.match(folded).map((f) => byFolded.get(f));
}

function plain(instance) {
  return JSON.parse(JSON.stringify(instance));
}

function egressFrom(store, kind, unique, index) {
  return (resource) => {
    if (resource.id) {
      const found = store.get(resource.id);
      if (!found) throw new SCIMMY.Types.Error(404, null, `${kind} ${resource.id} not found`);
      return found;
    }
    const all = matching(store, resource, unique, index);
    // Answer only the requested page: scimmy-routers would otherwise coerce every matching
    // resource for each page. scimmy's ListResponse slices again by startIndex, so it is told
    // the page starts at 1 and the real startIndex is put back into the answer (see below).
    const c = resource.constraints;
    if (c && Number.isInteger(c.count) && c.sortBy === undefined) {
      const start = c.startIndex ?? 1;
      resource.constraints = {...c, startIndex: 1, totalResults: all.length};
      return all.slice(start - 1, start - 1 + c.count);
    }
    return all;
  };
}

function ingressFrom(store, kind, unique, index) {
  return (resource, instance) => {
    const data = plain(instance);
    const now = new Date().toISOString();
    let prev;
    if (resource.id) {
      prev = store.get(resource.id);
      if (!prev) throw new SCIMMY.Types.Error(404, null, `${kind} ${resource.id} not found`);
    }
    let key;
    if (unique) {
      key = String(data[unique] ?? "").toLowerCase();
      const owner = index.get(key);
      if (owner !== undefined && owner !== resource.id) {
        throw new SCIMMY.Types.Error(409, "uniqueness", `${unique} is already taken`);
      }
    }
    const id = resource.id ?? crypto.randomUUID();
    delete data.schemas;
    delete data.meta;
    const stored = {...data, id, meta: {created: prev?.meta.created ?? now, lastModified: now}};
    if (unique) {
      if (prev) index.delete(String(prev[unique] ?? "").toLowerCase());
      index.set(key, id);
    }
    store.set(id, stored);
    return stored;
  };
}

function degressFrom(store, kind, unique, index, onDelete) {
  return (resource) => {
    const prev = store.get(resource.id);
    if (!prev) throw new SCIMMY.Types.Error(404, null, `${kind} ${resource.id} not found`);
    store.delete(resource.id);
    if (unique) index.delete(String(prev[unique] ?? "").toLowerCase());
    onDelete?.(resource.id);
  };
}

SCIMMY.Resources.declare(SCIMMY.Resources.User)
  .ingress(ingressFrom(users, "User", "userName", userNames))
  .egress(egressFrom(users, "User", "userName", userNames))
  .degress(degressFrom(users, "User", "userName", userNames, (id) => {
    for (const g of groups.values()) {
      if (Array.isArray(g.members)) g.members = g.members.filter((m) => m.value !== id);
    }
  }));
SCIMMY.Resources.declare(SCIMMY.Resources.Group)
  .ingress(ingressFrom(groups, "Group", ""))
  .egress(egressFrom(groups, "Group"))
  .degress(degressFrom(groups, "Group", ""));

function authorized(req) {
  const header = req.header("Authorization") ?? "";
  let want;
  if (opts.basic) want = "Basic " + Buffer.from(opts.basic).toString("base64");
  else want = "Bearer " + opts.token;
  const a = Buffer.from(header);
  const b = Buffer.from(want);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const scim = new SCIMMYRouters({
  type: opts.basic ? "basic" : "bearer",
  docUri: "https://example.invalid/scim-test-server",
  handler: (req) => {
    if (!authorized(req)) throw new Error("Authentication failed");
    return "test-client";
  },
});
// scimmy-routers declares patch, filter, sort and bulk; this server does no bulk.
SCIMMY.Config.set({patch: opts.patch, bulk: false, filter: {supported: true, maxResults: 200}});

const app = express();
app.disable("x-powered-by");

app.post("/_test/fault", express.json(), (req, res) => {
  const {status = 0, count = 1, retryAfter = ""} = req.body ?? {};
  fault = {status: Number(status), count: Number(count), retryAfter: String(retryAfter)};
  res.json(fault);
});
app.get("/_test/count", (req, res) => res.json({writes}));
app.post("/_test/reset", (req, res) => {
  users.clear();
  groups.clear();
  userNames.clear();
  fault = {status: 0, count: 0, retryAfter: ""};
  writes = 0;
  res.json({});
});

app.use("/scim/v2", (req, res, next) => {
  if (fault.count > 0 && fault.status) {
    fault.count--;
    if (fault.retryAfter) res.setHeader("Retry-After", fault.retryAfter);
    res.status(fault.status).type("application/scim+json").send(JSON.stringify({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
      status: String(fault.status),
      detail: `injected fault ${fault.status}`,
    }));
    return;
  }
  if (!opts.patch && req.method === "PATCH") {
    res.status(501).type("application/scim+json").send(JSON.stringify({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
      status: "501",
      detail: "PATCH is not supported by this service provider",
    }));
    return;
  }
  if (["POST", "PUT", "PATCH", "DELETE"].includes(req.method)) {
    res.on("finish", () => {
      if (res.statusCode >= 200 && res.statusCode < 300) writes++;
    });
  }
  next();
});
// Put the requested startIndex back into list answers (see egressFrom).
app.use("/scim/v2", (req, res, next) => {
  const json = res.json.bind(res);
  res.json = (body) => {
    if (Array.isArray(body?.schemas) && body.schemas.includes("urn:ietf:params:scim:api:messages:2.0:ListResponse")) {
      const asked = Number.parseInt((req.method === "POST" ? req.body?.startIndex : req.query.startIndex) ?? "1", 10);
      body.startIndex = Number.isInteger(asked) && asked > 1 ? asked : 1;
    }
    return json(body);
  };
  next();
});
app.use("/scim/v2", scim);

const server = app.listen(opts.port, "127.0.0.1", () => {
  const {address, port} = server.address();
  process.stdout.write(`listening ${address}:${port}\n`);
});
server.keepAliveTimeout = 60000;

// Exiting saves the state at once, without waiting for open connections: requests in flight are
// cut off as a crash would cut them (their writes, when already applied, are saved).
const exit = () => {
  saveState();
  process.exit(0);
};
process.on("SIGTERM", exit);
process.on("SIGINT", exit);
process.stdin.on("end", exit);
process.stdin.resume();
