// The page's side: settings in, curves drawn as epochs finish, the report and the self-test
// shown. All computing is the crate's, in pkg/ (built by scripts/web/build.sh).
import init, { train, compare, self_test } from "./pkg/wgsl_train_web.js";

const $ = (id) => document.getElementById(id);
const form = $("settings");
const status = (text) => { $("status").textContent = text; };
const defaults = { sgd: 0.01, adam: 0.003 }; // the diabetes example's rates

form.optimizer.addEventListener("change", () => { form.lr.value = defaults[form.optimizer.value]; });

function draw(points) {
  const canvas = $("curves");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (points.length === 0) return;
  const values = points.flatMap((p) => [p.train, p.validation].filter(Number.isFinite));
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const x = (e) => 40 + (canvas.width - 50) * (e - 1) / Math.max(points.length - 1, 1);
  const y = (v) => canvas.height - 20 - (canvas.height - 30) * (v - lo) / Math.max(hi - lo, 1e-12);
  g.fillStyle = "#555";
  g.fillText(hi.toPrecision(3), 2, 12);
  g.fillText(lo.toPrecision(3), 2, canvas.height - 22);
  g.fillText(`epoch ${points.length}`, canvas.width - 70, canvas.height - 5);
  for (const [key, width, color] of [["train", 1, "#1f77b4"], ["validation", 3, "#ff7f0e"]]) {
    g.beginPath();
    g.lineWidth = width;
    g.strokeStyle = color;
    points.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, x(p.epoch), y(p[key])));
    g.stroke();
  }
}

// The six configurations' colours (the order of Experiment::classic_six).
const COLOURS = ["#1f77b4", "#6baed6", "#17becf", "#d62728", "#ff7f0e", "#e7ba52"];

