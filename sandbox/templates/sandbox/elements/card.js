// The sandbox's hosted card field. The card goes to POST /elements/tokens on this origin; the embedding page
// (and only it: postMessage's targetOrigin) receives the token, never the number.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  var origin = form.getAttribute("data-origin");
  var error = document.getElementById("card-error");
  var button = document.getElementById("pay-card");

  function post(message) {
    window.parent.postMessage(message, origin);
  }

  function size() {
    post({ type: "sandbox-elements:resize", height: document.documentElement.scrollHeight });
  }

  function fail(message) {
    error.textContent = message;
    button.disabled = false;
    size();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    var number = form.number.value.replace(/[\s-]/g, "");
    var expiry = form.expiry.value.replace(/\s/g, "").split("/");
    var month = parseInt(expiry[0], 10);
    var year = parseInt(expiry[1], 10);
    if (year < 100) { year += 2000; }
    if (!number) { form.number.focus(); return fail("Enter your card number."); }
    if (!month || !year) { form.expiry.focus(); return fail("Enter the expiry date as MM/YY."); }
    button.disabled = true;
    fetch("tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ number: number, exp_month: month, exp_year: year, cvc: form.cvc.value.trim() }),
      credentials: "omit",
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok) {
        return fail((result.body.error && result.body.error.message) || "The card could not be used.");
      }
      // The number leaves this page's memory: the field is cleared before the token is handed over.
      form.number.value = "";
      form.cvc.value = "";
      post({ type: "sandbox-elements:token", token: result.body.id, card: result.body.card });
    }).catch(function () {
      fail("The payment processor could not be reached. Try again.");
    });
  });

  window.addEventListener("message", function (event) {
    // The embedding page asks the field to be usable again (after a decline).
    if (event.origin === origin && event.source === window.parent && event.data &&
        event.data.type === "sandbox-elements:reset") {
      button.disabled = false;
    }
  });
  size();
}());
