// A stated subset of CQL2 text, evaluated in the browser (static apps have no server) and
// turned into MapLibre filters, so one filter drives the attribute table and the map:
//   comparisons  =  <>  <  >  <=  >=      a LIKE 'pat%'  (case-sensitive; % _ and \ escape)
//   a IN (v, …)   a NOT IN (…)   a BETWEEN x AND y   a IS NULL   a IS NOT NULL
//   AND  OR  NOT  ( … )
// with a property name on the left (bare, or "double quoted") and literals on the right:
// 'text' ('' for a quote), numbers, TRUE, FALSE. Everything the server's CQL2 accepts beyond
// this (spatial and temporal functions, CASEI, arithmetic) is refused with a message.
// Logic is SQL's three-valued one, as the stores apply it: a comparison with a missing
// (null) value is unknown, and NOT unknown is still unknown — so the browser keeps exactly
// the rows `/items?filter=` returns.
"use strict";

window.AtlanteCql2 = (function () {
  function tokenize(text) {
    const out = [];
    let i = 0;
    while (i < text.length) {
      const c = text[i];
      if (/\s/.test(c)) { i++; continue; }
      if (c === "'") {
        let s = "";
        i++;
        for (;;) {
          if (i >= text.length) throw new Error("unterminated text literal");
          if (text[i] === "'") {
            if (text[i + 1] === "'") { s += "'"; i += 2; continue; }
            i++;
            break;
          }
          s += text[i++];
        }
        out.push({ t: "str", v: s });
      } else if (c === '"') {
        const j = text.indexOf('"', i + 1);
        if (j < 0) throw new Error("unterminated quoted name");
        out.push({ t: "name", v: text.slice(i + 1, j) });
        i = j + 1;
      } else if (/[0-9.]/.test(c) || (c === "-" && /[0-9.]/.test(text[i + 1] || ""))) {
        const m = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i));
        if (!m) throw new Error("bad number at " + i);
        out.push({ t: "num", v: Number(m[0]) });
        i += m[0].length;
      } else if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
        out.push({ t: "word", v: m[0] });
        i += m[0].length;
      } else {
        const two = text.slice(i, i + 2);
        if (["<>", "<=", ">="].includes(two)) { out.push({ t: "op", v: two }); i += 2; }
        else if ("=<>(),".includes(c)) { out.push({ t: "op", v: c }); i++; }
        else throw new Error("unexpected '" + c + "' at " + i);
      }
    }
    return out;
  }

  const KEYWORDS = ["AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "NULL", "TRUE", "FALSE"];

  // text → AST: {op: "and"|"or", args} | {op: "not", arg} | {op: "cmp", cmp, prop, value}
  // | {op: "like", prop, pattern, not} | {op: "in", prop, values, not}
  // | {op: "between", prop, lo, hi, not} | {op: "null", prop, not}
  function parse(text) {
    const toks = tokenize(text);
    let p = 0;
    const peek = () => toks[p];
    const kw = (w) => peek() && peek().t === "word" && peek().v.toUpperCase() === w;
    const eat = (w) => { if (kw(w)) { p++; return true; } return false; };
    const expectOp = (o) => {
      if (!peek() || peek().t !== "op" || peek().v !== o) throw new Error("expected '" + o + "'");
      p++;
    };
    function literal() {
      const t = toks[p++];
      if (!t) throw new Error("a value is missing");
      if (t.t === "str" || t.t === "num") return t.v;
      if (t.t === "word" && t.v.toUpperCase() === "TRUE") return true;
      if (t.t === "word" && t.v.toUpperCase() === "FALSE") return false;
      throw new Error("'" + t.v + "' is not a value this map can filter by (text, number, TRUE, FALSE)");
    }
    function prop() {
      const t = toks[p++];
      if (t && (t.t === "name" || (t.t === "word" && !KEYWORDS.includes(t.v.toUpperCase())))) {
        if (peek() && peek().t === "op" && peek().v === "(") throw new Error("functions (" + t.v + ") are not filtered in the browser");
        return t.v;
      }
      throw new Error("a property name is expected");
    }
    function predicate() {
      if (peek() && peek().t === "op" && peek().v === "(") {
        p++;
        const e = or();
        expectOp(")");
        return e;
      }
      const name = prop();
      if (eat("IS")) {
        const not = eat("NOT");
        if (!eat("NULL")) throw new Error("IS NULL or IS NOT NULL");
        return { op: "null", prop: name, not };
      }
      const not = eat("NOT");
      if (eat("LIKE")) {
        const v = literal();
        if (typeof v !== "string") throw new Error("LIKE compares text");
        return { op: "like", prop: name, pattern: v, not };
      }
      if (eat("IN")) {
        expectOp("(");
        const values = [literal()];
        while (peek() && peek().t === "op" && peek().v === ",") { p++; values.push(literal()); }
        expectOp(")");
        return { op: "in", prop: name, values, not };
      }
      if (eat("BETWEEN")) {
        const lo = literal();
        if (!eat("AND")) throw new Error("BETWEEN x AND y");
        return { op: "between", prop: name, lo, hi: literal(), not };
      }
      if (not) throw new Error("NOT LIKE, NOT IN or NOT BETWEEN");
      const t = toks[p++];
      if (!t || t.t !== "op" || !["=", "<>", "<", ">", "<=", ">="].includes(t.v)) throw new Error("a comparison is expected after " + name);
      return { op: "cmp", cmp: t.v, prop: name, value: literal() };
    }
    function not() {
      if (eat("NOT")) return { op: "not", arg: not() };
      return predicate();
    }
    function and() {
      const args = [not()];
      while (eat("AND")) args.push(not());
      return args.length === 1 ? args[0] : { op: "and", args };
    }
    function or() {
      const args = [and()];
      while (eat("OR")) args.push(and());
      return args.length === 1 ? args[0] : { op: "or", args };
    }
    if (!toks.length) throw new Error("empty filter");
    const ast = or();
    if (p < toks.length) throw new Error("unexpected '" + toks[p].v + "'");
    return ast;
  }

  // LIKE pattern → RegExp (% any, _ one character, \ escapes).
  function likeRegExp(pattern) {
    let re = "";
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === "\\" && i + 1 < pattern.length) re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      else if (c === "%") re += "[\\s\\S]*";
      else if (c === "_") re += "[\\s\\S]";
      else re += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }
    return new RegExp("^" + re + "$", "u");
  }

  const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const CMP = { "=": (c) => c === 0, "<>": (c) => c !== 0, "<": (c) => c < 0, ">": (c) => c > 0, "<=": (c) => c <= 0, ">=": (c) => c >= 0 };

  // AST → (properties → true | false | null for unknown).
  function evaluate(ast, props) {
    const get = (name) => { const v = props[name]; return v === undefined ? null : v; };
    const flip = (v, not) => (v === null ? null : not ? !v : v);
    switch (ast.op) {
      case "and": {
        let unknown = false;
        for (const a of ast.args) { const v = evaluate(a, props); if (v === false) return false; if (v === null) unknown = true; }
        return unknown ? null : true;
      }
      case "or": {
        let unknown = false;
        for (const a of ast.args) { const v = evaluate(a, props); if (v === true) return true; if (v === null) unknown = true; }
        return unknown ? null : false;
      }
      case "not": { const v = evaluate(ast.arg, props); return v === null ? null : !v; }
      case "null": return ast.not ? get(ast.prop) !== null : get(ast.prop) === null;
      case "cmp": { const v = get(ast.prop); return v === null ? null : CMP[ast.cmp](compare(v, ast.value)); }
      case "like": { const v = get(ast.prop); return v === null ? null : flip(likeRegExp(ast.pattern).test(String(v)), ast.not); }
      case "in": { const v = get(ast.prop); return v === null ? null : flip(ast.values.some((x) => compare(v, x) === 0), ast.not); }
      case "between": { const v = get(ast.prop); return v === null ? null : flip(compare(v, ast.lo) >= 0 && compare(v, ast.hi) <= 0, ast.not); }
    }
    throw new Error("unknown node " + ast.op);
  }

  // AST → a MapLibre filter keeping the features the filter is true for. Each node becomes
  // a pair (true when…, false when…), so unknown stays neither, as in SQL.
  function toMapLibre(ast) {
    const has = (name) => ["has", name];
    const get = (name) => ["get", name];
    function pair(a) {
      switch (a.op) {
        case "and": { const ps = a.args.map(pair); return [["all", ...ps.map((x) => x[0])], ["any", ...ps.map((x) => x[1])]]; }
        case "or": { const ps = a.args.map(pair); return [["any", ...ps.map((x) => x[0])], ["all", ...ps.map((x) => x[1])]]; }
        case "not": { const [t, f] = pair(a.arg); return [f, t]; }
        case "null": { const t = ["!", has(a.prop)]; return a.not ? [["!", t], t] : [t, ["!", t]]; }
        default: {
          let test;
          if (a.op === "cmp") test = [a.cmp === "<>" ? "!=" : a.cmp === "=" ? "==" : a.cmp, get(a.prop), a.value];
          else if (a.op === "in") test = ["any", ...a.values.map((v) => ["==", get(a.prop), v])];
          else if (a.op === "between") test = ["all", [">=", get(a.prop), a.lo], ["<=", get(a.prop), a.hi]];
          else test = likeExpression(a.prop, a.pattern);
          if (a.not) test = ["!", test];
          return [["all", has(a.prop), test], ["all", has(a.prop), ["!", test]]];
        }
      }
    }
    return pair(ast)[0];
  }

  // LIKE as a MapLibre expression: literal text with % at either end and at most one %
  // inside (prefix, suffix, contains, prefix…suffix); other patterns are refused here.
  function likeExpression(prop, pattern) {
    const parts = pattern.split("%");
    const inner = parts.slice(1, -1);
    const first = parts[0];
    const last = parts[parts.length - 1];
    const exact = inner.length === 0 || (inner.length === 1 && !first && !last);
    if (/[_\\]/.test(pattern) || !exact) {
      throw new Error("this LIKE pattern cannot be drawn on the map: 'x', 'x%', '%x', '%x%' or 'x%y'");
    }
    const s = ["to-string", ["get", prop]];
    if (parts.length === 1) return ["==", s, pattern];
    const conds = [[">=", ["length", s], first.length + last.length]];
    if (first) conds.push(["==", ["slice", s, 0, first.length], first]);
    if (last) conds.push(["==", ["slice", s, ["-", ["length", s], last.length]], last]);
    if (inner.length && inner[0]) conds.push(["in", inner[0], s]);
    return ["all", ...conds];
  }

  // A literal as CQL2 text.
  function literal(v) {
    if (typeof v === "number" || typeof v === "boolean") return String(v).toUpperCase();
    return "'" + String(v).replace(/'/g, "''") + "'";
  }
  // A property name as CQL2 text (quoted unless a plain identifier).
  function property(name) {
    return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORDS.includes(name.toUpperCase()) ? name : '"' + name + '"';
  }

  return { parse, evaluate, toMapLibre, literal, property, test: (ast, props) => evaluate(ast, props) === true };
})();
