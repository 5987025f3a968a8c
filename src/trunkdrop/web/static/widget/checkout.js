// trunkdrop's checkout widget: <trunkdrop-checkout session="TOKEN"> on a shop's checkout
// page (another site). It reads the parcel's trunk windows and places with the checkout
// session's token alone (no cookie goes with it), lets the customer pick one, puts the
// option's id into a hidden form field and tells the page with a `trunkdrop-choice` event.
// The shop's backend then books that option with its consent token. Plain DOM building
// (no innerHTML, no eval, no inline style or script): it runs under a strict CSP.
"use strict";

(() => {
  if (customElements.get("trunkdrop-checkout")) return;

  // The widget talks to the server it came from, unless the page says otherwise.
  const script = document.currentScript;
  const home = script && script.src ? new URL(script.src).origin : location.origin;

  // A constructed stylesheet is not inline style: no 'unsafe-inline' needed on the shop.
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`
    :host { display: block; font: inherit; color: #1b1f24; }
    fieldset { border: 1px solid #c9d1d9; border-radius: 6px; padding: .75rem 1rem; margin: 0; }
    legend { font-weight: 600; padding: 0 .25rem; }
    ul { list-style: none; margin: 0; padding: 0; }
    li, .option { margin: .25rem 0; }
    label { display: flex; gap: .6rem; align-items: center; padding: .5rem; border-radius: 4px; cursor: pointer; min-height: 44px; }
    label:hover { background: #eef2f5; }
    input:focus-visible { outline: 3px solid #0b5cad; outline-offset: 2px; }
    input:checked + span { font-weight: 600; }
    .muted { color: #4a5560; }
    .error { color: #a1001a; font-weight: 600; }
  `);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  class TrunkdropCheckout extends HTMLElement {
    static get observedAttributes() { return ["session"]; }

    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      this.root.adoptedStyleSheets = [sheet];
      this.options = [];
      this.loaded = null;
    }

    connectedCallback() {
      // The hidden field lives in the page (light DOM), so the shop's own form sends it.
      if (!this.field) {
        this.field = el("input", { type: "hidden", name: this.getAttribute("name") || "trunkdrop_option", value: "" });
        this.append(this.field);
      }
      this.load();
    }

    attributeChangedCallback(name, before, after) {
      if (this.isConnected && before !== after) this.load();
    }

    get api() { return (this.getAttribute("api") || home).replace(/\/$/, ""); }

    async load() {
      const token = this.getAttribute("session");
      const heading = this.getAttribute("heading") || "Deliver into your car's trunk";
      if (!token) { this.show(heading, this.message("No checkout session: the shop's page must set session=\"…\".", "error")); return; }
      if (this.loaded === token) return;
      this.loaded = token;
      this.show(heading, this.message("Looking up your trunk's windows…", "muted"));
      this.setAttribute("aria-busy", "true");
      let data = null, problem = null;
      try {
        const response = await fetch(`${this.api}/v1/checkout-sessions/current/options`, {
          headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
          credentials: "omit", mode: "cors", cache: "no-store",
        });
        const body = await response.json().catch(() => null);
        if (response.ok) data = body; else problem = body || { detail: response.statusText, code: String(response.status) };
      } catch (error) {
        problem = { detail: "trunkdrop cannot be reached right now", code: "unreachable" };
      }
      this.removeAttribute("aria-busy");
      if (problem) {
        this.show(heading, this.message(problem.detail || problem.title || "refused", "error"));
        this.dispatchEvent(new CustomEvent("trunkdrop-error", { bubbles: true, composed: true, detail: { code: problem.code, detail: problem.detail } }));
        return;
      }
      this.render(heading, data);
    }

    message(text, kind) { return el("p", { class: kind, role: kind === "error" ? "alert" : "status", text }); }

    show(heading, ...content) {
      this.root.replaceChildren(el("fieldset", {}, el("legend", { text: heading }), ...content));
    }

    render(heading, data) {
      this.options = data.options;
      if (!data.options.length) {
        this.show(heading,
          el("p", { text: "Delivery into your car's trunk is not possible for this order:" }),
          el("ul", { class: "reasons" }, data.reasons.map((r) => el("li", { "data-code": r.code, text: r.message }))));
        return;
      }
      const zone = data.timezone;
      const day = (iso) => new Date(iso).toLocaleDateString([], { timeZone: zone, weekday: "short", day: "numeric", month: "short" });
      const time = (iso) => new Date(iso).toLocaleTimeString([], { timeZone: zone, hour: "2-digit", minute: "2-digit" });
      const group = `td-${data.session_id}`;
      const items = data.options.map((o) => {
        const input = el("input", { type: "radio", name: group, value: o.id, checked: this.field.value === o.id });
        input.addEventListener("change", () => this.choose(o.id));
        return el("div", { class: "option" }, el("label", {}, input,
          el("span", {}, `${day(o.window_start)}, ${time(o.window_start)}–${time(o.window_end)} · ${o.label}`,
            el("span", { class: "muted", text: ` (${o.address})` }))));
      });
      // The fieldset is the radio group: arrow keys move between the options.
      this.show(heading, el("p", { class: "muted", text: "Choose when and where your car will be parked." }), items);
    }

    choose(id) {
      const option = this.options.find((o) => o.id === id);
      if (!option) return;
      this.field.value = id;
      this.dispatchEvent(new CustomEvent("trunkdrop-choice", {
        bubbles: true, composed: true,
        detail: { optionIds: [id], options: [option] },
      }));
    }

    // The chosen option id ("" before a choice), for pages that ask rather than listen.
    get value() { return this.field ? this.field.value : ""; }
  }

  customElements.define("trunkdrop-checkout", TrunkdropCheckout);
})();
