// botauthz challenge script, served at /.botauthz/challenge.js.
//
// On a proof-of-work page it finds a nonce such that
// hex(SHA-256(challenge + ":" + nonce)) starts with `difficulty` "0"
// characters, then posts the form with the browser's evidence (see
// evidence below) and the proof the page's per-challenge script derives
// (window.botauthzProof, served at /.botauthz/challenge/proof.js). SHA-256 is implemented here in plain
// JavaScript: crypto.subtle exists only in secure contexts (not on plain-http
// development set-ups) and is asynchronous, which would cost a promise per
// hash. The search runs in short chunks separated by setTimeout, so the page
// stays responsive and the progress bar moves; the status reads the
// progress out every few seconds, in the page's language (its messages
// are in the status element's data-* attributes).
//
// On a CAPTCHA page it submits the form once the widget reports success (the
// widget calls the global botauthzSolved named in data-callback); the
// Continue button does the same by hand.
//
// The file also runs under node without a DOM: the pure functions are
// exported through module.exports and the DOM part only runs when there is a
// document, so tests can check the hash against Go's crypto/sha256.
(function () {
  "use strict";

  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];

  // The message schedule, reused by every call: the script is single-threaded.
  var W = new Array(64);

  // utf8 encodes s as UTF-8 bytes; a lone surrogate becomes U+FFFD, as
  // TextEncoder (and Go's []byte(string) of such text) does.
  function utf8(s) {
    var out = [];
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c < 0x80) {
        out.push(c);
      } else if (c < 0x800) {
        out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length &&
          (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        var cp = 0x10000 + ((c & 0x3ff) << 10) + (s.charCodeAt(++i) & 0x3ff);
        out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
      } else {
        if (c >= 0xd800 && c < 0xe000) {
          c = 0xfffd;
        }
        out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      }
    }
    return out;
  }

  // sha256 returns the digest of an array of bytes as eight 32-bit words
  // (signed; use >>> 0 to read them unsigned).
  function sha256(bytes) {
    var n = bytes.length;
    // Message, 0x80, zero padding and the 64-bit bit length, in 16-word
    // blocks.
    var nwords = ((n + 9 + 63) >> 6) << 4;
    var m = new Array(nwords);
    var i, t;
    for (i = 0; i < nwords; i++) {
      m[i] = 0;
    }
    for (i = 0; i < n; i++) {
      m[i >> 2] |= bytes[i] << (24 - (i & 3) * 8);
    }
    m[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
    m[nwords - 2] = Math.floor(n / 0x20000000) | 0;
    m[nwords - 1] = (n * 8) | 0;

    var h0 = 0x6a09e667 | 0, h1 = 0xbb67ae85 | 0, h2 = 0x3c6ef372 | 0, h3 = 0xa54ff53a | 0;
    var h4 = 0x510e527f | 0, h5 = 0x9b05688c | 0, h6 = 0x1f83d9ab | 0, h7 = 0x5be0cd19 | 0;
    for (var off = 0; off < nwords; off += 16) {
      for (t = 0; t < 16; t++) {
        W[t] = m[off + t];
      }
      for (t = 16; t < 64; t++) {
        var x = W[t - 15], y = W[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (h + S1 + ch + K[t] + W[t]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) | 0;
        h = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
      h5 = (h5 + f) | 0;
      h6 = (h6 + g) | 0;
      h7 = (h7 + h) | 0;
    }
    return [h0, h1, h2, h3, h4, h5, h6, h7];
  }

  function toHex(words) {
    var s = "";
    for (var i = 0; i < words.length; i++) {
      s += ("0000000" + (words[i] >>> 0).toString(16)).slice(-8);
    }
    return s;
  }

  // sha256Hex returns the lower-case hex SHA-256 of the UTF-8 encoding of s.
  function sha256Hex(s) {
    return toHex(sha256(utf8(s)));
  }

  // leadingZeros reports whether the digest's hex form starts with
  // `difficulty` "0" characters, without building the hex string.
  function leadingZeros(words, difficulty) {
    for (var i = 0; i < words.length && difficulty > 0; i++, difficulty -= 8) {
      var w = words[i] >>> 0;
      if (difficulty < 8) {
        return (w >>> (32 - 4 * difficulty)) === 0;
      }
      if (w !== 0) {
        return false;
      }
    }
    return true;
  }

  // search tries the nonces start, start+1, … for count tries and returns
  // the first whose hash of prefix + nonce has `difficulty` leading zero
  // hex digits, or -1.
  function search(prefix, difficulty, start, count) {
    var head = utf8(prefix);
    for (var nonce = start; nonce < start + count; nonce++) {
      var bytes = head.slice();
      var digits = String(nonce);
      for (var i = 0; i < digits.length; i++) {
        bytes.push(digits.charCodeAt(i));
      }
      if (leadingZeros(sha256(bytes), difficulty)) {
        return nonce;
      }
    }
    return -1;
  }

  var api = { sha256Hex: sha256Hex, search: search };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = api;
  }
  if (typeof document === "undefined") {
    return;
  }

  // chunkMillis is how long one chunk of the search may hold the main
  // thread: short enough for the page to stay responsive.
  var chunkMillis = 50;
  var chunkTries = 500;

  function say(status, text) {
    if (status) {
      status.textContent = text;
      status.hidden = false;
    }
  }

  // message is the page's translation of one of the status messages, which
  // the page puts in the status element's data-* attributes, or fallback.
  function message(status, name, fallback) {
    var m = status && status.getAttribute("data-" + name);
    return m || fallback;
  }

  // sayEvery is how often, at most, the status reads out the progress: a
  // screen reader announces each change of a polite live region.
  var sayEvery = 2000;

  // automationName matches the names automation tools leave on window or
  // document: ChromeDriver's cdc_ and $cdc_, Selenium's, Playwright's,
  // Puppeteer's, PhantomJS's and Nightmare's.
  var automationName = /^(\$?cdc_|\$wdc_|__webdriver|__selenium|__driver|__fxdriver|_Selenium_IDE|__playwright|__pw_|__puppeteer|_phantom|callPhantom|domAutomation|__nightmare)/;

  function automationGlobals() {
    var found = [];
    [window, document].forEach(function (o) {
      var names = [];
      try {
        names = Object.getOwnPropertyNames(o);
      } catch (err) {
        return;
      }
      for (var i = 0; i < names.length && found.length < 8; i++) {
        if (automationName.test(names[i])) {
          found.push(names[i].slice(0, 64));
        }
      }
    });
    return found;
  }

  // renderer is WebGL's unmasked renderer, "" without WebGL (Chromium
  // without a GPU has none unless told to render it in software).
  function renderer() {
    var c = document.createElement("canvas");
    var gl = c.getContext("webgl") || c.getContext("experimental-webgl");
    if (!gl) {
      return "";
    }
    var info = gl.getExtension("WEBGL_debug_renderer_info");
    return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) || "");
  }

  function pointer() {
    if (!window.matchMedia) {
      return "";
    }
    if (matchMedia("(any-pointer: fine)").matches) {
      return "fine";
    }
    return matchMedia("(any-pointer: coarse)").matches ? "coarse" : "none";
  }

  // evidence is what the server checks besides the answer: exactly these
  // fields, nothing else (README "Challenges and clearance"). Each probe
  // that throws is left out rather than stopping the check.
  function evidence() {
    var e = { v: 1 };
    function probe(name, f) {
      try {
        e[name] = f();
      } catch (err) {
        // left out
      }
    }
    probe("proof", function () { return window.botauthzProof(); });
    probe("webdriver", function () { return navigator.webdriver === true; });
    probe("ua", function () { return String(navigator.userAgent).slice(0, 256); });
    probe("brands", function () {
      return navigator.userAgentData.brands.slice(0, 8).map(function (b) { return String(b.brand).slice(0, 64); });
    });
    probe("globals", automationGlobals);
    probe("gl", function () { return renderer().slice(0, 256); });
    probe("tz", function () { return String(Intl.DateTimeFormat().resolvedOptions().timeZone).slice(0, 64); });
    probe("screen", function () { return [screen.width | 0, screen.height | 0]; });
    probe("outer", function () { return [window.outerWidth | 0, window.outerHeight | 0]; });
    probe("inner", function () { return [window.innerWidth | 0, window.innerHeight | 0]; });
    probe("pointer", pointer);
    return JSON.stringify(e);
  }

  function solve(form) {
    var status = document.getElementById("botauthz-status");
    var bar = document.getElementById("botauthz-progress");
    var field = form.elements.namedItem("nonce");
    var challenge = form.getAttribute("data-challenge");
    var difficulty = parseInt(form.getAttribute("data-difficulty"), 10);
    if (!challenge || !field || !(difficulty >= 1 && difficulty <= 64)) {
      say(status, message(status, "error", "Something went wrong. Please reload the page."));
      if (status) {
        status.setAttribute("data-state", "error");
      }
      return;
    }
    var prefix = challenge + ":";
    // The expected number of tries; the bar shows the chance of having
    // found the answer by now, since the real count cannot be known.
    var expected = Math.pow(16, difficulty);
    var next = 0;
    if (bar) {
      bar.hidden = false;
    }
    say(status, message(status, "working", "Checking your browser…"));
    var progressText = message(status, "progress", "");
    var said = Date.now();

    function step() {
      var deadline = Date.now() + chunkMillis;
      var found = -1;
      do {
        found = search(prefix, difficulty, next, chunkTries);
        next += chunkTries;
      } while (found < 0 && Date.now() < deadline);
      if (found >= 0) {
        field.value = String(found);
        var ev = form.elements.namedItem("evidence");
        if (ev) {
          ev.value = evidence();
        }
        if (bar) {
          bar.value = 1;
        }
        say(status, message(status, "done", "Done. Taking you back…"));
        form.submit();
        return;
      }
      var share = 1 - Math.exp(-next / expected);
      if (bar) {
        bar.value = share;
      }
      if (progressText && Date.now() - said >= sayEvery) {
        said = Date.now();
        say(status, progressText.replace("{percent}", String(Math.floor(share * 100))));
      }
      setTimeout(step, 0);
    }
    setTimeout(step, 0);
  }

  // CaptchaLa renders nothing from markup: its loader defines Captchala,
  // whose instance reports a pass token that goes into the hidden field the
  // widget element names in data-token-field. This follows the vendor's
  // documented Captchala.init({appKey, serverToken, action}) and CMS widget;
  // it is not verified in a browser against the vendor (no network here).
  function captchala(form, el) {
    var field = form.elements.namedItem(el.getAttribute("data-token-field") || "");
    var tries = 0;
    function init() {
      var C = window.Captchala;
      if (!C || typeof C.init !== "function") {
        if (++tries < 50) {
          setTimeout(init, 200);
        }
        return;
      }
      // serverToken is the one-time token botauthz asked CaptchaLa for
      // when it rendered this page, bound to this visitor's address; the
      // widget starts only with it, for the same action.
      var opts = { appKey: el.getAttribute("data-sitekey") };
      var serverToken = el.getAttribute("data-server-token");
      if (serverToken) {
        opts.serverToken = serverToken;
        opts.action = el.getAttribute("data-action");
      }
      var instance = C.init(opts);
      if (instance && typeof instance.onSuccess === "function") {
        instance.onSuccess(function (res) {
          if (res && res.token && field) {
            field.value = res.token;
            form.submit();
          }
        });
      }
    }
    if (typeof window.loadCaptchala === "function") {
      try {
        window.loadCaptchala();
      } catch (err) {
        // Fall through: init polls for Captchala either way.
      }
    }
    init();
  }

  // The widgets call this global by the name in data-callback. It looks the
  // form up when called, so it works whichever script loads first.
  window.botauthzSolved = function () {
    var form = document.getElementById("botauthz-challenge");
    if (form) {
      form.submit();
    }
  };

  // inits start the widgets that render nothing from markup, keyed by the
  // name the page puts in the widget element's data-init (the provider
  // package's Page.Init).
  var inits = { captchala: captchala };

  function start() {
    var form = document.getElementById("botauthz-challenge");
    if (!form) {
      return;
    }
    if (form.getAttribute("data-provider") === "pow") {
      solve(form);
      return;
    }
    var el = document.getElementById("botauthz-widget");
    var init = el && el.getAttribute("data-init");
    if (init && Object.prototype.hasOwnProperty.call(inits, init)) {
      inits[init](form, el);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
