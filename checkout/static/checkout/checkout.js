// The hosted payment page's only script: receive the card token from the processor's card field (its iframe)
// and post it. Messages from anywhere but that iframe, at the processor's origin, are ignored.
(function () {
  "use strict";
  var frame = document.getElementById("card-frame");
  var form = document.getElementById("card-pay-form");
  if (!frame || !form) { return; }
  var origin = frame.getAttribute("data-origin");
  var tokenInput = form.querySelector("input[name=token]");
  var sent = false;

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow || !event.data) { return; }
    var data = event.data;
    if (data.type === "sandbox-elements:resize" && typeof data.height === "number") {
      frame.style.height = Math.min(Math.max(Math.ceil(data.height) + 4, 150), 900) + "px";
    } else if (data.type === "sandbox-elements:token" && /^tok_[A-Za-z0-9_]{1,250}$/.test(data.token) && !sent) {
      sent = true;
      tokenInput.value = data.token;
      form.submit();
    }
  });
}());
