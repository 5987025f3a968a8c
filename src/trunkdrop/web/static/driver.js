// The driver's page, phone first. The handset key is made here with WebCrypto (Ed25519),
// not extractable, and kept in IndexedDB: the private key never leaves this browser.
// Each access request is signed over the message docs/api.md describes.
"use strict";

const CONTEXT = "trunkdrop-device-proof-v1";
let me = null, handset = null, approved = false, stop = null, attemptId = null, stream = null;

function b64u(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function proofMessage(nonce, action, attempt) {
  const parts = [CONTEXT, nonce, action, attempt].map((p) => new TextEncoder().encode(p));
  const out = new Uint8Array(parts.reduce((n, p) => n + 2 + p.length, 0));
  let at = 0;
  for (const p of parts) { out[at] = p.length >> 8; out[at + 1] = p.length & 255; out.set(p, at + 2); at += 2 + p.length; }
  return out;
}

function store(mode, work) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("trunkdrop-handset", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("keys", mode);
      const request = work(tx.objectStore("keys"));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    };
  });
}

async function checkHandset() {
  handset = await store("readonly", (s) => s.get(`handset:${me.id}`));
  const button = document.getElementById("handset-setup");
  if (!handset) {
    td.say("handset-status", "This phone has no key yet: set it up once, then your carrier approves it.");
    button.hidden = false;
    return;
  }
  const devices = await td.list("/devices");
  const device = devices.find((d) => d.id === handset.deviceId);
  if (!device || device.revoked_at) {
    td.say("handset-status", "This phone's key was revoked: set it up again.", "error");
    button.hidden = false;
    return;
  }
  button.hidden = true;
  approved = Boolean(device.approved_at);
  if (approved) td.say("handset-status", `This phone (${device.id}) is approved: it can open trunks.`, "ok");
  else {
    td.say("handset-status", `This phone (${device.id}) is registered and awaiting your carrier's approval.`);
    setTimeout(checkHandset, 3000);
  }
  showNext();
}

async function setUpHandset() {
  // extractable: false — the private key can sign, but no script can read it out.
  const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const raw = await crypto.subtle.exportKey("raw", keys.publicKey);
  const device = await td.api("POST", "/devices", { public_key: b64u(raw), label: "phone (browser)" });
  await store("readwrite", (s) => s.put({ deviceId: device.id, privateKey: keys.privateKey }, `handset:${me.id}`));
  await checkHandset();
}

function position() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error("this browser cannot tell where you are")); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ latitude: p.coords.latitude, longitude: p.coords.longitude }),
      () => reject(new Error("allow this page to know where you are: the car opens only near you")),
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 5000 },
    );
  });
}

async function showRoute() {
  const stops = await td.list("/stops");
  td.fill("stops", stops.length ? stops.map((s) => td.el("li", {},
    td.el("strong", { text: s.label }), ` — ${s.address} `,
    td.el("span", { class: "status", text: s.status }), s.is_next ? " (next)" : "")) : td.el("li", { class: "muted", text: "No stops today." }));
  td.map("route-map", stops.map((s) => ({ lat: s.latitude, lon: s.longitude, label: `${s.seq}. ${s.label}` })),
    stops.length > 1 ? [stops.map((s) => [s.latitude, s.longitude])] : []);
}

async function showNext() {
  try {
    stop = await td.api("GET", "/stops/next");
  } catch (error) {
    stop = null;
    td.fill("next-stop", td.el("p", { class: "muted", text: error.code === "no_open_stop" ? "No stop left: the day is done." : error.message }));
    document.getElementById("at-car").hidden = true;
    return;
  }
  const car = stop.vehicle;
  let distance = "";
  try { const here = await position(); distance = `${td.metres([here.latitude, here.longitude], [stop.latitude, stop.longitude])} m away`; } catch (e) { distance = ""; }
  td.fill("next-stop", td.el("dl", {},
    td.el("dt", { text: "Car" }), td.el("dd", { text: car ? `${car.plate} — ${car.colour} ${car.make} ${car.model}` : "at the door (home delivery)" }),
    td.el("dt", { text: "Where" }), td.el("dd", { text: `${stop.label}, ${stop.address}${distance ? " — " + distance : ""}` }),
    car && car.at_place !== null ? [td.el("dt", { text: "The car" }), td.el("dd", { text: car.at_place ? "reports standing there" : "reports standing elsewhere" })] : null,
    stop.parking_notes ? [td.el("dt", { text: "Parking notes" }), td.el("dd", { text: stop.parking_notes })] : null,
    td.el("dt", { text: "Window" }), td.el("dd", { text: `${td.time(stop.window_start)}–${td.time(stop.window_end)}` }),
    td.el("dt", { text: "Parcel" }), td.el("dd", { text: stop.parcel_ref })));
  document.getElementById("at-car").hidden = !approved || Boolean(attemptId);
  if (stop.attempt_id && !attemptId) follow(stop.attempt_id);
}

function showAttempt(attempt) {
  const words = {
    started: "At the car.", access_requested: "Asking the car to open…", unlocking: "The car is opening the trunk…",
    trunk_open: "The trunk is open: put the parcel in and close the lid.", deposited: "Parcel in: waiting for the car to lock…",
    succeeded: "Delivered: the car reports the trunk closed and locked.", failed: `Not delivered (${attempt.failure_reason || "failed"}).`,
  };
  td.say("attempt-status", words[attempt.status] || attempt.status, attempt.status === "failed" ? "error" : attempt.status === "succeeded" ? "ok" : "");
  document.getElementById("deposit").hidden = attempt.status !== "trunk_open";
  document.getElementById("fail").hidden = Boolean(attempt.ended_at) || attempt.status === "deposited";
  document.getElementById("at-car").hidden = true;
}

// The attempt's event stream: every change as it happens, then `end`.
function follow(id) {
  attemptId = id;
  if (stream) stream.close();
  stream = new EventSource(`/v1/attempts/${id}/events`);
  stream.addEventListener("attempt", (e) => showAttempt(JSON.parse(e.data)));
  stream.addEventListener("end", () => {
    stream.close(); stream = null; attemptId = null;
    showRoute(); showNext();
  });
}

document.getElementById("handset-setup").addEventListener("click", () =>
  setUpHandset().catch((e) => td.say("handset-status", e.message, "error")));

td.form("at-car", async (v) => {
  const here = await position();
  const started = await td.api("POST", `/stops/${stop.id}/attempts`, {
    position: here, scanned_parcel_ref: v.parcel.trim(), device_id: handset.deviceId,
  });
  const challenge = started.challenge;
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, handset.privateKey,
    proofMessage(challenge.nonce, challenge.action, started.id));
  follow(started.id);
  try {
    await td.api("POST", `/attempts/${started.id}/access`, {
      position: here, device_id: handset.deviceId, nonce: challenge.nonce, signature: b64u(signature),
    });
  } catch (error) {
    td.say("attempt-status", `Refused: ${error.message}`, "error");
  }
});

document.getElementById("deposit").addEventListener("click", async () => {
  try { showAttempt(await td.api("POST", `/attempts/${attemptId}/deposit`)); }
  catch (error) { td.say("attempt-status", error.message, "error"); }
});

td.form("fail", async (v) => {
  const body = { reason: v.reason };
  if (v.detail) body.detail = v.detail;
  showAttempt(await td.api("POST", `/attempts/${attemptId}/fail`, body));
  return "Reported.";
});

(async () => {
  me = await td.api("GET", "/me");
  await checkHandset();
  await showRoute();
})().catch((e) => td.say("handset-status", e.message, "error"));
