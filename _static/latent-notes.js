/* latent-notes: small layout helpers for narrow screens (see latent-notes.css).

   Math that is wider than the column scrolls sideways in its own box, and the box shows it:
   the edge where more of the formula is hidden fades out (classes used by latent-notes.css).

   - A display equation already scrolls in its MathJax container (pydata-sphinx-theme makes
     it overflow: auto); the fade tells the reader that the cut is not the end of it.
   - An inline formula wider than its paragraph (MathJax 3 cannot break a line) becomes a
     block that scrolls the same way, instead of pushing the page wider than the screen.

   The math part runs after MathJax has typeset the page, and again when the window is
   resized or a box is scrolled. Without JavaScript display math still scrolls (without the
   fade) and long code names still wrap (anywhere, see the CSS). */
(function () {
  "use strict";

  var WIDE_INLINE = "ln-wide-inline";
  var MORE_LEFT = "ln-more-left";
  var MORE_RIGHT = "ln-more-right";

  function markEdges(box) {
    var hidden = box.scrollWidth - box.clientWidth;
    box.classList.toggle(MORE_LEFT, hidden > 1 && box.scrollLeft > 1);
    box.classList.toggle(MORE_RIGHT, hidden > 1 && box.scrollLeft < hidden - 1);
  }

  function boxes() {
    return document.querySelectorAll("article mjx-container.MathJax");
  }

  function layout() {
    var all = boxes();
    // inline formulas: measure their natural width against the line they sit in
    for (var i = 0; i < all.length; i++) {
      var box = all[i];
      if (box.getAttribute("display") === "true") continue;
      box.classList.remove(WIDE_INLINE);
      var math = box.querySelector("mjx-math");
      var parent = box.parentElement;
      if (!math || !parent) continue;
      var room = parent.clientWidth;
      var style = getComputedStyle(parent);
      room -= parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
      if (math.getBoundingClientRect().width > room + 1) box.classList.add(WIDE_INLINE);
    }
    for (var j = 0; j < all.length; j++) {
      if (all[j].getAttribute("display") === "true" || all[j].classList.contains(WIDE_INLINE)) {
        markEdges(all[j]);
      }
    }
  }

  function start() {
    layout();
    var all = boxes();
    for (var i = 0; i < all.length; i++) {
      all[i].addEventListener("scroll", function (event) { markEdges(event.currentTarget); },
                              {passive: true});
    }
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) cancelAnimationFrame(pending);
      pending = requestAnimationFrame(layout);
    });
  }

  /* Long names in inline code and API signatures: a line may break after a dot or an
     underscore (<wbr> adds no character to what is copied). */
  function offerBreaks() {
    var spans = document.querySelectorAll(
      "article code.literal span.pre, article code.xref span.pre, article dt.sig span.pre");
    for (var i = 0; i < spans.length; i++) {
      var span = spans[i];
      if (span.children.length || span.textContent.length < 16) continue;
      var parts = span.textContent.split(/(?<=[._])(?=[^._])/);
      if (parts.length < 2) continue;
      span.textContent = "";
      for (var j = 0; j < parts.length; j++) {
        if (j) span.appendChild(document.createElement("wbr"));
        span.appendChild(document.createTextNode(parts[j]));
      }
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", offerBreaks);
  else offerBreaks();

  window.addEventListener("load", function () {
    var ready = window.MathJax && MathJax.startup && MathJax.startup.promise;
    if (ready) ready.then(start);
  });
})();