// Nice round tick values covering [lo, hi], about `count` of them.
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const step = [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

// Every configuration's folds' mean validation curve, on axes with ticks and labels, with a legend.
function drawComparison(curves, names, epochs) {
  const canvas = $("grid-curves");
  const g = canvas.getContext("2d");
  const [left, right, top, bottom] = [60, 150, 10, 40];
  g.clearRect(0, 0, canvas.width, canvas.height);
  const values = curves.flatMap((c) => c.map((e) => e[1]).filter(Number.isFinite));
  if (values.length === 0) return;
  epochs = Math.max(2, Math.min(epochs, Math.max(...curves.map((c) => c.length))));
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const [w, h] = [canvas.width - left - right, canvas.height - top - bottom];
  const x = (e) => left + w * (e - 1) / Math.max(epochs - 1, 1);
  const y = (v) => top + h - h * (v - lo) / Math.max(hi - lo, 1e-12);
  g.strokeStyle = "#999"; g.fillStyle = "#333"; g.lineWidth = 1; g.font = "11px sans-serif";
  g.strokeRect(left, top, w, h);
  g.textAlign = "center";
  for (const t of ticks(1, epochs, 6)) {
    g.beginPath(); g.moveTo(x(t), top + h); g.lineTo(x(t), top + h + 4); g.stroke();
    g.fillText(String(t), x(t), top + h + 15);
  }
  g.fillText("epoch", left + w / 2, canvas.height - 5);
  g.textAlign = "right";
  for (const t of ticks(lo, hi, 5)) {
    g.beginPath(); g.moveTo(left - 4, y(t)); g.lineTo(left, y(t)); g.stroke();
    g.fillText(t.toPrecision(3), left - 6, y(t) + 4);
  }
  g.save();
  g.translate(12, top + h / 2); g.rotate(-Math.PI / 2); g.textAlign = "center";
  g.fillText("validation loss (standardised MSE)", 0, 0);
  g.restore();
  curves.forEach((curve, c) => {
    g.beginPath(); g.lineWidth = 2; g.strokeStyle = COLOURS[c];
    curve.forEach((e, i) => (i ? g.lineTo : g.moveTo).call(g, x(i + 1), y(e[1])));
    g.stroke();
    const ly = top + 14 + 18 * c;
    g.fillStyle = COLOURS[c]; g.fillRect(left + w + 12, ly - 8, 14, 4);
    g.fillStyle = "#333"; g.textAlign = "left"; g.fillText(names[c], left + w + 32, ly - 3);
  });
}

function comparisonTable(result) {
  const pm = ([mean, std], digits) => `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;
  const order = result.candidates.map((c, i) => i).sort((a, b) => result.candidates[a].rank - result.candidates[b].rank);
  const rows = order.map((i) => {
    const c = result.candidates[i];
    return `<tr><td class="num">${c.rank}</td><td>${c.name}</td><td class="num">${pm(c.validation_mse, 1)}</td>` +
      `<td class="num">${pm(c.validation_r2, 3)}</td><td class="num">${c.diverged_folds}</td></tr>`;
  });
  return "<table><tr><th>rank</th><th>configuration</th><th>validation MSE (mean ± std over 5 folds)</th>" +
    `<th>validation R²</th><th>folds diverged</th></tr>${rows.join("")}</table>`;
}

async function run(what, job) {
  $("error").textContent = "";
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  try {
    await job();
  } catch (e) {
    $("error").textContent = `${what} failed: ${e.message ?? e}`;
    status("");
  } finally {
    for (const b of form.querySelectorAll("button")) b.disabled = false;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run("Training", async () => {
    const points = [];
    let pending = false;
    const started = performance.now();
    status("Training…");
    $("report").textContent = "";
    const json = await train(form.optimizer.value, Number(form.lr.value), Number(form.l1.value),
      Number(form.l2.value), form.activation.value, form.init.value, Number(form.dropout.value),
      Number(form.clip.value), Number(form.epochs.value),
      (epoch, trainLoss, validationLoss) => {
        points.push({ epoch, train: trainLoss, validation: validationLoss });
        if (!pending) { // one drawing per frame, however fast the epochs come
          pending = true;
          requestAnimationFrame(() => { pending = false; draw(points); });
        }
      });
    const result = JSON.parse(json);
    window.lastResult = result; // for scripts/web/browser.py
    draw(points);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    status(`${result.history.epochs.length} epochs in ${seconds} s on ${result.adapter}; ` +
      `${result.rows.join(" / ")} train / validation / test rows.`);
    $("report").textContent = `${result.report}\n${result.diagnosis}`;
  });
});

const SIX = ["SGD", "SGD + L1", "SGD + L2", "Adam", "Adam + L1", "Adam + L2"];

$("compare").addEventListener("click", () => run("The comparison", async () => {
  const started = performance.now();
  let latest = null, pending = false, epochs = 1;
  status("Training the six configurations on 5 folds each: 30 models as one grid…");
  $("comparison").innerHTML = "";
  const json = await compare((done, curves) => {
    latest = JSON.parse(curves);
    epochs = done;
    status(`Training 30 models as one grid: epoch ${done}…`);
    if (!pending) { // one drawing per frame, however fast the submissions come
      pending = true;
      requestAnimationFrame(() => { pending = false; drawComparison(latest, SIX, epochs); });
    }
  });
  const result = JSON.parse(json);
  window.lastComparison = result; // for scripts/web/browser.py
  if (latest) drawComparison(latest, SIX, epochs);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  status(`30 models (6 configurations × 5 folds) in ${seconds} s on ${result.adapter}.`);
  const best = result.candidates[result.best];
  const test = result.test;
  $("comparison").innerHTML = comparisonTable(result) +
    `<p>Chosen by cross-validation: <b>${best.name}</b>, refit on all the development rows for ` +
    `${result.refit_epochs} epochs: test MSE ${test.model.mse.toFixed(1)} (baseline ` +
    `${test.baseline.mse.toFixed(1)}), R² ${test.model.r2.toFixed(3)}.</p><p>${result.diagnosis}</p>`;
}));

$("selftest").addEventListener("click", () => run("The self-test", async () => {
  status("Running every kernel against the CPU reference…");
  const result = JSON.parse(await self_test(7));
  const failed = result.checks.filter((c) => !c.passed).length;
  status(`${result.checks.length - failed} of ${result.checks.length} checks passed on ${result.adapter}.`);
  const rows = result.checks.map((c) => `<tr><td>${c.name}</td>` +
    `<td class="num">${c.max_error.toExponential(3)}</td><td class="num">${c.tolerance}</td>` +
    `<td class="${c.passed ? "" : "fail"}">${c.passed ? "pass" : "FAIL"}</td></tr>`);
  // Each check's worst error is divided by its bound at that element: it passes at ≤ 1.
  $("checks").innerHTML = "<table><tr><th>check</th><th>worst |error| ÷ its bound</th>" +
    `<th>passes at ≤</th><th>result</th></tr>${rows.join("")}</table>`;
}));

await init();
status(navigator.gpu ? "Ready." : "This browser has no WebGPU (navigator.gpu is missing); training will fail.");
