// Browser checks of the riskmesh web console against real nodes (see
// scripts/browser-tests.sh, which starts them and sets the environment).
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run scripts/browser-tests.sh`);
  return value;
};
const A = { url: env("A_URL"), token: readFileSync(env("A_TOKEN_FILE"), "utf8").trim(), config: env("A_CONFIG") };
const B = { url: env("B_URL"), token: readFileSync(env("B_TOKEN_FILE"), "utf8").trim(), config: env("B_CONFIG") };
const bin = env("RISKMESH");
const shots = env("SHOTS");
const TIMEOUT = 10_000;

const cli = (...args) => execFileSync(bin, args, { encoding: "utf8" });
const entries = (node) => JSON.parse(cli("status", "--config", node.config, "--json")).entries;

let passed = 0;
let failed = 0;
const dirs = [];
async function launch() {
  const dir = mkdtempSync(join(tmpdir(), "riskmesh-chromium-"));
  dirs.push(dir);
  // A fresh profile per browser (each node's session cookie lives in its own).
  return chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
}

async function check(name, page, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (error) {
    failed += 1;
    const file = join(shots, name.replace(/[^a-z0-9]+/gi, "-") + ".png");
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.log(`FAIL ${name}: ${error.message.split("\n")[0]}\n     screenshot: ${file}`);
  }
}

const expectText = async (page, text) => {
  await page.getByText(text).first().waitFor({ timeout: TIMEOUT });
};
const assert = (cond, what) => { if (!cond) throw new Error(what); };

async function login(page, node, token) {
  await page.goto(node.url + "login");
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
}

async function publishForm(page, node, fields) {
  await page.goto(node.url + "publish");
  for (const [label, value] of Object.entries(fields.select ?? {})) {
    await page.getByLabel(label, { exact: true }).selectOption(value);
  }
  for (const [label, value] of Object.entries(fields.text ?? {})) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  for (const box of fields.check ?? []) {
    await page.locator(`input[type=checkbox][name="${box[0]}"][value="${box[1]}"]`).check();
  }
  if (fields.before) await fields.before(page);
  await page.getByRole("button", { name: "Publish" }).click();
}

const bulletin = (tier, title, extra = {}) => ({
  select: { Kind: "bulletin", "Tier (default: consortium; for a correction, the corrected entry's)": tier,
    Category: "misuse-jailbreak", Severity: "high", ...(extra.select ?? {}) },
  text: { Title: title, Summary: `Summary of ${title}.`, ...(extra.text ?? {}) },
  check: extra.check ?? [],
  before: extra.before,
});
const TIER = "Tier (default: consortium; for a correction, the corrected entry's)";

const a = await launch();
const b = await launch();
const pa = a.pages()[0] ?? await a.newPage();
pa.setDefaultTimeout(TIMEOUT);
const pb = b.pages()[0] ?? await b.newPage();
pb.setDefaultTimeout(TIMEOUT);
let hazardUrl = "";
try {
  await check("a wrong token at login gets a clear message and no session", pa, async () => {
    await login(pa, A, "0".repeat(64));
    await expectText(pa, "That is not this node's API token");
    await pa.goto(A.url);
    assert(pa.url().endsWith("/console/login"), `the feed opened without a session: ${pa.url()}`);
  });

  await check("a token in the URL is refused", pa, async () => {
    const response = await pa.goto(A.url + "login?token=" + A.token);
    assert(response.status() === 400, `status ${response.status()}`);
    await expectText(pa, "never goes in a URL");
  });

  await check("log in to both consoles", pa, async () => {
    await login(pa, A, A.token);
    await pa.getByRole("heading", { name: "Feed" }).waitFor({ timeout: TIMEOUT });
    await login(pb, B, B.token);
    await pb.getByRole("heading", { name: "Feed" }).waitFor({ timeout: TIMEOUT });
    const headers = (await pa.goto(A.url)).headers();
    assert(headers["cache-control"] === "no-store", "no Cache-Control: no-store");
    assert(headers["content-security-policy"].includes("script-src 'self'"), "no strict CSP");
  });

  await check("a bulletin published on another node appears without reloading", pa, async () => {
    await pa.goto(A.url);
    await pa.evaluate(() => { window.__notReloaded = true; });
    cli("publish", "--config", B.config, "--tier", "consortium", "--title", "Live from google",
      "--summary", "Published on the other node.", "--category", "misuse-jailbreak", "--severity", "medium");
    await pa.locator("#feed-rows tr", { hasText: "Live from google" }).waitFor({ timeout: TIMEOUT });
    assert(await pa.evaluate(() => window.__notReloaded === true), "the page was reloaded");
  });

  for (const [tier, label] of [["public", "TLP:CLEAR"], ["consortium", "TLP:GREEN"], ["restricted", "TLP:AMBER+STRICT"]]) {
    await check(`publish a ${tier} bulletin from the form`, pa, async () => {
      const extra = tier === "restricted" ? { check: [["recipients", "google"]] } : {};
      await publishForm(pa, A, bulletin(tier, `Console ${tier} finding`, extra));
      await expectText(pa, "Published: signed, stored and sent");
      await expectText(pa, label);
    });
  }

  await check("publish a hazardous finding with withheld details", pa, async () => {
    await publishForm(pa, A, bulletin("hazardous", "Console hazardous finding", {
      text: { "Withheld details": "CANARY-WITHHELD-RECIPE step one" },
    }));
    await expectText(pa, "Published: signed, stored and sent");
    await expectText(pa, "TLP:RED");
    hazardUrl = pa.url().replace(/\?.*$/, "");
  });

  await check("a restricted bulletin reaches its recipient and the feed filters by tier", pb, async () => {
    await pb.goto(B.url + "?tier=restricted");
    await pb.locator("#feed-rows tr", { hasText: "Console restricted finding" }).waitFor({ timeout: TIMEOUT });
    const rows = await pb.locator("#feed-rows tr").count();
    assert(rows === 1, `${rows} rows under tier=restricted`);
    await pb.goto(B.url + "?q=" + encodeURIComponent("summary of console public"));
    await pb.locator("#feed-rows tr", { hasText: "Console public finding" }).waitFor({ timeout: TIMEOUT });
  });

  await check("request the hazardous entry from the other organization", pb, async () => {
    assert(hazardUrl, "no hazardous entry was published");
    const id = hazardUrl.split("/").pop();
    for (let i = 0; i < 100; i++) {
      const r = await pb.goto(B.url + "entries/" + id);
      if (r.status() === 200) break;
      await pb.waitForTimeout(200);
    }
    await pb.getByLabel("Why your organization needs them (every member sees it)").fill("Building a classifier for this misuse");
    await pb.getByRole("button", { name: "Request access" }).click();
    await expectText(pb, "Access request published");
  });

  await check("the approver sees the request with its reason and approves", pa, async () => {
    for (let i = 0; i < 100; i++) {
      await pa.goto(A.url + "hazardous");
      if (await pa.getByText("Building a classifier for this misuse").count()) break;
      await pa.waitForTimeout(200);
    }
    await expectText(pa, "Building a classifier for this misuse");
    await pa.getByLabel(/Reason \(required to deny/).first().fill("Need to know established");
    await pa.getByRole("button", { name: "Approve" }).first().click();
    await expectText(pa, "Decision published");
  });

  await check("the audit timeline completes and the requester holds the details", pb, async () => {
    const id = hazardUrl.split("/").pop();
    let done = false;
    for (let i = 0; i < 150 && !done; i++) {
      await pb.goto(B.url + "entries/" + id);
      done = (await pb.getByText("Released and received").count()) > 0;
      if (!done) await pb.waitForTimeout(200);
    }
    assert(done, "no 'Released and received' step");
    await expectText(pb, "Asked");
    await expectText(pb, "Approved");
    await expectText(pb, "CANARY-WITHHELD-RECIPE step one");
    await pa.goto(hazardUrl);
    await expectText(pa, "Released and received");
  });

  await check("a bulletin without a title gets a clear message and changes nothing", pa, async () => {
    const before = entries(A);
    await publishForm(pa, A, bulletin("consortium", ""));
    await expectText(pa, "Nothing was published");
    assert(entries(A) === before, "an entry was stored");
  });

  await check("oversize text gets a clear message and changes nothing", pa, async () => {
    const before = entries(A);
    await publishForm(pa, A, bulletin("consortium", "T".repeat(5000)));
    await expectText(pa, "Nothing was published");
    await publishForm(pa, A, bulletin("consortium", "Huge", { text: { "Details (not at the hazardous tier)": "x".repeat(600 * 1024) } }));
    await expectText(pa, "over the limit");
    assert(entries(A) === before, "an entry was stored");
  });

  await check("a refused hazardous form never echoes the withheld fields", pa, async () => {
    const before = entries(A);
    await publishForm(pa, A, bulletin("hazardous", "Refused hazardous", {
      select: { Category: "" },
      text: { "Withheld details": "CANARY-NEVER-ECHOED" },
    }));
    await expectText(pa, "The withheld fields were not kept");
    assert(!(await pa.content()).includes("CANARY-NEVER-ECHOED"), "the withheld text came back");
    assert(entries(A) === before, "an entry was stored");
  });

  for (const [name, tamper] of [
    ["a stale CSRF token", (p) => p.evaluate(() => { document.querySelector("form.publish input[name=csrf]").value = "stale"; })],
    ["a missing CSRF token", (p) => p.evaluate(() => { document.querySelector("form.publish input[name=csrf]").remove(); })],
  ]) {
    await check(`${name} is refused with a clear message and changes nothing`, pa, async () => {
      const before = entries(A);
      await publishForm(pa, A, bulletin("consortium", `CSRF ${name}`, { before: tamper }));
      await expectText(pa, "This form is stale");
      assert(entries(A) === before, "an entry was stored");
      await pa.goto(A.url);
      assert((await pa.getByText(`CSRF ${name}`).count()) === 0, "the entry is in the feed");
    });
  }

  await check("every form control is labelled and the keyboard reaches the search", pa, async () => {
    await pa.goto(A.url + "publish");
    const unlabelled = await pa.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
      .filter((e) => e.type !== "hidden" && (!e.labels || e.labels.length === 0)).map((e) => e.name));
    assert(unlabelled.length === 0, `unlabelled: ${unlabelled.join(", ")}`);
    await pa.goto(A.url);
    await pa.keyboard.press("/");
    assert(await pa.evaluate(() => document.activeElement.id === "f-q"), "/ did not focus the search");
  });

  if (process.env.SCREENSHOT) {
    await pa.goto(A.url);
    await pa.screenshot({ path: process.env.SCREENSHOT });
    console.log(`screenshot: ${process.env.SCREENSHOT}`);
  }
} finally {
  await a.close();
  await b.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
console.log(`browser checks: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
