// The customer's page: cars (link, block), saved places on a map, deliveries live.
"use strict";

const streams = new Map();

async function showCars() {
  const cars = await td.list("/vehicles");
  td.fill("cars", cars.length ? cars.map((car) => td.el("li", { "data-car": car.id },
    td.el("strong", { text: `${car.plate}` }), ` ${car.colour} ${car.make} ${car.model} (${car.brand}) — `,
    td.el("span", { class: "status", text: car.access_blocked ? "blocked: no trunk opens" : "open for deliveries" }),
    " ",
    car.access_blocked
      ? td.el("button", { type: "button", class: "secondary", onclick: () => toggle(car, "unblock") }, `Unblock ${car.plate}`)
      : td.el("button", { type: "button", class: "danger", onclick: () => toggle(car, "block") }, `Block ${car.plate}`),
  )) : td.el("li", { class: "muted", text: "No car linked yet." }));
}

async function toggle(car, action) {
  await td.api("POST", `/vehicles/${car.id}/${action}`);
  await showCars();
}

async function showPlaces() {
  const places = await td.list("/places");
  td.fill("places", places.length ? places.map((p) => td.el("li", {},
    td.el("strong", { text: p.label }), ` — ${p.address}`, p.parking_notes ? td.el("span", { class: "muted", text: ` (${p.parking_notes})` }) : null,
  )) : td.el("li", { class: "muted", text: "No place saved yet." }));
  td.map("places-map", places.map((p) => ({ lat: p.latitude, lon: p.longitude, label: p.label })), []);
}

async function showDeliveries() {
  const deliveries = await td.list("/deliveries");
  const open = deliveries.filter((d) => !d.ended_at);
  td.fill("deliveries", open.length ? open.map((d) => {
    const current = d.itinerary[(d.current_option || 1) - 1] || d.itinerary[0];
    const attempt = d.attempts.length ? d.attempts[d.attempts.length - 1] : null;
    const live = td.el("span", { class: "status", id: `live-${d.id}`, text: attempt ? `attempt: ${attempt.status}` : d.status });
    if (attempt && !attempt.ended_at) follow(attempt.id, d.id);
    return td.el("li", {}, td.el("strong", { text: d.parcel_ref }), ` ${d.service_date}`,
      current ? ` ${td.time(current.window_start)}–${td.time(current.window_end)}` : "", " — ", live);
  }) : td.el("li", { class: "muted", text: "No delivery on its way." }));
}

// The attempt's own event stream: each change as it happens.
function follow(attemptId, deliveryId) {
  if (streams.has(attemptId)) return;
  const source = new EventSource(`/v1/attempts/${attemptId}/events`);
  streams.set(attemptId, source);
  source.addEventListener("attempt", (e) => {
    const node = document.getElementById(`live-${deliveryId}`);
    if (node) node.textContent = `attempt: ${JSON.parse(e.data).status}`;
  });
  source.addEventListener("end", () => { source.close(); streams.delete(attemptId); showDeliveries(); });
}

async function showBrands() {
  const brands = await td.list("/brands");
  const select = td.fill("brand", brands.map((b) => td.el("option", { value: b.brand, text: b.display_name || b.brand })));
  const describe = () => {
    const b = brands.find((x) => x.brand === select.value);
    if (!b) return;
    const c = b.capabilities;
    const can = [c.trunk_only_unlock ? "opens the trunk alone" : "opens only the whole car",
      c.lock_state ? "reports its lock" : "no lock report", c.live_position ? "reports where it stands" : "no position",
      `answers in about ${c.typical_latency_s} s`];
    td.say("brand-caps", can.join("; ") + (b.trunk_delivery_blockers.length ? ` — not eligible: ${b.trunk_delivery_blockers.join(", ")}` : ""));
  };
  select.addEventListener("change", describe);
  describe();
}

td.form("link-car", async (v, node) => {
  const car = await td.api("POST", "/vehicles", { ...v, year: Number(v.year), trunk_volume_l: Number(v.trunk_volume_l) });
  node.reset();
  await showCars();
  return `Linked ${car.plate}.`;
});

td.form("add-place", async (v, node) => {
  const place = await td.api("POST", "/places", { ...v, latitude: Number(v.latitude), longitude: Number(v.longitude) });
  node.reset();
  await showPlaces();
  return `Saved ${place.label}.`;
});

async function showConsents() {
  const consents = (await td.list("/me/consents")).filter((c) => !c.revoked_at);
  td.fill("consents", consents.length ? consents.map((c) => {
    const shop = c.client_name || c.client_id;
    return td.el("li", {}, td.el("strong", { text: shop }), ` may ${c.scopes.join(", ")} — since ${new Date(c.created_at).toLocaleDateString()} `,
      td.el("button", { type: "button", class: "secondary", onclick: () => revoke(c, shop) }, `Revoke ${shop}`));
  }) : td.el("li", { class: "muted", text: "No shop may act for you." }));
}

async function revoke(consent, shop) {
  try {
    await td.api("DELETE", `/me/consents/${consent.id}`);
    td.say("consents-status", `${shop} may no longer act for you.`, "ok");
  } catch (error) { td.say("consents-status", error.message, "error"); }
  await showConsents();
}

// Erasure takes two clicks: the first only shows what it does.
const eraseStart = document.getElementById("erase-start");
const eraseConfirm = document.getElementById("erase-confirm");
function askToErase(open) {
  eraseConfirm.hidden = !open;
  eraseStart.setAttribute("aria-expanded", String(open));
  if (open) document.getElementById("erase-no").focus();
}
eraseStart.addEventListener("click", () => askToErase(true));
document.getElementById("erase-no").addEventListener("click", () => { askToErase(false); eraseStart.focus(); });
document.getElementById("erase-yes").addEventListener("click", async () => {
  try {
    const erased = await td.api("DELETE", "/me");
    askToErase(false);
    td.say("erase-status", `Erased: ${Object.entries(erased).map(([k, n]) => `${n} ${k.replaceAll("_", " ")}`).join(", ")}. You are signed out.`, "ok");
    eraseStart.disabled = true;
  } catch (error) {
    // 409 while a delivery is out: the reason says which and until when.
    askToErase(false);
    td.say("erase-status", `Not erased: ${error.message}`, "error");
  }
});

showBrands(); showCars(); showPlaces(); showDeliveries(); showConsents();
// A new attempt is found by this poll; from then on its event stream shows each change.
setInterval(showDeliveries, 5000);
