// The carrier's page: plan a day onto vans, the routes on a map, handsets to approve,
// the attempts that failed and why.
"use strict";

const dateInput = document.getElementById("service_date");
dateInput.value = new Date().toLocaleDateString("sv");  // YYYY-MM-DD in local time

async function showRoutes() {
  const [routes, areas] = await Promise.all([td.list(`/routes?date=${dateInput.value}`), td.list("/service-areas")]);
  td.fill("routes", routes.length ? routes.map((r) => td.el("li", {},
    td.el("strong", { text: `${r.id}` }), ` driver ${r.driver_id}, ${r.stops.length} stops — `,
    td.el("span", { class: "status", text: r.status }), " ",
    r.status === "planned" ? td.el("button", { type: "button", class: "secondary", onclick: () => start(r.id) }, `Start ${r.id}`) : null,
  )) : td.el("li", { class: "muted", text: "No route on this day." }));
  const depots = areas.filter((a) => a.depot_latitude !== null && a.depot_latitude !== undefined)
    .map((a) => ({ lat: a.depot_latitude, lon: a.depot_longitude, label: `depot ${a.name}`, kind: "depot" }));
  const stops = routes.flatMap((r) => r.stops.map((s) => ({ lat: s.latitude, lon: s.longitude, label: `${s.seq}. ${s.label}` })));
  // Each van's day from its depot through its stops, in order.
  const depot = depots.length ? [[depots[0].lat, depots[0].lon]] : [];
  const lines = routes.map((r) => depot.concat(r.stops.map((s) => [s.latitude, s.longitude])));
  td.map("routes-map", depots.concat(stops), lines.filter((l) => l.length > 1));
}

async function start(routeId) {
  await td.api("POST", `/routes/${routeId}/start`);
  await showRoutes();
}

async function showHandsets() {
  const devices = await td.list("/devices");
  const known = new Set(devices.map((d) => d.driver_id));
  const field = document.getElementById("driver_ids");
  if (!field.value) field.value = [...known].join(", ");
  const waiting = devices.filter((d) => !d.approved_at && !d.revoked_at);
  td.fill("handsets", waiting.length ? waiting.map((d) => td.el("li", {},
    `${d.label} of driver ${d.driver_id} (${d.id}) `,
    td.el("button", { type: "button", onclick: () => approve(d.id) }, `Approve ${d.id}`),
  )) : td.el("li", { class: "muted", text: "None waiting." }));
}

async function approve(deviceId) {
  await td.api("POST", `/devices/${deviceId}/approve`);
  await showHandsets();
}

async function showFailures() {
  const deliveries = await td.list("/deliveries");
  const failed = deliveries.flatMap((d) => d.attempts.filter((a) => a.failure_reason).map((a) => ({ d, a })));
  td.fill("failures", failed.length ? failed.map(({ d, a }) => td.el("li", {},
    td.el("strong", { text: d.parcel_ref }), ` ${td.time(a.ended_at)}: ${a.failure_reason}`, a.failure_detail ? ` — ${a.failure_detail}` : "",
  )) : td.el("li", { class: "muted", text: "No failed attempt." }));
}

td.form("plan", async (v) => {
  const plan = await td.api("POST", "/plans", {
    service_date: v.service_date, seconds: Number(v.seconds),
    driver_ids: v.driver_ids.split(",").map((x) => x.trim()).filter(Boolean),
  });
  td.fill("unplanned", plan.unplanned.map((u) => td.el("li", { class: "error", text: `${u.delivery_id} not planned: ${u.reason}` })));
  await showRoutes();
  const stops = plan.routes.reduce((n, r) => n + r.stops.length, 0);
  return `Planned ${stops} stops on ${plan.routes.length} routes; ${plan.unplanned.length} not planned.`;
});

const replanDate = document.getElementById("replan_date");
replanDate.value = dateInput.value;
td.form("replan", async (v) => {
  const routes = await td.api("POST", "/plans/replan", { service_date: v.service_date, seconds: Number(v.seconds) });
  dateInput.value = v.service_date;
  await showRoutes();
  const stops = routes.reduce((n, r) => n + r.stops.length, 0);
  return `Re-planned: ${stops} stops on ${routes.length} routes.`;
});

dateInput.addEventListener("change", showRoutes);
showRoutes(); showHandsets(); showFailures();
setInterval(showHandsets, 5000);
