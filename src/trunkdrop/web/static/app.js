// What every page shares: calls to the API with the session cookie and the page's CSRF
// token, safe DOM building (no innerHTML with data), status messages, and the map.
"use strict";

const td = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = csrf;
      headers["Idempotency-Key"] = crypto.randomUUID();
    }
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch("/v1" + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error((data && (data.detail || data.title)) || response.statusText);
      error.code = data && data.code;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // Every list answers {data, has_more, next_cursor}: read all pages.
  async function list(path) {
    const items = [];
    let cursor = null;
    for (let i = 0; i < 50; i++) {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api("GET", cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
      items.push(...page.data);
      if (!page.has_more) break;
      cursor = page.next_cursor;
    }
    return items;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(id, ...children) {
    const node = document.getElementById(id);
    node.replaceChildren(...children.flat());
    return node;
  }

  function say(id, text, kind) {
    const node = document.getElementById(id);
    node.textContent = text;
    node.className = kind === "error" ? "error" : kind === "ok" ? "ok" : "muted";
  }

  // A form whose submit calls `handler(values)`; a refusal is shown in its status line.
  function form(id, handler) {
    const node = document.getElementById(id);
    node.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = node.querySelector("[data-status]");
      const values = Object.fromEntries(new FormData(node).entries());
      try {
        if (status) { status.textContent = "…"; status.className = "muted"; }
        const message = await handler(values, node);
        if (status) { status.textContent = message || "Done."; status.className = "ok"; }
      } catch (error) {
        if (status) { status.textContent = error.message; status.className = "error"; }
      }
    });
  }

  function time(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function metres(a, b) {
    const rad = Math.PI / 180, r = 6371000;
    const dLat = (b[0] - a[0]) * rad, dLon = (b[1] - a[1]) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
    return Math.round(2 * r * Math.asin(Math.sqrt(h)));
  }

  // Web Mercator in pixels at zoom z.
  function project(lat, lon, z) {
    const n = 256 * 2 ** z;
    const s = Math.sin((lat * Math.PI) / 180);
    return [((lon + 180) / 360) * n, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * n];
  }

  // Draw points ({lat, lon, label, kind}) and lines (arrays of [lat, lon]) into an SVG.
  // With no tile URL set the background stays plain; with one, its tiles are drawn under.
  function map(id, points, lines) {
    const svg = document.getElementById(id);
    const ns = "http://www.w3.org/2000/svg";
    const W = 600, H = 360, pad = 30;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    const all = points.map((p) => [p.lat, p.lon]).concat(...lines);
    if (all.length === 0) {
      const t = document.createElementNS(ns, "text");
      t.setAttribute("x", W / 2); t.setAttribute("y", H / 2); t.setAttribute("text-anchor", "middle");
      t.textContent = "Nothing to show yet";
      svg.append(t);
      return;
    }
    let z = 17;
    for (; z > 2; z--) {
      const xy = all.map(([a, b]) => project(a, b, z));
      const w = Math.max(...xy.map((p) => p[0])) - Math.min(...xy.map((p) => p[0]));
      const h = Math.max(...xy.map((p) => p[1])) - Math.min(...xy.map((p) => p[1]));
      if (w <= W - 2 * pad && h <= H - 2 * pad) break;
    }
    const xy = all.map(([a, b]) => project(a, b, z));
    const cx = (Math.max(...xy.map((p) => p[0])) + Math.min(...xy.map((p) => p[0]))) / 2;
    const cy = (Math.max(...xy.map((p) => p[1])) + Math.min(...xy.map((p) => p[1]))) / 2;
    const at = (lat, lon) => { const [x, y] = project(lat, lon, z); return [x - cx + W / 2, y - cy + H / 2]; };
    const tiles = svg.dataset.tiles;
    if (tiles) {
      const x0 = Math.floor((cx - W / 2) / 256), x1 = Math.floor((cx + W / 2) / 256);
      const y0 = Math.floor((cy - H / 2) / 256), y1 = Math.floor((cy + H / 2) / 256);
      for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) {
        const img = document.createElementNS(ns, "image");
        img.setAttribute("href", tiles.replace("{z}", z).replace("{x}", x).replace("{y}", y).replace("{s}", "a"));
        img.setAttribute("x", x * 256 - cx + W / 2); img.setAttribute("y", y * 256 - cy + H / 2);
        img.setAttribute("width", 256); img.setAttribute("height", 256);
        svg.append(img);
      }
    }
    const colours = ["#0b5cad", "#a1001a", "#1b6b2a", "#7a4b00", "#5b2a86"];
    lines.forEach((line, i) => {
      const path = document.createElementNS(ns, "polyline");
      path.setAttribute("points", line.map(([a, b]) => at(a, b).join(",")).join(" "));
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", colours[i % colours.length]);
      path.setAttribute("stroke-width", "3");
      svg.append(path);
    });
    for (const p of points) {
      const [x, y] = at(p.lat, p.lon);
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", x); dot.setAttribute("cy", y); dot.setAttribute("r", p.kind === "depot" ? 11 : 9);
      dot.setAttribute("fill", p.kind === "car" ? "#a1001a" : p.kind === "depot" ? "#1b1f24" : "#0b5cad");
      const title = document.createElementNS(ns, "title");
      title.textContent = p.label;
      dot.append(title);
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", x + 13); label.setAttribute("y", y + 7); label.setAttribute("font-size", "22");
      label.textContent = p.label;
      svg.append(dot, label);
    }
  }

  return { api, list, el, fill, say, form, time, metres, map };
})();
