/* latent-notes: interactive figures drawn from data the chapter computed when the book was built.

   Each figure is a <div class="ln-interactive"> holding a <script type="application/json"
   class="ln-data"> (written by latent_notes.interactive.InteractiveFigure) and a static PNG.
   This script replaces the PNG by panels drawn in SVG and one control that picks the state:
   - "slider": a range input with previous/next buttons (arrow keys move it);
   - "grid": cells laid over a panel; tap one, or focus the panel and use the arrow keys.
   A layer with a "states" list takes, in state s, the fields of states[s] in place of its own.
   Nothing is computed here beyond drawing. After each change the figure's root carries
   data-state="s", and every layer's <g> its name in data-layer (the browser test counts marks). */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var MARGIN = {left: 56, right: 12, top: 26, bottom: 42};
  var FONT = 13;

  function svg(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs) if (attrs[key] !== undefined && attrs[key] !== null) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function html(name, attrs, parent, text) {
    var node = document.createElement(name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function merged(layer, state) {
    var out = {};
    for (var key in layer) if (key !== "states") out[key] = layer[key];
    if (layer.states) {
      var over = layer.states[state];
      for (var k in over) out[k] = over[k];
    }
    return out;
  }
  function colourAt(color, i) { return Array.isArray(color) ? color[i] : color; }

  /* about five round tick values covering [lo, hi] */
  function ticks(lo, hi) {
    var a = Math.min(lo, hi), b = Math.max(lo, hi);
    var raw = (b - a) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * mag; })
      .filter(function (s) { return s >= raw; })[0];
    var out = [];
    for (var v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) out.push(+v.toPrecision(10));
    return out;
  }
  function tickText(v) {
    return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(0) : String(+v.toPrecision(4));
  }

  function Scale(pan) {
    var w = pan.width, h = pan.height;
    var x0 = pan.xlim[0], x1 = pan.xlim[1], y0 = pan.ylim[0], y1 = pan.ylim[1];
    var left = MARGIN.left, right = w - MARGIN.right, top = MARGIN.top, bottom = h - MARGIN.bottom;
    if (!pan.axes) { left = 6; right = w - 6; bottom = h - 6; }
    this.box = {left: left, right: right, top: top, bottom: bottom};
    this.x = function (x) { return left + (x - x0) / (x1 - x0) * (right - left); };
    this.y = function (y) { return bottom - (y - y0) / (y1 - y0) * (bottom - top); };
    this.dx = function (d) { return Math.abs(d / (x1 - x0) * (right - left)); };
    this.dy = function (d) { return Math.abs(d / (y1 - y0) * (bottom - top)); };
  }

  var pictureCache = typeof WeakMap === "function" ? new WeakMap() : null;
  function pictureURL(lay, source) {
    if (pictureCache && pictureCache.has(source)) return pictureCache.get(source);
    var bytes = atob(lay.rgb), n = lay.rows * lay.cols;
    var canvas = document.createElement("canvas");
    canvas.width = lay.cols; canvas.height = lay.rows;
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(lay.cols, lay.rows);
    for (var i = 0; i < n; i++) {
      img.data[4 * i] = bytes.charCodeAt(3 * i);
      img.data[4 * i + 1] = bytes.charCodeAt(3 * i + 1);
      img.data[4 * i + 2] = bytes.charCodeAt(3 * i + 2);
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    var url = canvas.toDataURL();
    if (pictureCache) pictureCache.set(source, url);
    return url;
  }

  var DRAW = {
    points: function (g, lay, s) {
      for (var i = 0; i < lay.x.length; i++) {
        svg("circle", {cx: s.x(lay.x[i]).toFixed(1), cy: s.y(lay.y[i]).toFixed(1), r: lay.size,
                       fill: colourAt(lay.color, i), "fill-opacity": 0.8}, g);
      }
    },
    ellipses: function (g, lay, s) {
      for (var i = 0; i < lay.cx.length; i++) {
        svg("ellipse", {cx: s.x(lay.cx[i]), cy: s.y(lay.cy[i]), rx: s.dx(lay.rx[i]), ry: s.dy(lay.ry[i]),
                        fill: "none", stroke: colourAt(lay.color, i), "stroke-width": 2}, g);
        var cx = s.x(lay.cx[i]), cy = s.y(lay.cy[i]);
        svg("path", {d: "M" + (cx - 4) + "," + (cy - 4) + "l8,8m0,-8l-8,8", stroke: "#000",
                     "stroke-width": 2}, g);
      }
    },
    line: function (g, lay, s) {
      var d = lay.x.map(function (x, i) { return (i ? "L" : "M") + s.x(x).toFixed(1) + "," + s.y(lay.y[i]).toFixed(1); });
      svg("path", {d: d.join(""), fill: "none", stroke: lay.color, "stroke-width": lay.width,
                   "stroke-dasharray": lay.dash ? "6,4" : null}, g);
    },
    vline: function (g, lay, s) {
      svg("line", {x1: s.x(lay.x), x2: s.x(lay.x), y1: s.box.top, y2: s.box.bottom, stroke: lay.color,
                   "stroke-width": 1.5, "stroke-dasharray": "3,3"}, g);
    },
    image: function (g, lay, s, source) {
      var e = lay.extent;
      var node = svg("image", {x: s.x(e[0]), y: s.y(e[3]), width: s.dx(e[1] - e[0]), height: s.dy(e[3] - e[2]),
                               preserveAspectRatio: "none", "class": "ln-pixelated"}, g);
      node.setAttribute("href", pictureURL(lay, source));
    },
    cells: function (g, lay, s) {
      var e = lay.extent, w = (e[1] - e[0]) / lay.cols, h = (e[3] - e[2]) / lay.rows;
      lay.on.forEach(function (i) {
        var r = Math.floor(i / lay.cols), c = i % lay.cols;
        svg("rect", {x: s.x(e[0] + c * w), y: s.y(e[3] - r * h), width: s.dx(w), height: s.dy(h),
                     fill: lay.color, "fill-opacity": lay.stroke ? 1 : 0.8, stroke: lay.stroke || null,
                     "stroke-width": lay.stroke ? 0.8 : null}, g);
      });
    },
    bars: function (g, lay, s) {
      /* row i: its label on top, the bar under it */
      lay.values.forEach(function (v, i) {
        var y = s.y(i - 0.02), y2 = s.y(i + 0.4);
        svg("rect", {x: s.x(0), y: Math.min(y, y2), width: Math.max(0, s.x(v) - s.x(0)), height: Math.abs(y2 - y),
                     fill: colourAt(lay.color, i)}, g);
        svg("text", {x: s.x(0) + 2, y: s.y(i - 0.1), "font-size": FONT}, g).textContent = lay.labels[i];
      });
    },
    text: function (g, lay, s) {
      svg("text", {x: s.x(lay.x), y: s.y(lay.y), "font-size": FONT}, g).textContent = lay.text;
    }
  };

  function drawAxes(root, pan, s) {
    var b = s.box;
    if (pan.title) svg("text", {x: b.left, y: 16, "font-size": FONT + 1, "font-weight": 600}, root).textContent = pan.title;
    if (!pan.axes) return;
    var g = svg("g", {"class": "ln-axes", "font-size": FONT - 1}, root);
    svg("path", {d: "M" + b.left + "," + b.top + "V" + b.bottom + "H" + b.right, fill: "none", stroke: "#555"}, g);
    ticks(pan.xlim[0], pan.xlim[1]).forEach(function (v) {
      var x = s.x(v);
      svg("line", {x1: x, x2: x, y1: b.bottom, y2: b.bottom + 4, stroke: "#555"}, g);
      svg("text", {x: x, y: b.bottom + 16, "text-anchor": "middle"}, g).textContent = tickText(v);
    });
    if (pan.yticks !== false) ticks(pan.ylim[0], pan.ylim[1]).forEach(function (v) {
      var y = s.y(v);
      svg("line", {x1: b.left - 4, x2: b.left, y1: y, y2: y, stroke: "#555"}, g);
      svg("text", {x: b.left - 6, y: y + 4, "text-anchor": "end"}, g).textContent = tickText(v);
    });
    if (pan.xlabel) svg("text", {x: (b.left + b.right) / 2, y: pan.height - 6, "text-anchor": "middle",
                                 "font-size": FONT}, g).textContent = pan.xlabel;
    if (pan.ylabel) svg("text", {x: 0, y: 0, "text-anchor": "middle", "font-size": FONT,
                                 transform: "translate(12," + (b.top + b.bottom) / 2 + ") rotate(-90)"}, g)
      .textContent = pan.ylabel;
  }

  function Figure(root) {
    var spec = JSON.parse(root.querySelector("script.ln-data").textContent);
    var self = this;
    this.root = root; this.spec = spec; this.control = spec.control;
    var stat = root.querySelector("img.ln-static");
    if (stat) stat.remove();
    var panels = html("div", {"class": "ln-panels"}, root);
    this.views = spec.panels.map(function (pan, p) {
      var box = html("div", {"class": "ln-panel"}, panels);
      box.style.flexBasis = Math.round(pan.width * 0.85) + "px";
      box.style.flexGrow = pan.width / 100;  /* panels in a row share one scale, so one text size */
      box.style.maxWidth = (pan.width * 1.35) + "px";
      var node = svg("svg", {viewBox: "0 0 " + pan.width + " " + pan.height, "class": "ln-svg",
                             role: "img", "aria-label": (pan.title || "panel " + (p + 1))}, box);
      var scale = new Scale(pan), b = scale.box;
      drawAxes(node, pan, scale);
      var clipId = "ln-clip-" + Math.random().toString(36).slice(2, 9);
      var clip = svg("clipPath", {id: clipId}, svg("defs", {}, node));
      svg("rect", {x: b.left, y: b.top, width: b.right - b.left, height: b.bottom - b.top}, clip);
      var data = svg("g", {"clip-path": "url(#" + clipId + ")"}, node);
      var groups = pan.layers.map(function (lay, i) {
        return svg("g", {"class": "ln-layer", "data-layer": lay.name || lay.type + "-" + p + "-" + i}, data);
      });
      return {pan: pan, svg: node, scale: scale, groups: groups};
    });
    var controls = html("div", {"class": "ln-controls"}, root);
    if (this.control.type === "slider") this.buildSlider(controls);
    else this.buildGrid(controls);
    if (spec.legend && spec.legend.length) {
      var legend = html("ul", {"class": "ln-legend"}, root);
      spec.legend.forEach(function (item) {
        var li = html("li", {}, legend);
        html("span", {"class": "ln-swatch", style: "background:" + item[1]}, li);
        li.appendChild(document.createTextNode(item[0]));
      });
    }
    this.readout = html("p", {"class": "ln-readout", "aria-live": "polite"}, root);
    root.classList.add("ln-ready");
    this.show(this.control.initial);
    root.lnFigure = self;
  }

  Figure.prototype.buildSlider = function (controls) {
    var self = this, c = this.control;
    var id = "ln-range-" + Math.random().toString(36).slice(2, 9);
    var label = html("label", {"for": id}, controls, c.label + ": ");
    this.valueText = html("output", {"for": id, "class": "ln-value"}, label);
    var prev = html("button", {type: "button", "class": "ln-step", "aria-label": "previous"}, controls, "\u25C0");
    var range = html("input", {type: "range", id: id, min: 0, max: c.n - 1, step: 1, value: c.initial,
                               "class": "ln-range"}, controls);
    var next = html("button", {type: "button", "class": "ln-step", "aria-label": "next"}, controls, "\u25B6");
    range.addEventListener("input", function () { self.show(+range.value); });
    prev.addEventListener("click", function () { self.show(Math.max(0, self.state - 1)); });
    next.addEventListener("click", function () { self.show(Math.min(c.n - 1, self.state + 1)); });
    this.range = range;
    this.input = range;
  };

  Figure.prototype.buildGrid = function (controls) {
    var self = this, c = this.control, view = this.views[c.panel], s = view.scale, e = c.extent;
    var w = (e[1] - e[0]) / c.cols, h = (e[3] - e[2]) / c.rows;
    var g = svg("g", {"class": "ln-picker"}, view.svg);
    this.cells = [];
    for (var i = 0; i < c.n; i++) {
      var r = Math.floor(i / c.cols), col = i % c.cols;
      var cell = svg("rect", {x: s.x(e[0] + col * w), y: s.y(e[3] - r * h), width: s.dx(w), height: s.dy(h),
                              "class": "ln-cell", "data-index": i}, g);
      cell.addEventListener("click", (function (k) { return function () { self.show(k); }; })(i));
      this.cells.push(cell);
    }
    view.svg.setAttribute("tabindex", "0");
    view.svg.setAttribute("role", "slider");
    view.svg.setAttribute("aria-valuemin", 0);
    view.svg.setAttribute("aria-valuemax", c.n - 1);
    view.svg.setAttribute("aria-label", c.label + " (arrow keys move, or tap a cell)");
    view.svg.classList.add("ln-focusable");
    view.svg.addEventListener("keydown", function (event) {
      var r = Math.floor(self.state / c.cols), col = self.state % c.cols;
      var moves = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
      if (moves[event.key]) {
        r = Math.min(c.rows - 1, Math.max(0, r + moves[event.key][0]));
        col = Math.min(c.cols - 1, Math.max(0, col + moves[event.key][1]));
      } else if (event.key === "Home") { r = 0; col = 0; }
      else if (event.key === "End") { r = c.rows - 1; col = c.cols - 1; }
      else return;
      event.preventDefault();
      self.show(r * c.cols + col);
    });
    html("span", {"class": "ln-hint"}, controls, c.label + ": ");
    this.valueText = html("output", {"class": "ln-value"}, controls);
    html("span", {"class": "ln-hint"}, controls, " (tap a cell, or focus the panel and use the arrow keys)");
    this.input = view.svg;
  };

  Figure.prototype.show = function (state) {
    var self = this, c = this.control;
    this.state = state;
    this.views.forEach(function (view) {
      view.pan.layers.forEach(function (raw, i) {
        var g = view.groups[i];
        if (g.childNodes.length && !raw.states) return;  // static layers are drawn once
        while (g.firstChild) g.removeChild(g.firstChild);
        DRAW[raw.type](g, merged(raw, state), view.scale, raw.states ? raw.states[state] : raw);
      });
    });
    if (this.range) this.range.value = state;
    if (this.cells) {
      this.cells.forEach(function (cell, i) { cell.classList.toggle("ln-selected", i === state); });
      this.input.setAttribute("aria-valuenow", state);
      this.input.setAttribute("aria-valuetext", c.values[state]);
    }
    this.valueText.textContent = c.values[state];
    this.readout.textContent = this.spec.readout ? this.spec.readout[state] : "";
    this.root.setAttribute("data-state", state);
  };

  function start() {
    var roots = document.querySelectorAll("div.ln-interactive");
    for (var i = 0; i < roots.length; i++) {
      if (roots[i].lnFigure) continue;
      try { new Figure(roots[i]); } catch (err) {
        roots[i].setAttribute("data-error", String(err));
        if (window.console) console.error("latent-notes interactive figure:", err);
      }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
