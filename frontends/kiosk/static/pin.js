// The sign-in page's on-screen keypad types into the PIN field. The keys never leave
// the page: only the finished form is sent. Without a script the keypad stays hidden
// and the device's keyboard types the PIN.
document.addEventListener("DOMContentLoaded", function () {
  var pin = document.getElementById("pin");
  var keypad = document.querySelector(".pin-keypad");
  if (!pin || !keypad) {
    return;
  }
  keypad.hidden = false;
  keypad.addEventListener("click", function (event) {
    var key = event.target.closest("button[data-key]");
    if (!key) {
      return;
    }
    var value = key.getAttribute("data-key");
    if (value === "clear") {
      pin.value = "";
    } else if (value === "back") {
      pin.value = pin.value.slice(0, -1);
    } else if (pin.value.length < 12) {
      pin.value += value;
    }
  });
});
