// A one-page PDF of the map, written in the browser (static apps have no server): the title,
// the map as a JPEG, a scale bar and a north arrow on it, the legend, the sources and the
// date. PDF 1.4 with the standard Helvetica fonts (WinAnsi text: Italian and Western
// European letters), no dependency.
"use strict";

window.AtlantePdf = (function () {
  const SIZES = { A4: [595.28, 841.89], A3: [841.89, 1190.55] };
  // Unicode → WinAnsi (cp1252) for the letters outside Latin-1; others become "?".
  const CP1252 = { 0x20ac: 0x80, 0x2018: 0x91, 0x2019: 0x92, 0x201c: 0x93, 0x201d: 0x94, 0x2013: 0x96, 0x2014: 0x97, 0x2026: 0x85, 0x2022: 0x95, 0x0152: 0x8c, 0x0153: 0x9c, 0x0160: 0x8a, 0x0161: 0x9a, 0x017d: 0x8e, 0x017e: 0x9e, 0x0178: 0x9f };
  function winAnsi(s) {
    const out = [];
    for (const ch of String(s)) {
      const c = ch.codePointAt(0);
      const b = c < 0x80 || (c >= 0xa0 && c <= 0xff) ? c : CP1252[c] || 0x3f;
      if (b === 0x28 || b === 0x29 || b === 0x5c) out.push(0x5c);
      out.push(b);
    }
    return out;
  }
  // Helvetica's widths are near 0.5 em on average: enough to wrap and right-align.
  const textWidth = (s, size) => String(s).length * size * 0.5;
  const bytesOf = (s) => Array.from(s, (c) => c.charCodeAt(0));
  const hexColour = (c) => {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(c || "");
    return m ? [1, 2, 3].map((i) => (parseInt(m[i], 16) / 255).toFixed(3)).join(" ") : "0.5 0.5 0.5";
  };

  // opts: { size: "A4"|"A3", orientation, title, jpeg (data URL), width, height (pixels),
  //   cssWidth, metresPerPixel, bearing, legend: [{title, entries: [[label, colour]]}],
  //   attribution, date, words }
  function mapPage(o) {
    let [W, H] = SIZES[o.size] || SIZES.A4;
    if (o.orientation === "landscape") [W, H] = [H, W];
    const m = 28;
    const ops = []; // content stream, as arrays of bytes
    const put = (s) => ops.push(bytesOf(s + "\n"));
    const text = (x, y, size, s, bold) => {
      ops.push(bytesOf(`0.114 0.153 0.2 rg BT /${bold ? "F2" : "F1"} ${size} Tf ${x.toFixed(2)} ${y.toFixed(2)} Td (`));
      ops.push(winAnsi(s));
      ops.push(bytesOf(") Tj ET\n"));
    };
    // Title and date.
    text(m, H - m - 16, 16, o.title, true);
    const dateText = o.words.date + ": " + o.date;
    text(W - m - textWidth(dateText, 9), H - m - 12, 9, dateText, false);
    // The legend's rows (entries under each layer's title), laid out in columns at the foot.
    const rows = [];
    for (const l of o.legend) {
      rows.push({ title: l.title });
      for (const [label, colour] of l.entries) rows.push({ label, colour });
    }
    const rowH = 12, colW = 180;
    const cols = Math.max(1, Math.floor((W - 2 * m) / colW));
    const perCol = Math.max(1, Math.ceil(rows.length / cols));
    const legendH = rows.length ? 18 + perCol * rowH : 0;
    const footH = 24;
    // The map box, the image fitted in it.
    const boxTop = H - m - 28, boxBottom = m + footH + legendH + 8;
    const boxW = W - 2 * m, boxH = boxTop - boxBottom;
    const scale = Math.min(boxW / o.width, boxH / o.height);
    const iw = o.width * scale, ih = o.height * scale;
    const ix = m + (boxW - iw) / 2, iy = boxBottom + (boxH - ih) / 2;
    put(`q ${iw.toFixed(2)} 0 0 ${ih.toFixed(2)} ${ix.toFixed(2)} ${iy.toFixed(2)} cm /Im1 Do Q`);
    put(`0.4 0.4 0.4 RG 0.5 w ${ix.toFixed(2)} ${iy.toFixed(2)} ${iw.toFixed(2)} ${ih.toFixed(2)} re S`);
    // Scale bar: a round length near a quarter of the image.
    const metresPerPt = (o.metresPerPixel * o.cssWidth) / iw;
    const target = (iw / 4) * metresPerPt;
    const pow = 10 ** Math.floor(Math.log10(target));
    const nice = [5, 2, 1].map((k) => k * pow).find((v) => v <= target) || pow;
    const barW = nice / metresPerPt;
    const bx = ix + 12, by = iy + 12;
    put(`1 1 1 rg ${(bx - 6).toFixed(2)} ${(by - 6).toFixed(2)} ${(barW + 60).toFixed(2)} 22 re f`);
    put(`0 0 0 rg ${bx.toFixed(2)} ${by.toFixed(2)} ${(barW / 2).toFixed(2)} 4 re f`);
    put(`0 0 0 RG 0.8 w ${bx.toFixed(2)} ${by.toFixed(2)} ${barW.toFixed(2)} 4 re S`);
    text(bx + barW + 6, by, 9, nice >= 1000 ? nice / 1000 + " km" : nice + " m", false);
    // North arrow, turned with the map.
    const cx = ix + iw - 24, cy = iy + ih - 34, r = (-(o.bearing || 0) * Math.PI) / 180;
    const pt = (x, y) => [cx + x * Math.cos(r) - y * Math.sin(r), cy + x * Math.sin(r) + y * Math.cos(r)].map((v) => v.toFixed(2)).join(" ");
    put(`1 1 1 rg ${(cx - 14).toFixed(2)} ${(cy - 16).toFixed(2)} 28 40 re f`);
    put(`0 0 0 rg ${pt(0, 14)} m ${pt(-7, -10)} l ${pt(0, -5)} l ${pt(7, -10)} l h f`);
    text(cx - 4, cy + 15, 10, "N", true);
    // Legend.
    if (rows.length) {
      text(m, boxBottom - 16, 10, o.words.legend, true);
      rows.forEach((row, i) => {
        const x = m + Math.floor(i / perCol) * colW, y = boxBottom - 30 - (i % perCol) * rowH;
        if (row.title !== undefined) text(x, y, 9, row.title, true);
        else {
          put(`${hexColour(row.colour)} rg ${(x + 2).toFixed(2)} ${(y - 1).toFixed(2)} 10 8 re f`);
          text(x + 16, y, 8, row.label, false);
        }
      });
    }
    // Sources.
    text(m, m + 6, 7, o.words.source + ": " + (o.attribution || "").slice(0, 220), false);

    const jpeg = Uint8Array.from(atob(o.jpeg.split(",")[1]), (c) => c.charCodeAt(0));
    const content = ops.flat();
    const objects = [
      bytesOf("<< /Type /Catalog /Pages 2 0 R >>"),
      bytesOf("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
      bytesOf(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${W.toFixed(2)} ${H.toFixed(2)}] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> /XObject << /Im1 6 0 R >> >> /Contents 7 0 R >>`),
      bytesOf("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
      bytesOf("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"),
      [...bytesOf(`<< /Type /XObject /Subtype /Image /Width ${o.width} /Height ${o.height} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length ${jpeg.length} >>\nstream\n`), ...jpeg, ...bytesOf("\nendstream")],
      [...bytesOf(`<< /Length ${content.length} >>\nstream\n`), ...content, ...bytesOf("\nendstream")],
    ];
    const out = bytesOf("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
    const offsets = [];
    objects.forEach((body, i) => {
      offsets.push(out.length);
      out.push(...bytesOf(`${i + 1} 0 obj\n`));
      for (let k = 0; k < body.length; k += 65536) out.push(...body.slice(k, k + 65536));
      out.push(...bytesOf("\nendobj\n"));
    });
    const xref = out.length;
    out.push(...bytesOf(`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`));
    offsets.forEach((off) => out.push(...bytesOf(String(off).padStart(10, "0") + " 00000 n \n")));
    out.push(...bytesOf(`trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`));
    return Uint8Array.from(out);
  }

  return { mapPage };
})();
