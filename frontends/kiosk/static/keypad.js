// The weigh screen's on-screen keypad types a number into the field last touched (the
// weight, or a side of a large envelope or parcel). Only the finished form is sent.
// Without a script the keypad stays hidden and the device's keyboard types.
document.addEventListener("DOMContentLoaded", function () {
  var keypads = document.querySelectorAll(".number-keypad");
  keypads.forEach(function (keypad) {
    var form = keypad.closest("form");
    var fields = form ? form.querySelectorAll("input[data-keypad]") : [];
    if (!fields.length) {
      return;
    }
    var target = fields[0];
    fields.forEach(function (field) {
      field.addEventListener("focus", function () {
        target = field;
      });
    });
    keypad.hidden = false;
    keypad.addEventListener("click", function (event) {
      var key = event.target.closest("button[data-key]");
      if (!key) {
        return;
      }
      var value = key.getAttribute("data-key");
      if (value === "clear") {
        target.value = "";
      } else if (value === "back") {
        target.value = target.value.slice(0, -1);
      } else if (value === "next") {
        var index = Array.prototype.indexOf.call(fields, target);
        target = fields[(index + 1) % fields.length];
      } else if (target.value.length < Number(target.getAttribute("maxlength") || 12)) {
        target.value += value;
      }
      target.focus();
    });
  });
});
