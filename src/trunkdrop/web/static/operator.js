// The operator's page: incidents to acknowledge and resolve, deliveries under way, the
// audit chain's check, and the day's figures counted from the deliveries.
"use strict";

async function showIncidents() {
  const incidents = (await td.list("/incidents")).filter((i) => i.status !== "resolved");
  td.fill("incidents", incidents.length ? incidents.map((i) => {
    const note = td.el("input", { id: `note-${i.id}`, maxlength: "200", required: true });
    return td.el("li", {},
      td.el("strong", { text: i.kind }), ` (${i.severity}) ${i.detail} — opened ${td.time(i.opened_at)}`,
      i.acknowledged_at ? td.el("span", { class: "muted", text: ` — acknowledged by ${i.acknowledged_by}` }) : null,
      i.acknowledged_at ? null : td.el("button", { type: "button", class: "secondary", onclick: () => acknowledge(i.id) }, `Acknowledge ${i.kind}`),
      td.el("form", { onsubmit: (e) => { e.preventDefault(); resolve(i.id, note.value); } },
        td.el("label", { for: `note-${i.id}`, text: "What was done" }), note,
        td.el("button", { type: "submit" }, `Resolve ${i.kind}`)));
  }) : td.el("li", { class: "muted", text: "No open incident." }));
}

async function acknowledge(id) {
  await td.api("POST", `/incidents/${id}/acknowledge`);
  await showIncidents();
}

async function resolve(id, note) {
  await td.api("POST", `/incidents/${id}/resolve`, { note });
  await showIncidents();
}

async function showDeliveries() {
  const deliveries = await td.list("/deliveries");
  const today = new Date().toLocaleDateString("sv");
  const live = deliveries.filter((d) => !d.ended_at);
  td.fill("live", live.length ? live.map((d) => td.el("li", {},
    td.el("strong", { text: d.parcel_ref }), ` ${d.service_date} — `, td.el("span", { class: "status", text: d.status }),
  )) : td.el("li", { class: "muted", text: "Nothing under way." }));
  const day = deliveries.filter((d) => d.service_date === today);
  const delivered = day.filter((d) => d.status === "delivered");
  const first = delivered.filter((d) => d.attempts.length === 1).length;
  const figures = [
    ["Deliveries today", day.length], ["Delivered", delivered.length],
    ["Delivered at the first attempt", delivered.length ? `${Math.round((100 * first) / delivered.length)} %` : "—"],
    ["Failed attempts", day.reduce((n, d) => n + d.attempts.filter((a) => a.failure_reason).length, 0)],
  ];
  td.fill("kpis", figures.flatMap(([k, v]) => [td.el("dt", { text: k }), td.el("dd", { text: String(v) })]));
}

document.getElementById("verify").addEventListener("click", async () => {
  try {
    const report = await td.api("GET", "/audit/verify");
    td.say("audit-status", report.ok ? `Intact: ${report.entries} entries.` : `BROKEN: ${report.problems.join("; ")}`, report.ok ? "ok" : "error");
  } catch (error) { td.say("audit-status", error.message, "error"); }
});

document.getElementById("rotate").addEventListener("click", async () => {
  try {
    const key = await td.api("POST", "/keys/rotate");
    td.say("keys-status", `New signing key ${key.kid} is now current.`, "ok");
  } catch (error) { td.say("keys-status", error.message, "error"); }
});

showIncidents(); showDeliveries();
setInterval(() => { showIncidents(); showDeliveries(); }, 5000);
