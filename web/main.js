// The page's side: settings in, curves drawn as epochs finish, the report and the self-test
// shown. All computing is the crate's, in pkg/ (built by scripts/web/build.sh).
import init, { train, self_test } from "./pkg/wgsl_train_web.js";

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
      Number(form.l2.value), Number(form.epochs.value), (epoch, trainLoss, validationLoss) => {
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

$("selftest").addEventListener("click", () => run("The self-test", async () => {
  status("Running every kernel against the CPU reference…");
  const result = JSON.parse(await self_test(7));
  const failed = result.checks.filter((c) => !c.passed).length;
  status(`${result.checks.length - failed} of ${result.checks.length} checks passed on ${result.adapter}.`);
  const rows = result.checks.map((c) => `<tr><td>${c.name}</td>` +
    `<td class="num">${c.max_error.toExponential(3)}</td><td class="num">${c.tolerance}</td>` +
    `<td class="${c.passed ? "" : "fail"}">${c.passed ? "pass" : "FAIL"}</td></tr>`);
  $("checks").innerHTML = "<table><tr><th>check</th><th>max error</th><th>tolerance</th>" +
    `<th>result</th></tr>${rows.join("")}</table>`;
}));

await init();
status(navigator.gpu ? "Ready." : "This browser has no WebGPU (navigator.gpu is missing); training will fail.");
