// The kiosk's "Print" button: shown only when a script can run, it opens the browser's
// print dialog (the print stylesheet keeps the indicium alone on the page). Without a
// script the page links to the image, which prints just as well.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("print-button");
  if (!button) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    window.print();
  });
});
