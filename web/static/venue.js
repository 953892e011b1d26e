/*
 * The venue tablet: focus handling, camera scanning (jsQR) and the offline queue.
 *
 * Saves that cannot reach the server (offline, or the request fails on the
 * network) are kept in localStorage with their idempotency key and sent to
 * /api/v1/vaccinations when the connection returns: the key makes a resend
 * harmless, so a queued save is recorded exactly once.
 */
(function () {
  "use strict";

  var QUEUE_KEY = "vrs.venue.queue";
  var FAILED_KEY = "vrs.venue.failed";

  function $(id) { return document.getElementById(id); }

  function csrfToken() {
    var input = document.querySelector('input[name="_csrf_token"]');
    return input ? input.value : "";
  }

  function load(name) {
    try { return JSON.parse(localStorage.getItem(name) || "[]"); } catch (e) { return []; }
  }

  function store(name, items) { localStorage.setItem(name, JSON.stringify(items)); }

  function showQueue() {
    var items = load(QUEUE_KEY);
    var box = $("queue"), text = $("queue-text");
    if (!box || !text) { return; }
    box.hidden = items.length === 0;
    text.textContent = text.dataset.template.replace("__N__", String(items.length));
    box.dataset.count = String(items.length);
    var note = $("offline-note");
    if (note) { note.hidden = navigator.onLine; }
  }

  function formFields(form) {
    var fields = {};
    new FormData(form).forEach(function (value, name) {
      if (name !== "_csrf_token") { fields[name] = String(value); }
    });
    return fields;
  }

  function enqueue(form) {
    var fields = formFields(form);
    var items = load(QUEUE_KEY);
    if (!items.some(function (i) { return i.key === fields.idempotency_key; })) {
      items.push({ key: fields.idempotency_key, fields: fields, queuedAt: new Date().toISOString() });
      store(QUEUE_KEY, items);
    }
    $("panel").innerHTML = "";
    showQueue();
    resetScan();
  }

  var syncing = false;

  function sync() {
    if (syncing || !navigator.onLine) { return; }
    var items = load(QUEUE_KEY);
    if (items.length === 0) { return; }
    syncing = true;
    var item = items[0];
    fetch("/api/v1/vaccinations", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Idempotency-Key": item.key, "x-csrftoken": csrfToken() },
      // Judged at sync with the stated birth date it carries: a mismatch is kept unmatched
      // (要修正), never lost and never put on the ticket holder.
      body: JSON.stringify(Object.assign({}, item.fields, { queued: true }))
    }).then(function (response) {
      if (response.status >= 500) { throw new Error("server " + response.status); }
      return response.json().then(function (body) {
        // Not a verdict on the save: the tablet must sign in again or be registered again
        // (device revoked). Keep the save queued; it is sent once that is done.
        if (response.status === 401 || body.code === "device.required") { throw new Error(body.code); }
        var rest = load(QUEUE_KEY).filter(function (i) { return i.key !== item.key; });
        store(QUEUE_KEY, rest);
        if (!response.ok) {
          var failed = load(FAILED_KEY);
          failed.push({ key: item.key, fields: item.fields, detail: body.detail || String(response.status) });
          store(FAILED_KEY, failed);
          showFailed();
        }
      });
    }).then(function () {
      syncing = false;
      showQueue();
      if (load(QUEUE_KEY).length) { sync(); }
    }, function () {
      syncing = false;
      showQueue();
    });
  }

  function showFailed() {
    var failed = load(FAILED_KEY);
    var alerts = $("alerts");
    if (!alerts || failed.length === 0) { return; }
    alerts.innerHTML = "";
    failed.forEach(function (f) {
      var div = document.createElement("div");
      div.className = "alert alert-error";
      div.setAttribute("data-testid", "queued-rejected");
      div.textContent = f.fields.ticket + ": " + f.detail;
      alerts.appendChild(div);
    });
  }

  // One person = one scan, the stated birth date, one tap on 登録する. Every look-up, save or
  // error leaves focus where the next action goes, and a scan always replaces the ticket field.
  function resetScan() {
    var input = $("ticket-input"), birth = $("birth-input"), municipality = $("municipality-select");
    if (birth) { birth.value = ""; }
    if (municipality) { municipality.value = ""; }  // the municipality is chosen per person
    if (input) { input.value = ""; input.focus(); }
  }

  function focusTicket() {
    var input = $("ticket-input");
    if (input) { input.focus(); input.select(); }
  }

  function focusBirth() {
    var birth = $("birth-input");
    if (birth) { birth.focus(); birth.select(); }
  }

  function submitScan() {
    var form = $("scan-form");
    if (form) { htmx.trigger(form, "submit"); }
  }

  function isTyping(element) {
    return element && (element.tagName === "INPUT" || element.tagName === "SELECT" || element.tagName === "TEXTAREA");
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && target.id === "ticket-input" && event.key === "Enter") {
      var birth = $("birth-input");
      if (birth && !/^(\d{8}|[MTSHR1-5]\d{6}|\d{4}[-\/]\d{2}[-\/]\d{2})$/i.test(birth.value.trim())) {
        event.preventDefault();
        focusBirth();
      }
      return;
    }
    // A wedge scanner types into whatever has focus: a digit outside a field starts a new scan.
    if (!isTyping(target) && /^\d$/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var ticket = $("ticket-input");
      if (!ticket) { return; }
      event.preventDefault();
      $("panel").innerHTML = "";
      if ($("birth-input")) { $("birth-input").value = ""; }  // a new person states their own
      ticket.focus();  // (selects the old number) ...
      ticket.value = event.key;  // ... which the scan's first digit replaces
      ticket.setSelectionRange(1, 1);
    }
  });

  var keepTicket = false;  // a scan moved out of the birth field: do not select what it typed

  document.addEventListener("focusin", function (event) {
    if (event.target && event.target.id === "ticket-input" && !keepTicket) { event.target.select(); }
    keepTicket = false;
  });

  // 8 digits are a whole birth date: look up, unless more digits follow at once, which is a
  // scan typed into the birth field (the reader types wherever the focus is): move it over.
  var birthTimer = null;
  function birthTyped(birth) {
    clearTimeout(birthTimer);
    var value = birth.value.trim();
    if (/^\d{9,}$/.test(value)) {
      var ticket = $("ticket-input");
      birth.value = "";
      keepTicket = true;
      ticket.value = value;
      ticket.focus();
      ticket.setSelectionRange(value.length, value.length);
      return;
    }
    if (/^\d{8}$/.test(value)) { birthTimer = setTimeout(submitScan, 120); }
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target && target.id === "birth-input") { birthTyped(target); }
    if (target && target.id === "f-product") {
      var option = target.options[target.selectedIndex], volume = $("f-volume");
      if (option && option.dataset.volume && volume) { volume.value = option.dataset.volume; }
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "dose-form" && !navigator.onLine) {
      event.preventDefault();
      enqueue(form);
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "dose-form") { enqueue(form); }
  });

  // A server error (503 while the database restarts) is no verdict on the save either:
  // keep it queued like an offline one; the retry carries the same idempotency key.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt, xhr = event.detail.xhr;
    if (form && form.id === "dose-form" && xhr && xhr.status >= 500) { enqueue(form); }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = $("panel"), target = event.detail && event.detail.target;
    // The recent records reload after each save, maybe while the next person is typed: not ours.
    if (!panel || (target && (target.id === "recent" || (target.closest && target.closest("#recent"))))) { return; }
    if (panel.querySelector('[data-testid="saved"]')) { resetScan(); return; }
    var error = panel.querySelector('[data-testid="panel-error"]');
    if (error) {
      if (error.dataset.focus === "birth") { focusBirth(); } else { focusTicket(); }
      return;
    }
    var form = panel.querySelector("#dose-form");
    if (!form) { return; }
    var wrong = form.querySelector(".has-error input, .has-error select") || form.querySelector("#f-override");
    var next = wrong || form.querySelector('[data-testid="save"]');
    if (next) { next.focus({ preventScroll: true }); }
    var save = form.querySelector('[data-testid="save"]');
    if (save && save.scrollIntoView) { save.scrollIntoView({ block: "nearest" }); }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    // A new scan replaces the whole panel: clear it at once so the previous
    // person can never be seen while the next one loads.
    if (event.detail.elt && event.detail.elt.id === "scan-form") { $("panel").innerHTML = ""; }
  });

  // --- camera ---------------------------------------------------------------
  var stream = null, scanning = false;

  function stopCamera() {
    scanning = false;
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    var video = $("camera"), button = $("camera-toggle");
    if (video) { video.hidden = true; }
    if (button) { button.textContent = button.dataset.start; }
  }

  function startCamera() {
    var video = $("camera"), button = $("camera-toggle");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof jsQR !== "function") {
      alertMessage(button.dataset.unavailable);
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      button.textContent = button.dataset.stop;
      scanning = true;
      return video.play();
    }).then(function () { requestAnimationFrame(scanFrame); }, function () {
      stopCamera();
      alertMessage(button.dataset.unavailable);
    });
  }

  var canvas = document.createElement("canvas");

  function scanFrame() {
    if (!scanning) { return; }
    var video = $("camera");
    if (video.readyState >= 2 && video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      var context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var code = jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      var digits = code && code.data ? code.data.replace(/\D/g, "") : "";
      if (digits.length === 18 || digits.length === 10) {
        stopCamera();
        $("ticket-input").value = digits;
        focusBirth();
        return;
      }
    }
    setTimeout(function () { requestAnimationFrame(scanFrame); }, 150);
  }

  function alertMessage(text) {
    var alerts = $("alerts");
    if (alerts) {
      alerts.innerHTML = "";
      var div = document.createElement("div");
      div.className = "alert alert-error";
      div.textContent = text;
      alerts.appendChild(div);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = $("camera-toggle");
    if (button) {
      button.addEventListener("click", function () { if (scanning) { stopCamera(); } else { startCamera(); } });
    }
    showQueue();
    showFailed();
    sync();
  });
  window.addEventListener("online", function () { showQueue(); sync(); });
  window.addEventListener("offline", showQueue);
  setInterval(sync, 5000);
})();
