// The kiosk screens: the PIN keypad and the idle timer (back to the start screen).
(function () {
  "use strict";
  function keypad() {
    var input = document.getElementById("pin");
    if (!input) return;
    var dots = document.querySelector("[data-testid=pin-dots]");
    function show() {
      dots.textContent = "●".repeat(input.value.length) + "-".repeat(4 - input.value.length);
    }
    document.querySelectorAll("[data-digit]").forEach(function (key) {
      key.addEventListener("click", function () {
        if (input.value.length < 4) input.value += key.dataset.digit;
        show();
      });
    });
    document.querySelector("[data-clear]").addEventListener("click", function () {
      input.value = "";
      show();
    });
  }
  function idleTimer() {
    var seconds = parseInt(document.body.dataset.idleSeconds || "0", 10);
    var screen = document.body.dataset.screen;
    if (!seconds || screen === "start" || screen === "unavailable") return;
    var timer;
    function arm() {
      clearTimeout(timer);
      timer = setTimeout(function () { document.getElementById("idle-form").submit(); }, seconds * 1000);
    }
    ["click", "touchstart", "keydown"].forEach(function (name) {
      document.addEventListener(name, arm, true);
    });
    arm();
  }
  document.addEventListener("DOMContentLoaded", function () { keypad(); idleTimer(); });
})();
