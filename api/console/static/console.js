// The console's only script: the Live page's server-sent events, the event page's canvas,
// and the known-plates CSV file picker. No framework, no build step.
"use strict";

function el(tag, cls, text) {
  var node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function when(ts) {
  var d = new Date(Number(ts) * 1000);
  if (!ts || isNaN(d.getTime())) return "";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

function labelBadge(label, note) {
  if (!label) return el("span", "label unknown", "unknown");
  var badge = el("span", "label " + label, label + (note ? ": " + note : ""));
  badge.title = note || "";
  return badge;
}

// the same markup as api/console/layout.py event_card
function eventCard(ev) {
  var card = el("article", "event fresh");
  card.dataset.id = ev.id || "";
  card.dataset.plate = ev.plate || "";
  if (ev.crop) {
    var img = el("img", "crop");
    img.src = ev.crop;
    img.alt = "plate " + (ev.plate || "");
    card.appendChild(img);
  } else {
    card.appendChild(el("span", "crop none", "no crop"));
  }
  var facts = el("div", "facts");
  var link = el("a", "plate", ev.plate);
  link.href = ev.href || "#";
  facts.appendChild(link);
  facts.appendChild(document.createTextNode(" "));
  facts.appendChild(labelBadge(ev.label, ev.note));
  facts.appendChild(el("span", "camera", ev.camera));
  facts.appendChild(el("span", "time", when(ev.first_seen)));
  facts.appendChild(el("span", "conf", Math.round(100 * Number(ev.confidence || 0)) + "%"));
  card.appendChild(facts);
  return card;
}

function alertBanner(al) {
  var box = el("div", "alert");
  box.setAttribute("role", "alert");
  box.dataset.rule = al.rule || "";
  box.appendChild(el("strong", "", al.plate));
  box.appendChild(document.createTextNode(" " + (al.message || "") + " "));
  box.appendChild(el("span", "camera", al.camera));
  box.appendChild(document.createTextNode(" "));
  box.appendChild(el("span", "time", when(al.at)));
  if (al.event_id) {
    var link = el("a", "", "event");
    link.href = "/event/" + encodeURIComponent(al.event_id);
    box.appendChild(document.createTextNode(" "));
    box.appendChild(link);
  }
  return box;
}

function prepend(list, node, keep) {
  var empty = list.querySelector(".empty");
  if (empty) empty.remove();
  list.insertBefore(node, list.firstChild);
  while (list.children.length > keep) list.removeChild(list.lastChild);
}

function startLive() {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var events = document.getElementById("events");
  var reads = document.getElementById("reads");
  var alerts = document.getElementById("alerts");
  var state = document.getElementById("state");
  var url = "/stream?events=" + encodeURIComponent(live.dataset.eventsAfter || "") +
    "&alerts=" + encodeURIComponent(live.dataset.alertsAfter || "");
  var source = new EventSource(url);
  function setState(text, bad) {
    state.textContent = text;
    state.className = "state" + (bad ? " bad" : "");
  }
  source.onopen = function () { setState("live", false); };
  source.onerror = function () { setState("disconnected: reconnecting...", true); };
  source.addEventListener("event", function (msg) {
    var ev = JSON.parse(msg.data);
    if (events.querySelector('[data-id="' + CSS.escape(ev.id || "") + '"]')) return;
    prepend(events, eventCard(ev), 50);
  });
  source.addEventListener("alert", function (msg) {
    prepend(alerts, alertBanner(JSON.parse(msg.data)), 3);
  });
  source.addEventListener("read", function (msg) {
    var rec = JSON.parse(msg.data);
    rec.reads.forEach(function (r) {
      var item = el("li", "read");
      if (r.crop) {
        var img = el("img", "read-crop");
        img.alt = "";
        img.onerror = function () { img.remove(); };  // expired with the frame
        img.src = r.crop;
        item.appendChild(img);
      }
      item.appendChild(el("span", "plate", r.text));
      item.appendChild(el("span", "camera", rec.camera));
      item.appendChild(el("span", "conf", Math.round(100 * Number(r.confidence || 0)) + "%"));
      item.appendChild(el("span", "time", when(rec.ts).slice(11)));  // the time of day
      prepend(reads, item, 30);
    });
  });
  source.addEventListener("state", function (msg) {
    var st = JSON.parse(msg.data);
    if (st.redis === "down") setState("Redis unreachable: waiting for it", true);
    else setState("live", false);
  });
}

// the event page: the best frame on a canvas with the plate box drawn over it
function drawFrame() {
  var canvas = document.getElementById("frame");
  if (!canvas) return;
  var box = JSON.parse(canvas.dataset.box || "null");
  var img = new Image();
  img.onload = function () {
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    var ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    if (box && box.length === 4) {
      ctx.lineWidth = Math.max(2, Math.round(img.naturalWidth / 200));
      ctx.strokeStyle = "#ff2d55";
      ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    }
    canvas.dataset.drawn = box ? "box" : "frame";
  };
  img.src = canvas.dataset.src;
}

// known plates: a chosen CSV file goes into the import form's textarea
function csvPicker() {
  var file = document.getElementById("csv-file");
  var text = document.getElementById("csv-text");
  if (!file || !text) return;
  file.addEventListener("change", function () {
    if (!file.files.length) return;
    var reader = new FileReader();
    reader.onload = function () { text.value = reader.result; };
    reader.readAsText(file.files[0]);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  startLive();
  drawFrame();
  csvPicker();
});
