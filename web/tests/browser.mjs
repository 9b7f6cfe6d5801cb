// Drives Debian's chromium with playwright-core for Atlante's browser tests.
// usage: node browser.mjs <scenario> <base-url> <out-dir>
// Prints one JSON object with what it measured; the Rust tests assert on it.
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";

const [scenario, base, outDir] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
});
const result = { scenario, dialogs: 0, pageErrors: [], consoleErrors: [] };
const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
page.on("dialog", async (d) => { result.dialogs += 1; await d.dismiss(); });
page.on("pageerror", (e) => result.pageErrors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error") result.consoleErrors.push(m.text()); });

async function mapIdle() {
  await page.waitForFunction(() => window.atlanteReady === true, null, { timeout: 30000 });
  await page.waitForFunction(() => {
    const m = window.atlanteMap;
    return m && m.loaded() && m.areTilesLoaded() && !m.isMoving();
  }, null, { timeout: 30000, polling: 100 });
  await page.waitForTimeout(300);
}

// Non-background pixels in a screenshot region, counted in the page from the PNG.
async function paintedPixels(png, clip) {
  return page.evaluate(async ({ b64, clip }) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = clip.width; c.height = clip.height;
    const g = c.getContext("2d");
    g.drawImage(img, clip.x, clip.y, clip.width, clip.height, 0, 0, clip.width, clip.height);
    const d = g.getImageData(0, 0, clip.width, clip.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const [r, gg, b] = [d[i], d[i + 1], d[i + 2]];
      const background = Math.abs(r - 0xee) < 6 && Math.abs(gg - 0xf1) < 6 && Math.abs(b - 0xf5) < 6;
      const white = r > 250 && gg > 250 && b > 250;
      if (!background && !white) n++;
    }
    return n;
  }, { b64: png.toString("base64"), clip });
}

try {
  if (scenario === "viewer") {
    const layers = "015146_metro_fermate,015146_metro_percorsi,015146_nil";
    await page.goto(`${base}/#map=14/45.4642/9.1900&layers=${layers}`);
    await mapIdle();
    const box = await page.locator("#map").boundingBox();
    const png = await page.screenshot({ path: `${outDir}/viewer.png` });
    result.painted = await paintedPixels(png, { x: Math.round(box.x), y: Math.round(box.y), width: Math.round(box.width), height: Math.round(box.height) });
    result.activeLayers = await page.$$eval("#active li", (lis) => lis.map((li) => li.dataset.layer));
    result.catalogZones = await page.$$eval("#catalog > details > summary", (s) => s.map((x) => x.textContent));
    // Identify: click the Duomo M1 stop.
    const pt = await page.evaluate(() => window.atlanteMap.project([9.189596064235388, 45.46462205639821]));
    await page.mouse.click(box.x + pt.x, box.y + pt.y);
    await page.waitForSelector(".maplibregl-popup", { timeout: 10000 });
    result.popup = await page.textContent(".maplibregl-popup");
    await page.screenshot({ path: `${outDir}/viewer-popup.png` });
    // The state is in the URL.
    result.hash = await page.evaluate(() => location.hash);
    // Comune search moves the map.
    await page.fill("#comune-search", "Rho");
    await page.press("#comune-search", "Enter");
    await page.waitForTimeout(500);
    result.centerAfterSearch = await page.evaluate(() => window.atlanteMap.getCenter().toArray());
  } else if (scenario === "tiles") {
    // MapLibre draws Atlante's tiles: the z12 view of Milan.
    await page.goto(`${base}/#map=12/45.4642/9.1900&layers=015146_nil,015146_aree_pedonali_ztl`);
    await mapIdle();
    const box = await page.locator("#map").boundingBox();
    const png = await page.screenshot({ path: `${outDir}/tiles.png` });
    const half = { x: Math.round(box.x + box.width / 4), y: Math.round(box.y + box.height / 4), width: Math.round(box.width / 2), height: Math.round(box.height / 2) };
    result.painted = await paintedPixels(png, half);
    result.total = half.width * half.height;
  } else {
    throw new Error("unknown scenario " + scenario);
  }
} catch (e) {
  result.error = String(e && e.stack || e);
}
await browser.close();
writeFileSync(`${outDir}/${scenario}.json`, JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
